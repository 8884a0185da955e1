/**
 * A primary's reads are linearizable only while it still leads: a primary that was paused (or
 * cut off) may not have heard yet of the view that replaced it, and would answer from a copy its
 * successor has moved past. Before it answers a read, it asks the domain's other owners whether
 * they know of a newer primary (etcd/Raft's ReadIndex, with the owners as the quorum that any
 * successor must have gone through). Reads are batched: every read waits for one round that
 * started after it arrived, so a burst of reads costs one round trip, not one each.
 */
export class LeadCheck {
  private inFlight: Promise<void> | undefined
  private queued: Promise<void> | undefined

  constructor(private readonly round: () => Promise<void>) {}

  /** Resolves once a round that started after this call confirmed the lead; rejects if one found it lost. */
  confirm(): Promise<void> {
    if (!this.inFlight) return this.start()
    this.queued ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined
        return this.start()
      })
    return this.queued
  }

  private start(): Promise<void> {
    const p = this.round().finally(() => {
      if (this.inFlight === p) this.inFlight = undefined
    })
    this.inFlight = p
    return p
  }
}
