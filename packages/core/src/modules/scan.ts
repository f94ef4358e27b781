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
