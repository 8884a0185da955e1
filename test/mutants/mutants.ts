/**
 * The bugs `npm run mutants` plants, one at a time, each as exact textual replacements in a copy
 * of the source. Every `find` must occur exactly once in its file: when the code changes under an
 * anchor, the runner stops with an AnchorError instead of quietly testing unmutated code, and the
 * anchor is updated here.
 */

export interface Edit {
  /** Repository-relative path. */
  file: string
  find: string
  replace: string
}

export interface Mutant {
  name: string
  /** What the planted bug does, as a user would notice it. */
  what: string
  edits: Edit[]
  /** Focused vitest files that should catch it (besides the simulation and the real-process tests). */
  vitest: string[]
}

/** Real-process tests, run against every mutant: each mutant must fail at least one of them. */
export const REAL_PROCESS_TESTS = ['test/faults/faults.test.ts', 'test/integration/pause.test.ts', 'test/integration/processes.test.ts', 'test/integration/held-acks.test.ts', 'test/integration/sessions.test.ts']

export const MUTANTS: Mutant[] = [
  {
    name: 'ack-before-backups',
    what: "the store primary answers a write once its own disk has it, before any backup acked it (replica.ts checkCommits ignores the backups' acks)",
    edits: [{ file: 'src/replication/replica.ts', find: '    const commitTo = commitPoint(this.persistedSeq, acks, this.cfg.writeAcks)\n', replace: '    const commitTo = this.persistedSeq\n' }],
    vitest: ['test/replication/replication.test.ts', 'test/topology/failover-in-flight.test.ts', 'test/topology/failover.test.ts', 'test/store/store.test.ts'],
  },
  {
    name: 'read-lagging-local',
    what: "a primary read is answered from the copy of whichever node holds one (store.ts and store-engine.ts serve 'primary' reads as 'local' ones): a lagging backup's, or the primary's without its lead check or commit wait",
    edits: [
      {
        file: 'src/store/store.ts',
        find: 'primary === this.self || (local && this.state.readLocal(this.virtualServerId, key).held) ? this.engine.read(',
        replace: 'primary === this.self || this.state.readLocal(this.virtualServerId, key).held ? this.engine.read(',
      },
      {
        file: 'src/store/store-engine.ts',
        find: '    if (local && this.state.readLocal(vs, key).held) obj = this.state.readLocal(vs, key).obj\n',
        replace: '    if (this.state.readLocal(vs, key).held) obj = this.state.readLocal(vs, key).obj\n',
      },
    ],
    vitest: ['test/topology/paused-primary.test.ts', 'test/store/store.test.ts', 'test/topology/failover.test.ts', 'test/replication/replication.test.ts'],
  },
  {
    name: 'read-skips-lead-check',
    what: 'a primary answers reads without first confirming that it still leads (replica.ts readCommitted skips lead-check.ts): a paused or cut-off primary answers from a copy its successor moved past',
    edits: [
      {
        file: 'src/replication/replica.ts',
        find: '    if (this.backups.length > 0 || this.downOwners.list().length > 0) {\n      await this.bounded(this.leadCheck.confirm(),',
        replace: '    if (false as boolean) {\n      await this.bounded(this.leadCheck.confirm(),',
      },
    ],
    vitest: ['test/topology/paused-primary.test.ts', 'test/store/store.test.ts'],
  },
  {
    name: 'session-ack-early',
    what: "a session write (create, patch, destroy) is answered before its backups have it (session/engine.ts does not wait for replicate)",
    edits: [
      { file: 'src/session/engine.ts', find: '    await this.replication.replicate(e, [rec], [])\n', replace: '    void this.replication.replicate(e, [rec], []).catch(() => undefined)\n' },
      { file: 'src/session/engine.ts', find: '    await this.replication.replicate(e, [next], [])\n', replace: '    void this.replication.replicate(e, [next], []).catch(() => undefined)\n' },
      { file: 'src/session/engine.ts', find: '    await this.replication.replicate(e, [], [sessionId])\n', replace: '    void this.replication.replicate(e, [], [sessionId]).catch(() => undefined)\n' },
    ],
    vitest: ['test/session/sessions.test.ts', 'test/session/recovery.test.ts'],
  },
  {
    name: 'cas-bypass',
    what: "the primary never refuses a stale ifVersion on a path (objects.ts skips the per-path version check), so a compare-and-set overwrites a newer acknowledged write",
    edits: [{ file: 'src/objects/objects.ts', find: '    if (actual > ifVersion) throw new CasConflictError', replace: '    if (false as boolean) throw new CasConflictError' }],
    vitest: ['test/store/cas.test.ts', 'test/store/cas-property.test.ts'],
  },
  {
    name: 'commit-with-down-owner',
    what: 'the primary commits while a down owner that lacks the write is still listed (down-owners.ts holdCommit always false), so a full-cluster restart may pick that owner',
    edits: [{ file: 'src/replication/down-owners.ts', find: '    if (this.down.length === 0) return false\n', replace: '    if (this.down.length >= 0) return false\n' }],
    vitest: ['test/replication/replication.test.ts', 'test/topology/durable.test.ts', 'test/topology/durable-state.test.ts'],
  },
  {
    name: 'healing-counts-stale-ack',
    what: "a healing snapshot copy counts the target's earlier ack as done (healing-copy.ts drops r.acked.expectNothing(target)), so a copy that never arrived makes an owner",
    edits: [{ file: 'src/healing/healing-copy.ts', find: '  r.acked.expectNothing(target)\n', replace: '' }],
    vitest: ['test/healing/healing-copy.test.ts', 'test/topology/failover.test.ts', 'test/topology/snapshot-copy.test.ts', 'test/topology/handoff.test.ts', 'test/topology/durable.test.ts'],
  },
]
