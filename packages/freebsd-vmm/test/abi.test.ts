import { initialVcpuState } from '@hvtjs/core/platform';
import { describe, expect, it } from 'vitest';
import {
  FREEBSD_LAYOUTS,
  FREEBSD_LINES,
  type FreeBsdLine,
  freebsdIoctl,
  freebsdIoctlTable,
  freebsdLine,
  freebsdRelease,
  freebsdVersion,
  ioc,
  SIOCGIFMTU,
  segmentAccess,
  VmReg,
} from '../src/abi.js';
import { freebsdLineFor, vcpuSetupCalls } from '../src/vm.js';

// docs/bsd-vmm.md 1.3, copied as printed there.
const DOCUMENT_IOCTLS: Record<string, Record<FreeBsdLine, number | undefined>> = {
  VM_RUN: { 13: 0xc0907601, 14: 0x80207601, 15: 0x80207601 },
  VM_SET_CAPABILITY: { 13: 0x80107602, 14: 0x80107602, 15: 0x80107602 },
  VM_GET_CAPABILITY: { 13: 0xc0107603, 14: 0xc0107603, 15: 0xc0107603 },
  VM_SUSPEND: { 13: 0x80047604, 14: 0x80047604, 15: 0x80047604 },
  VM_REINIT: { 13: 0x20007605, 14: 0x20007605, 15: 0x20007605 },
  VM_ALLOC_MEMSEG: { 13: 0x8020760e, 14: 0x8020760e, 15: 0x8038760e },
  VM_MMAP_MEMSEG: { 13: 0x80287610, 14: 0x80287610, 15: 0x80287610 },
  VM_SET_REGISTER: { 13: 0x80107614, 14: 0x80107614, 15: 0x80107614 },
  VM_GET_REGISTER: { 13: 0xc0107615, 14: 0xc0107615, 15: 0xc0107615 },
  VM_SET_SEGMENT_DESCRIPTOR: { 13: 0x80187616, 14: 0x80187616, 15: 0x80187616 },
  VM_GET_SEGMENT_DESCRIPTOR: { 13: 0xc0187617, 14: 0xc0187617, 15: 0xc0187617 },
  VM_SET_REGISTER_SET: { 13: 0x80187618, 14: 0x80187618, 15: 0x80187618 },
  VM_GET_REGISTER_SET: { 13: 0xc0187619, 14: 0xc0187619, 15: 0xc0187619 },
  VM_ACTIVATE_CPU: { 13: 0x8004765a, 14: 0x8004765a, 15: 0x8004765a },
  VMMCTL_VM_CREATE: { 13: undefined, 14: undefined, 15: 0xc1285600 },
  VMMCTL_VM_DESTROY: { 13: undefined, 14: undefined, 15: 0xc1285601 },
};

describe('ioctl encoding', () => {
  it('packs direction, size, group and number', () => {
    expect(ioc('INOUT', 'v', 1, 144)).toBe(0xc0907601);
    expect(ioc('VOID', 'v', 5, 0)).toBe(0x20007605);
    // The 12-compat VM_ALLOC_MEMSEG with its 80-byte struct (1.3 "Other fixed numbers").
    expect(ioc('IN', 'v', 14, 80)).toBe(0x8050760e);
  });

  it('refuses sizes that do not fit 13 bits and bad numbers', () => {
    expect(() => ioc('IN', 'v', 1, 8192)).toThrow(RangeError);
    expect(() => ioc('IN', 'v', 256, 4)).toThrow(RangeError);
    expect(() => ioc('IN', 'vv', 1, 4)).toThrow(RangeError);
  });
});

describe('FreeBSD ioctl numbers', () => {
  for (const line of FREEBSD_LINES) {
    it(`recomputed from the encoding, equal the document on ${line}.x`, () => {
      const table = freebsdIoctlTable(line);
      expect(table.map((e) => e.name).sort()).toEqual(Object.keys(DOCUMENT_IOCTLS).sort());
      for (const { name, request } of table) {
        expect({ name, request }).toEqual({ name, request: DOCUMENT_IOCTLS[name]![line] ?? 0 });
      }
    });
  }

  it('VM_RUN changes number from 13 to 14 and VM_ALLOC_MEMSEG from 14 to 15', () => {
    expect(freebsdIoctl('VM_RUN', 13)).not.toBe(freebsdIoctl('VM_RUN', 14));
    expect(freebsdIoctl('VM_ALLOC_MEMSEG', 14)).not.toBe(freebsdIoctl('VM_ALLOC_MEMSEG', 15));
    expect(() => freebsdIoctl('VMMCTL_VM_CREATE', 14)).toThrow(/does not exist/);
  });

  it('SIOCGIFMTU is _IOWR(i, 51, struct ifreq)', () => {
    expect(SIOCGIFMTU).toBe(0xc0206933);
  });
});

describe('release line from kern.osreldate', () => {
  it('splits at 1300000, 1400000 and 1500000', () => {
    expect(freebsdLine(1203000)).toBeUndefined();
    expect(freebsdLine(1300000)).toBe(13);
    expect(freebsdLine(1303000)).toBe(13);
    expect(freebsdLine(1399999)).toBe(13);
    expect(freebsdLine(1400097)).toBe(14);
    expect(freebsdLine(1499999)).toBe(14);
    expect(freebsdLine(1500000)).toBe(15);
    expect(freebsdLine(1600000)).toBe(15);
  });

  it('gives releases after 15.x the 15 layout, marked untested', () => {
    expect(freebsdRelease(1299999)).toBeUndefined();
    expect(freebsdRelease(1302001)).toEqual({ abi: 13, untested: false });
    expect(freebsdRelease(1599999)).toEqual({ abi: 15, untested: false });
    expect(freebsdRelease(1600000)).toEqual({ abi: 15, untested: true });
    expect(freebsdRelease(1703000)).toEqual({ abi: 15, untested: true });
    expect(freebsdRelease(Number.NaN)).toBeUndefined();
    expect(freebsdVersion(1600000)).toBe('16.0');
    expect(freebsdVersion(1501000)).toBe('15.1');
  });

  it('warns once, in one line, when a VM gets a layout its release was not tested with', () => {
    const warnings: string[] = [];
    const warn = (text: string) => warnings.push(text);
    expect(freebsdLineFor(1502000, warn)).toBe(15);
    expect(warnings).toEqual([]);
    expect(freebsdLineFor(1600003, warn)).toBe(15);
    expect(warnings).toEqual(['FreeBSD 16.0 is untested; using the 15.x vmm layout']);
    expect(() => freebsdLineFor(1204000, warn)).toThrow(
      'FreeBSD 12 is not supported (13.0 or later needed)',
    );
  });
});

// docs/bsd-vmm.md 1.4 (sizes and offsets as printed there).
describe('FreeBSD struct layouts match the document', () => {
  const layout = (line: FreeBsdLine, struct: string) => FREEBSD_LAYOUTS[line][struct]!;

  for (const line of FREEBSD_LINES) {
    it(`vm_exit, vm_memmap, vm_register, vm_seg_desc, vm_capability, vm_activate_cpu on ${line}.x`, () => {
      expect(layout(line, 'vm_exit')).toMatchObject({
        size: 136,
        fields: {
          exitcode: 0,
          inst_length: 4,
          rip: 8,
          u: 16,
          'u.inout.port': 18,
          'u.inout.eax': 20,
          'u.vmx.status': 16,
          'u.vmx.exit_reason': 20,
          'u.vmx.exit_qualification': 24,
          'u.vmx.inst_type': 32,
          'u.vmx.inst_error': 36,
          'u.svm.exitcode': 16,
          'u.svm.exitinfo1': 24,
          'u.svm.exitinfo2': 32,
          'u.suspended.how': 16,
        },
      });
      expect(layout(line, 'vm_memmap')).toEqual({
        size: 40,
        fields: { gpa: 0, segid: 8, segoff: 16, len: 24, prot: 32, flags: 36 },
      });
      expect(layout(line, 'vm_register')).toEqual({
        size: 16,
        fields: { cpuid: 0, regnum: 4, regval: 8 },
      });
      expect(layout(line, 'vm_seg_desc').size).toBe(24);
      expect(layout(line, 'vm_seg_desc').fields['desc.base']).toBe(8);
      expect(layout(line, 'vm_capability').size).toBe(16);
      expect(layout(line, 'vm_activate_cpu').size).toBe(4);
    });
  }

  it('vm_run: 144 bytes with the exit embedded at 8 on 13; 32 bytes of pointers from 14', () => {
    expect(layout(13, 'vm_run')).toEqual({ size: 144, fields: { cpuid: 0, vm_exit: 8 } });
    for (const line of [14, 15] as const) {
      expect(layout(line, 'vm_run')).toEqual({
        size: 32,
        fields: { cpuid: 0, cpuset: 8, cpusetsize: 16, vm_exit: 24 },
      });
    }
  });

  it('vm_memseg: 32 bytes on 13 and 14, 56 with the NUMA fields on 15', () => {
    for (const line of [13, 14] as const) {
      expect(layout(line, 'vm_memseg')).toEqual({
        size: 32,
        fields: { segid: 0, len: 8, name: 16 },
      });
    }
    expect(layout(15, 'vm_memseg')).toEqual({
      size: 56,
      fields: { segid: 0, len: 8, name: 16, ds_mask: 32, ds_mask_size: 40, ds_policy: 48 },
    });
  });

  it('vmmctl_vm_create only on 15: 296 bytes, reserved words at 232', () => {
    expect(FREEBSD_LAYOUTS[13].vmmctl_vm_create).toBeUndefined();
    expect(FREEBSD_LAYOUTS[14].vmmctl_vm_create).toBeUndefined();
    expect(layout(15, 'vmmctl_vm_create')).toEqual({
      size: 296,
      fields: { name: 0, reserved: 232 },
    });
  });
});

describe('vCPU set-up from the long-mode state of docs/guest-abi.md 6.1', () => {
  const state = initialVcpuState(0x100020, 0x2000000 - 0x200000);

  it('segment access rights are the document values', () => {
    expect(segmentAccess(state.cs)).toBe(0xa099);
    for (const seg of [state.ds, state.es, state.fs, state.gs, state.ss]) {
      expect(segmentAccess(seg)).toBe(0xc093);
    }
    expect(segmentAccess(state.tr)).toBe(0x8b);
    expect(segmentAccess(state.ldt)).toBe(0x10000);
  });

  it('sets control registers, every segment, GDTR, then RIP/RFLAGS/RSP/RDI with vmm numbers', () => {
    const calls = vcpuSetupCalls(state);
    const reg = (n: number) =>
      calls
        .filter((c) => c.call === 'setRegister' && c.reg === n)
        .map((c) => c.call === 'setRegister' && c.value);
    expect(reg(VmReg.CR0)).toEqual([0x80010021]);
    expect(reg(VmReg.CR3)).toEqual([0x2000]);
    expect(reg(VmReg.CR4)).toEqual([0x620]);
    expect(reg(VmReg.EFER)).toEqual([0x500]);
    expect(reg(VmReg.CS)).toEqual([8]);
    for (const r of [VmReg.DS, VmReg.ES, VmReg.FS, VmReg.GS, VmReg.SS])
      expect(reg(r)).toEqual([0x10]);
    expect(reg(VmReg.TR)).toEqual([0]);
    expect(reg(VmReg.RIP)).toEqual([0x100020]);
    expect(reg(VmReg.RFLAGS)).toEqual([2]);
    expect(reg(VmReg.RSP)).toEqual([0x2000000 - 0x200000 - 8]);
    expect(reg(VmReg.RDI)).toEqual([0x10000]);

    const gdt = calls.find((c) => c.call === 'setSegment' && c.reg === VmReg.GDTR);
    expect(gdt).toEqual({
      call: 'setSegment',
      reg: VmReg.GDTR,
      base: 0x1000,
      limit: 23,
      access: 0,
    });
    const cs = calls.find((c) => c.call === 'setSegment' && c.reg === VmReg.CS);
    expect(cs).toEqual({
      call: 'setSegment',
      reg: VmReg.CS,
      base: 0,
      limit: 0xffffffff,
      access: 0xa099,
    });
    const ldt = calls.find((c) => c.call === 'setSegment' && c.reg === VmReg.LDTR);
    expect(ldt).toMatchObject({ access: 0x10000 });

    // The hidden part of each segment is set before its selector.
    const csDesc = calls.findIndex((c) => c.call === 'setSegment' && c.reg === VmReg.CS);
    const csSel = calls.findIndex((c) => c.call === 'setRegister' && c.reg === VmReg.CS);
    expect(csDesc).toBeLessThan(csSel);
    // The entry point goes in last, after the paging registers that make it reachable.
    expect(calls.findIndex((c) => c.call === 'setRegister' && c.reg === VmReg.RIP)).toBeGreaterThan(
      calls.findIndex((c) => c.call === 'setRegister' && c.reg === VmReg.EFER),
    );
  });
});
