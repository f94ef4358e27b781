/**
 * The little scanf the reference's module options are parsed with
 * (docs/guest-abi.md 2.3), so that what is accepted, truncated or refused is the same.
 */

/** isspace() in the C locale: what `%s` and numeric conversions skip and stop at. */
const SPACE = /[ \t\n\v\f\r]/;

/** Longest name `%67[A-Za-z0-9]` reads (MFT_NAME_MAX). */
export const OPTION_NAME_MAX = 67;

/**
 * Splits `<prefix>NAME=REST` where NAME is 1..67 characters of [A-Za-z0-9]
 * immediately followed by `=`; undefined when the argument does not have that
 * shape (a longer name fails, as scanf stops at 67 and then misses the `=`).
 */
export function splitNamed(
  arg: string,
  prefix: string,
): { name: string; rest: string } | undefined {
  if (!arg.startsWith(prefix)) return undefined;
  const m = /^([A-Za-z0-9]{1,67})=/.exec(arg.slice(prefix.length));
  if (!m) return undefined;
  return { name: m[1]!, rest: arg.slice(prefix.length + m[0].length) };
}

/** `%<width>s`: skips leading whitespace, then up to `width` non-whitespace characters. */
export function scanWord(text: string, width: number): string | undefined {
  let i = 0;
  while (i < text.length && SPACE.test(text[i]!)) i++;
  let j = i;
  while (j < text.length && j - i < width && !SPACE.test(text[j]!)) j++;
  return j > i ? text.slice(i, j) : undefined;
}

/**
 * A leading signed decimal, as `%zd`/`%hu` read one (whitespace, sign, digits;
 * the rest is ignored). Exact, as a bigint; undefined when there are no digits.
 */
export function scanDecimal(text: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text);
  if (!m) return undefined;
  const value = BigInt(m[2]!);
  return m[1] === '-' ? -value : value;
}

/**
 * `%hhx`: a leading hex number (whitespace, sign, optional 0x) truncated to a
 * byte; returns the byte and the characters consumed, or undefined.
 */
export function scanHexByte(text: string): { value: number; length: number } | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text);
  if (!m) return undefined;
  let value = Number(BigInt(`0x${m[2]!}`) & 0xffn);
  if (m[1] === '-') value = (256 - value) & 0xff;
  return { value, length: m[0].length };
}

/** A dotted quad: four decimals of 0..255, none with a leading zero. */
function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return (
    parts.length === 4 && parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
  );
}

/** Colon-separated groups of 1..4 hex digits; the last may be a dotted quad (two groups). */
function v6Groups(text: string, last: boolean): number | undefined {
  if (text === '') return 0;
  const groups = text.split(':');
  let count = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (/^[0-9a-fA-F]{1,4}$/.test(g)) count += 1;
    else if (last && i === groups.length - 1 && isIPv4(g)) count += 2;
    else return undefined;
  }
  return count;
}

/**
 * 4 or 6 when `text` is an IPv4 or IPv6 address (the latter with an optional
 * `%zone` of letters, digits, `-`, `.` and `:`), else 0: what Node's
 * `net.isIP` answers (a differential test holds them equal), without loading
 * node:net and the stream modules behind it, a tenth of start-up in an
 * emulated VM.
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  const zone = text.indexOf('%');
  const address = zone < 0 ? text : text.slice(0, zone);
  if (zone >= 0 && !/^[0-9a-zA-Z.:-]+$/.test(text.slice(zone + 1))) return 0;
  const halves = address.split('::');
  if (halves.length > 2) return 0;
  if (halves.length === 1) return v6Groups(address, true) === 8 ? 6 : 0;
  const head = v6Groups(halves[0]!, false);
  const tail = v6Groups(halves[1]!, true);
  // `::` stands for at least one group of zeros.
  return head !== undefined && tail !== undefined && head + tail <= 7 ? 6 : 0;
}
