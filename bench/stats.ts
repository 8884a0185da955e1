/** Summaries for benchmark figures: percentiles of one run, and median/min/max across runs. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export interface Figure {
  median: number
  min: number
  max: number
  runs: number[]
}

export function figure(runs: readonly number[]): Figure {
  const s = [...runs].sort((a, b) => a - b)
  return { median: s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2, min: s[0]!, max: s[s.length - 1]!, runs: [...runs] }
}

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a')
export const cell = (f: Figure, digits = 0): string => `${fmt(f.median, digits)} (${fmt(f.min, digits)}–${fmt(f.max, digits)})`
