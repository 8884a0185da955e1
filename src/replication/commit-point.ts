/**
 * A primary's commit point: the highest seq that is on its own disk and that enough backups have
 * acked. `writeAcks` 'all' waits for every live backup; a number waits for that many of them (or
 * all, if fewer are live); with no backups to wait for, the own disk decides alone. Acks are
 * cumulative seqs. Runs on every write and every ack, so it allocates nothing.
 */
export function commitPoint(persistedSeq: number, acks: readonly number[], writeAcks: 'all' | number): number {
  const need = writeAcks === 'all' ? acks.length : Math.min(writeAcks, acks.length)
  if (need === 0) return persistedSeq
  // The need-th highest ack: the highest one that at least `need` acks reach.
  let replicated = -Infinity
  for (const a of acks) {
    if (a <= replicated) continue
    let reached = 0
    for (const b of acks) if (b >= a) reached++
    if (reached >= need) replicated = a
  }
  return Math.min(persistedSeq, replicated)
}
