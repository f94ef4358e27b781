import { type CStruct, cHex, generatedHeader, layoutAsserts } from '@hvtjs/posix-kit';
import {
  FREEBSD_LAYOUTS,
  FREEBSD_LINES,
  type FreeBsdLine,
  freebsdIoctlTable,
  SIOCGIFMTU,
  VmExitCode,
  VmSuspendHow,
} from './abi.js';
import { CapRight } from './capsicum.js';

/**
 * src/native/fb_abi_gen.h from the tables in abi.ts: the numbers the C core
 * issues and the static_asserts that hold fb_abi.h's structs to the layouts.
 */

/** The C struct of a layout on a line (the C core names them by the first line that has them). */
function cType(struct: string, line: FreeBsdLine): string {
  if (struct === 'vm_run') return `struct fb_vm_run_${line === 13 ? 13 : 14}`;
  if (struct === 'vm_memseg') return `struct fb_vm_memseg_${line === 15 ? 15 : 14}`;
  return `struct fb_${struct}`;
}

const MEMBERS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  ifreq: { mtu: 'u.mtu' },
};

/** FB_REQ_<NAME>, or FB_REQ_<NAME>_<line> for each line where the number changes. */
function requestMacros(): string[] {
  const out: string[] = [];
  const tables = FREEBSD_LINES.map((line) => ({ line, rows: freebsdIoctlTable(line) }));
  for (const [i, row] of tables[0]!.rows.entries()) {
    const values: { line: FreeBsdLine; request: number }[] = [];
    for (const { line, rows } of tables) {
      const request = rows[i]!.request;
      if (request !== 0 && !values.some((v) => v.request === request)) {
        values.push({ line, request });
      }
    }
    for (const v of values) {
      const suffix = values.length > 1 ? `_${v.line}` : '';
      out.push(`#define FB_REQ_${row.name}${suffix} ${cHex(v.request)}`);
    }
  }
  return out;
}

export function renderAbiHeader(): string {
  const structs: CStruct[] = FREEBSD_LINES.flatMap((line) =>
    Object.entries(FREEBSD_LAYOUTS[line]).map(([name, layout]) => ({
      type: cType(name, line),
      layout,
      ...(MEMBERS[name] ? { members: MEMBERS[name] } : {}),
    })),
  );
  const names = freebsdIoctlTable(FREEBSD_LINES[0]!).map((r) => r.name);
  const lines = FREEBSD_LINES.map((l) => `FB_LINE_${l} = ${FREEBSD_LINES.indexOf(l)}`);
  return generatedHeader('HVT_FB_ABI_GEN_H', 'src/abi.ts and src/capsicum.ts', [
    '/* Release lines whose interfaces differ, and the kern.osreldate each starts at. */',
    `enum fb_line { ${lines.join(', ')}, FB_LINE_COUNT = ${FREEBSD_LINES.length} };`,
    ...FREEBSD_LINES.map((l) => `#define FB_OSRELDATE_${l} ${l * 100000}`),
    '',
    '/* Every struct as the TypeScript tables lay it out. */',
    ...layoutAsserts(structs),
    '',
    '/* The commands: one row per command, one number per line (0: the line lacks it). */',
    `enum fb_ioctl { ${names.map((n) => `FB_${n}`).join(', ')}, FB_IOCTL_COUNT };`,
    ...requestMacros(),
    'struct fb_ioctl_row {',
    '  const char *name;',
    '  hvt_u32 request[FB_LINE_COUNT];',
    '};',
    'static const struct fb_ioctl_row fb_ioctl_table[FB_IOCTL_COUNT] = {',
    ...names.map((name, i) => {
      const requests = FREEBSD_LINES.map((l) => {
        const r = freebsdIoctlTable(l)[i]!.request;
        return r === 0 ? '0' : cHex(r);
      });
      return `    {"${name}", {${requests.join(', ')}}},`;
    }),
    '};',
    `#define FB_SIOCGIFMTU ${cHex(SIOCGIFMTU)}`,
    '',
    '/* enum vm_exitcode and enum vm_suspend_how */',
    ...Object.entries(VmExitCode).map(([k, v]) => `#define FB_EXITCODE_${k} ${v}`),
    ...Object.entries(VmSuspendHow).map(([k, v]) => `#define FB_SUSPEND_${k} ${v}`),
    '',
    '/* Capsicum rights (src/capsicum.ts): both words of a cap_rights_t carry index bits. */',
    ...Object.entries(CapRight).map(
      ([k, v]) => `#define FB_CAP_${k} 0x${v.toString(16).padStart(16, '0')}ULL`,
    ),
  ]);
}
