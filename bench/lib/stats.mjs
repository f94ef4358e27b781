// @ts-check
// Small statistics over a handful of rounds: the median as the figure, the
// extremes as its spread (with 3 to 5 rounds, quartiles would pretend more
// precision than there is).

/**
 * @param {readonly number[]} xs
 * @returns {number}
 */
export function median(xs) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const upper = s[m] ?? Number.NaN;
  return s.length % 2 === 1 ? upper : ((s[m - 1] ?? Number.NaN) + upper) / 2;
}

/**
 * @typedef {{ median: number, min: number, max: number, values: number[] }} Summary
 * @param {readonly number[]} xs
 * @returns {Summary}
 */
export function summarize(xs) {
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    values: [...xs],
  };
}
