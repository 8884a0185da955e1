/** Polls a condition on real time. Generous by default: these waits guard liveness, not speed. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 10_000, intervalMs = 2): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
