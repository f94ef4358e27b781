import { HvtError } from '@hvtjs/core';
import { initialVcpuState } from '@hvtjs/core/platform';
import { describe, expect, it } from 'vitest';
import {
  Cr,
  chooseOpenbsdRelease,
  decodeRegisters,
  encodeRegState,
  Gpr,
  ioc,
  Msr,
  OPENBSD_RELEASES,
  openbsdIoctl,
  openbsdIoctlTable,
  openbsdLayouts,
  openbsdRelease,
  openbsdVersion,
  type ReleaseAbi,
  SIOCGIFFLAGS,
  SIOCGIFMTU,
  segmentIndex,
  XCR0_X87,
} from '../src/abi.js';
import { describeOpenBsdExit, openbsdAbiFor } from '../src/vm.js';

const abi = (release: string): ReleaseAbi => {
  const found = openbsdRelease(release);
  if (found === undefined) throw new Error(`no ${release}`);
  return found;
};

// docs/bsd-vmm.md 2.6, copied as printed there (7.9 as 7.8-current).
const DOCUMENT: Record<string, [number, number, number | undefined]> = {
  //                      7.4-7.5     7.6-7.7     7.8-current
  VMM_IOC_CREATE: [0xc2585601, 0xca605601, 0xca605601],
  VMM_IOC_RUN: [0xc0205602, 0xc0285602, 0xc0285602],
  VMM_IOC_INFO: [0xc0185603, 0xc0185603, 0xc0185603],
  VMM_IOC_TERM: [0x80045604, 0x80045604, 0x80045604],
  VMM_IOC_RESETCPU: [0x82405605, 0x82405605, 0x82405605],
  VMM_IOC_INTR: [0x800c5606, 0x800c5606, 0x800c5606],
  VMM_IOC_READREGS: [0xc2485607, 0xc2485607, 0xc2485607],
  VMM_IOC_WRITEREGS: [0x82485608, 0x82485608, 0x82485608],
  VMM_IOC_SHAREMEM: [0x8210560b, 0x8210560b, 0xc290560b],
  VMM_IOC_MPROTECT_EPT: [0x8020560b, 0, 0],
};
const column = (release: string) =>
  ['7.4', '7.5'].includes(release) ? 0 : ['7.6', '7.7'].includes(release) ? 1 : 2;

describe('OpenBSD ioctl numbers', () => {
  for (const r of OPENBSD_RELEASES) {
    it(`recomputed from the encoding, equal the document on ${r.release}`, () => {
      const table = openbsdIoctlTable(r);
      expect(table.map((e) => e.name)).toEqual(Object.keys(DOCUMENT));
      for (const { name, request } of table) {
        expect({ name, request }).toEqual({ name, request: DOCUMENT[name]![column(r.release)] });
      }
    });
  }

  it('encodes as <sys/ioccom.h> does', () => {
    expect(ioc('IN', 'V', 4, 4)).toBe(0x80045604);
    expect(ioc('INOUT', 'V', 1, 2656)).toBe(0xca605601);
    expect(() => openbsdIoctl('VMM_IOC_MPROTECT_EPT', abi('7.6'))).toThrow(/does not exist/);
    expect(SIOCGIFFLAGS).toBe(0xc0206911);
    expect(SIOCGIFMTU).toBe(0xc020697e);
  });
});

describe('OpenBSD releases', () => {
  it('are told apart by kern.osrelease, with the OpenBSD macro of each', () => {
    expect(OPENBSD_RELEASES.map((r) => [r.release, r.osrev])).toEqual([
      ['7.4', 202310],
      ['7.5', 202404],
      ['7.6', 202409],
      ['7.7', 202504],
      ['7.8', 202510],
      ['7.9', 202605],
    ]);
    expect(openbsdRelease('7.6\n')).toBe(abi('7.6'));
    expect(openbsdRelease('7.3')).toBeUndefined();
  });

  it('are chosen by release number: newer releases and -current get the 7.9 layout, untested', () => {
    for (const r of OPENBSD_RELEASES) {
      expect(chooseOpenbsdRelease(r.release)).toEqual({ abi: r, untested: false });
    }
    expect(chooseOpenbsdRelease('7.9-current')).toEqual({ abi: abi('7.9'), untested: false });
    for (const newer of ['8.0', '8.0-current', '8.1', '9.3-beta', '10.0']) {
      expect(chooseOpenbsdRelease(newer)).toEqual({ abi: abi('7.9'), untested: true });
    }
    for (const older of ['7.3', '6.9', '0.1']) expect(chooseOpenbsdRelease(older)).toBeUndefined();
    for (const junk of ['', 'current', '7', 'x7.6', '7.10']) {
      expect(chooseOpenbsdRelease(junk)).toBeUndefined();
    }
    expect(openbsdVersion('7.6')).toBe(706);
    expect(openbsdVersion('8.0-current')).toBe(800);
  });

  it('warn once, in one line, when a VM gets a layout its release was not tested with', () => {
    const warnings: string[] = [];
    const warn = (text: string) => warnings.push(text);
    expect(openbsdAbiFor('7.8', warn)).toBe(abi('7.8'));
    expect(warnings).toEqual([]);
    expect(openbsdAbiFor('8.0\n', warn)).toBe(abi('7.9'));
    expect(warnings).toEqual(['OpenBSD 8.0 is untested; using the 7.9 vmm layout']);
    expect(() => openbsdAbiFor('7.3', warn)).toThrow(
      'OpenBSD 7.3 is not supported (vmm(4) layouts are known for 7.4, 7.5, 7.6, 7.7, 7.8, 7.9)',
    );
    expect(() => openbsdAbiFor('7.3', warn)).toThrow(HvtError);
  });

  it('carry the changes of the document: RIP fix-up and segment order from 7.5, inject from 7.6, kernel memory from 7.8', () => {
    const facts = (r: string) => {
      const { userlandRipAdvance, newSegmentOrder, runLayout, createLayout, kernelMemory } = abi(r);
      return [userlandRipAdvance, newSegmentOrder, runLayout, createLayout, kernelMemory];
    };
    expect(facts('7.4')).toEqual([false, false, 74, 74, false]);
    expect(facts('7.5')).toEqual([true, true, 74, 74, false]);
    expect(facts('7.6')).toEqual([true, true, 76, 76, false]);
    expect(facts('7.7')).toEqual([true, true, 76, 76, false]);
    expect(facts('7.8')).toEqual([true, true, 76, 78, true]);
  });
});

// docs/bsd-vmm.md 2.5 (sizes and offsets as printed there).
describe('OpenBSD struct layouts match the document', () => {
  it('vm_create_params: 600 bytes before 7.6, then 2656 with vcp_id at 596 and, from 7.8, at 600', () => {
    const vcp = (r: string) => openbsdLayouts(abi(r)).vm_create_params!;
    expect(vcp('7.5')).toEqual({
      size: 600,
      fields: { vcp_nmemranges: 0, vcp_ncpus: 8, vcp_memranges: 16, vcp_name: 528, vcp_id: 592 },
    });
    expect(vcp('7.6').size).toBe(2656);
    expect(vcp('7.6').fields).toMatchObject({
      vcp_sev: 592,
      vcp_id: 596,
      vcp_poscbit: 600,
      vcp_asid: 604,
    });
    expect(vcp('7.8').size).toBe(2656);
    expect(vcp('7.8').fields).toMatchObject({
      vcp_sev: 592,
      vcp_seves: 596,
      vcp_id: 600,
      vcp_poscbit: 604,
      vcp_asid: 608,
    });
  });

  it('vm_run_params: 32 bytes with continue/irq up to 7.5, 40 with inject from 7.6', () => {
    expect(openbsdLayouts(abi('7.4')).vm_run_params).toEqual({
      size: 32,
      fields: {
        vrp_vm_id: 0,
        vrp_vcpu_id: 4,
        vrp_continue: 8,
        vrp_irq: 10,
        vrp_intr_pending: 12,
        vrp_exit: 16,
        vrp_exit_reason: 24,
        vrp_irqready: 26,
      },
    });
    expect(openbsdLayouts(abi('7.6')).vm_run_params).toEqual({
      size: 40,
      fields: {
        vrp_vm_id: 0,
        vrp_vcpu_id: 4,
        vrp_inject: 8,
        vrp_intr_pending: 20,
        vrp_exit: 24,
        vrp_exit_reason: 32,
        vrp_irqready: 34,
      },
    });
  });

  it('the structs every release shares', () => {
    const l = openbsdLayouts(abi('7.8'));
    expect(l.vm_mem_range).toEqual({
      size: 32,
      fields: { vmr_gpa: 0, vmr_va: 8, vmr_size: 16, vmr_type: 24 },
    });
    expect(l.vcpu_reg_state).toEqual({
      size: 568,
      fields: {
        vrs_gprs: 0,
        vrs_crs: 144,
        vrs_msrs: 224,
        vrs_drs: 280,
        vrs_sregs: 328,
        vrs_gdtr: 520,
        vrs_idtr: 544,
      },
    });
    expect(l.vcpu_segment_info).toEqual({
      size: 24,
      fields: { vsi_sel: 0, vsi_limit: 4, vsi_ar: 8, vsi_base: 16 },
    });
    expect(l.vm_exit).toEqual({ size: 600, fields: { vei: 0, vee: 0, vrs: 24, cpl: 592 } });
    expect(l.vm_exit_inout!.fields).toMatchObject({
      vei_size: 0,
      vei_dir: 1,
      vei_port: 6,
      vei_data: 8,
      vei_insn_len: 12,
    });
    expect(l.vm_resetcpu_params!.size).toBe(576);
    expect(l.vm_rwregs_params!.size).toBe(584);
    expect(l.vm_terminate_params!.size).toBe(4);
    expect(l.vcpu_inject_event).toEqual({
      size: 12,
      fields: { vie_vector: 0, vie_errorcode: 4, vie_type: 8 },
    });
  });
});

describe('the register state VMM_IOC_RESETCPU loads (docs/guest-abi.md 6.1)', () => {
  const state = initialVcpuState(0x100020, 0x2000000 - 0x200000);
  const u64 = (b: Uint8Array, off: number) => new DataView(b.buffer).getBigUint64(off, true);
  const seg = (b: Uint8Array, index: number) => {
    const v = new DataView(b.buffer, 328 + 24 * index, 24);
    return {
      sel: v.getUint16(0, true),
      limit: v.getUint32(4, true),
      ar: v.getUint32(8, true),
      base: v.getBigUint64(16, true),
    };
  };

  for (const release of ['7.4', '7.5', '7.8']) {
    it(`puts every field where ${release} reads it`, () => {
      const r = abi(release);
      const bytes = encodeRegState(state, r);
      expect(bytes.byteLength).toBe(568);
      expect(u64(bytes, 8 * Gpr.RIP)).toBe(0x100020n);
      expect(u64(bytes, 8 * Gpr.RFLAGS)).toBe(2n);
      expect(u64(bytes, 8 * Gpr.RSP)).toBe(BigInt(0x2000000 - 0x200000 - 8));
      expect(u64(bytes, 8 * Gpr.RDI)).toBe(0x10000n);
      expect(u64(bytes, 144 + 8 * Cr.CR0)).toBe(0x80010021n);
      expect(u64(bytes, 144 + 8 * Cr.CR3)).toBe(0x2000n);
      expect(u64(bytes, 144 + 8 * Cr.CR4)).toBe(0x620n);
      expect(u64(bytes, 144 + 8 * Cr.XCR0)).toBe(BigInt(XCR0_X87));
      expect(u64(bytes, 224 + 8 * Msr.EFER)).toBe(0x500n);
      const index = segmentIndex(r);
      expect(seg(bytes, index.cs)).toEqual({ sel: 8, limit: 0xffffffff, ar: 0xa099, base: 0n });
      for (const s of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
        expect(seg(bytes, index[s])).toEqual({
          sel: 0x10,
          limit: 0xffffffff,
          ar: 0xc093,
          base: 0n,
        });
      }
      expect(seg(bytes, index.tr)).toMatchObject({ sel: 0, ar: 0x8b });
      expect(seg(bytes, index.ldt)).toMatchObject({ ar: 0x10000 });
      // GDTR at 520: base 0x1000, limit 23.
      expect(new DataView(bytes.buffer).getUint32(520 + 4, true)).toBe(23);
      expect(u64(bytes, 520 + 16)).toBe(0x1000n);
    });
  }

  it('follows the segment renumbering of 7.5: CS is sregs[0] before, sregs[1] after', () => {
    expect(seg(encodeRegState(state, abi('7.4')), 0).sel).toBe(8);
    expect(seg(encodeRegState(state, abi('7.5')), 1).sel).toBe(8);
    expect(seg(encodeRegState(state, abi('7.5')), 0).sel).toBe(0x10);
  });

  it('reads registers back with the same layout', () => {
    for (const release of ['7.4', '7.6']) {
      const regs = decodeRegisters(encodeRegState(state, abi(release)), abi(release));
      expect(regs).toMatchObject({
        rip: 0x100020n,
        rsp: BigInt(0x2000000 - 0x200000 - 8),
        cs: 8,
        ss: 0x10,
        fs: 0x10,
        fsBase: 0n,
      });
    }
  });
});

describe('exit messages (docs/guest-abi.md 13.5)', () => {
  it('says Triple Fault for VMX triple faults and SVM shutdowns, the reason otherwise', () => {
    expect(describeOpenBsdExit(2)).toBe('Triple Fault');
    expect(describeOpenBsdExit(0x7f)).toBe('Triple Fault');
    expect(describeOpenBsdExit(12)).toBe('unhandled exit: unknown exit reason 0xc');
    expect(describeOpenBsdExit(0xfffe)).toBe('unhandled exit: unknown exit reason 0xfffe');
  });
});
