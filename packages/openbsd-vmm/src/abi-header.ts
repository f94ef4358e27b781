import { type CStruct, cHex, generatedHeader, layoutAsserts } from '@hvtjs/posix-kit';
import {
  ExitReason,
  OPENBSD_RELEASES,
  openbsdIoctlTable,
  openbsdLayouts,
  type ReleaseAbi,
  SIOCGIFFLAGS,
  SIOCGIFMTU,
} from './abi.js';

/**
 * src/native/ob_abi_gen.h from the tables in abi.ts: the per-release facts
 * and command numbers the C core issues, and the static_asserts that hold
 * ob_abi.h's structs to the layouts.
 */

/** The C struct of each layout, and how its TS field names map to C members. */
function cStruct(name: string, abi: ReleaseAbi): Omit<CStruct, 'layout'> {
  const strip = (prefix: string, fields: readonly string[], extra: Record<string, string> = {}) =>
    Object.fromEntries([
      ...fields.map((f) => [f, f.startsWith(prefix) ? f.slice(prefix.length) : f]),
      ...Object.entries(extra),
    ]);
  const fields = Object.keys(openbsdLayouts(abi)[name]!.fields);
  switch (name) {
    case 'vm_mem_range':
      return { type: 'struct ob_vm_mem_range', members: strip('vmr_', fields) };
    case 'vm_create_params': {
      const head = ['vcp_nmemranges', 'vcp_ncpus', 'vcp_memranges', 'vcp_name'];
      const members = strip('vcp_', fields);
      for (const f of head) members[f] = `h.${f.slice(4)}`;
      return { type: `struct ob_vcp_${abi.createLayout}`, members };
    }
    case 'vcpu_segment_info':
      return { type: 'struct ob_segment_info', members: strip('vsi_', fields) };
    case 'vcpu_reg_state':
      return { type: 'struct ob_vcpu_reg_state', members: strip('vrs_', fields) };
    case 'vm_resetcpu_params':
      return {
        type: 'struct ob_resetcpu_params',
        members: strip('vrp_', fields, { vrp_init_state: 'state' }),
      };
    case 'vm_rwregs_params':
      return { type: 'struct ob_rwregs_params', members: strip('vrwp_', fields) };
    case 'vm_terminate_params':
      return { type: 'struct ob_terminate_params', members: strip('vtp_', fields) };
    case 'vm_exit_inout':
      return { type: 'struct ob_exit_inout', members: strip('vei_', fields) };
    case 'vm_exit':
      return { type: 'struct ob_vm_exit', members: { vei: 'u.vei', vee: 'u.vee' } };
    case 'vm_run_params':
      return {
        type: `struct ob_vrp_${abi.runLayout}`,
        members: strip('vrp_', fields, { vrp_continue: 'cont' }),
      };
    case 'vcpu_inject_event':
      return { type: 'struct ob_inject_event', members: strip('vie_', fields) };
    case 'ifreq':
      return { type: 'struct ob_ifreq', members: { flags: 'u.flags', mtu: 'u.mtu' } };
    default:
      throw new Error(`no C struct for ${name}`);
  }
}

const flag = (b: boolean) => (b ? 1 : 0);

export function renderAbiHeader(): string {
  const structs: CStruct[] = OPENBSD_RELEASES.flatMap((abi) =>
    Object.entries(openbsdLayouts(abi)).map(([name, layout]) => ({
      ...cStruct(name, abi),
      layout,
    })),
  );
  const names = openbsdIoctlTable(OPENBSD_RELEASES[0]!).map((r) => r.name);
  // Commands whose number no release changes get a macro of their own.
  const fixed = names.filter((_, i) => {
    const values = new Set(OPENBSD_RELEASES.map((abi) => openbsdIoctlTable(abi)[i]!.request));
    return values.size === 1;
  });
  return generatedHeader('HVT_OB_ABI_GEN_H', 'src/abi.ts', [
    '/* Every struct as the TypeScript tables lay it out. */',
    ...layoutAsserts(structs),
    '',
    '/* The commands. */',
    `enum ob_ioctl { ${names.map((n) => `OB_${n}`).join(', ')}, OB_IOCTL_COUNT };`,
    ...fixed.map((n) => {
      const request = openbsdIoctlTable(OPENBSD_RELEASES[0]!).find((r) => r.name === n)!.request;
      return `#define OB_REQ_${n.replace(/^VMM_IOC_/, '')} ${cHex(request)}`;
    }),
    'static const char *const ob_ioctl_names[OB_IOCTL_COUNT] = {',
    ...names.map((n) => `    "${n}",`),
    '};',
    '',
    '/* How each release differs (field by field as ReleaseAbi), and its command numbers. */',
    'struct ob_release_abi {',
    '  const char *release;',
    '  hvt_i32 osrev;',
    '  hvt_u8 create_layout;',
    '  hvt_u8 run_layout;',
    '  hvt_u8 new_segment_order;',
    '  hvt_u8 userland_rip_advance;',
    '  hvt_u8 kernel_memory;',
    '  hvt_u32 request[OB_IOCTL_COUNT];',
    '};',
    `#define OB_RELEASE_COUNT ${OPENBSD_RELEASES.length}`,
    'static const struct ob_release_abi ob_releases[OB_RELEASE_COUNT] = {',
    ...OPENBSD_RELEASES.flatMap((abi) => {
      const requests = openbsdIoctlTable(abi).map((r) => (r.request === 0 ? '0' : cHex(r.request)));
      return [
        `    {"${abi.release}", ${abi.osrev}, ${abi.createLayout}, ${abi.runLayout}, ` +
          `${flag(abi.newSegmentOrder)}, ${flag(abi.userlandRipAdvance)}, ${flag(abi.kernelMemory)},`,
        `     {${requests.join(', ')}}},`,
      ];
    }),
    '};',
    '',
    `#define OB_SIOCGIFFLAGS ${cHex(SIOCGIFFLAGS)}`,
    `#define OB_SIOCGIFMTU ${cHex(SIOCGIFMTU)}`,
    '',
    '/* Exit reasons the tender sees. */',
    ...Object.entries(ExitReason).map(([k, v]) => `#define OB_REASON_${k} 0x${v.toString(16)}`),
  ]);
}
