/**
 * The sessions this node holds, as primary or backup, and per client who its primary and backups
 * are (colocation: one set of backups for all of a client's sessions). Expiry is absolute: a
 * session lives `ttlMs` after its last write, on every copy alike.
 */
import type { NodeId } from '../ids.js'
import type { StoredObject } from '../objects/objects.js'
import type { TokenMark } from './route.js'

export interface SessionRecord {
  sessionId: string
  clientId: string
  vs: string
  obj: StoredObject
  ttlMs: number
  expiresAt: number
}

export interface ClientEntry {
  clientId: string
  vs: string
  role: 'primary' | 'backup'
  primary: NodeId
  backups: NodeId[]
  epoch: number
  sessions: Set<string>
  /** A write failed part way: some backups may hold it, so they get the whole state next time. */
  dirty?: boolean
  /** Started here and never sent: the first write sends the whole state, with no newer line to look for. */
  fresh?: boolean
  /**
   * The newest failover token the client has sent with a request (kept on the backups too). A
   * request that carries an older one, or none, is refused: it is a late copy of an attempt the
   * client gave up, or comes from a client object that has not seen the newest token.
   */
  seen?: TokenMark
  /** The `seq` of the last token this node handed out as the client's primary at this epoch. */
  issued?: number
  /**
   * How far this copy of the line has got. `line` names the primary's entry (random, made when it
   * starts or takes over the client: a primary that restarted and started the client again at
   * the same epoch has another), `rev` counts the replicates it sent; a backup keeps those of the
   * last one it applied. Before a backup takes over, it compares with the other copies of the
   * same line: a lower `rev` means it missed writes (the primary may have replaced it and written
   * on to other backups). Counts of different `line`s are not comparable.
   */
  copy?: CopyMark
}

export interface CopyMark {
  line: string
  rev: number
}

const k = (vs: string, id: string): string => `${vs}\u0000${id}`

export class SessionTable {
  private readonly sessions = new Map<string, SessionRecord>()
  private readonly clients = new Map<string, ClientEntry>()

  constructor(private readonly now: () => number) {}

  get(vs: string, sessionId: string): SessionRecord | undefined {
    const r = this.sessions.get(k(vs, sessionId))
    if (r && r.expiresAt <= this.now()) {
      this.delete(vs, sessionId)
      return undefined
    }
    return r
  }

  /** A session under any virtual server: to tell "wrong virtual server" from "no such session". */
  findAnyVs(sessionId: string): SessionRecord | undefined {
    for (const r of this.sessions.values()) if (r.sessionId === sessionId) return r
    return undefined
  }

  put(r: SessionRecord): void {
    this.sessions.set(k(r.vs, r.sessionId), r)
    this.client(r.vs, r.clientId)?.sessions.add(r.sessionId)
  }

  delete(vs: string, sessionId: string): void {
    const r = this.sessions.get(k(vs, sessionId))
    if (!r) return
    this.sessions.delete(k(vs, sessionId))
    this.client(vs, r.clientId)?.sessions.delete(sessionId)
  }

  client(vs: string, clientId: string): ClientEntry | undefined {
    return this.clients.get(k(vs, clientId))
  }

  setClient(e: ClientEntry): void {
    this.clients.set(k(e.vs, e.clientId), e)
  }

  /** Forgets a client and its sessions here (a copy its primary no longer uses). */
  dropClient(vs: string, clientId: string): void {
    for (const r of this.sessionsOf(vs, clientId)) this.sessions.delete(k(vs, r.sessionId))
    this.clients.delete(k(vs, clientId))
  }

  allClients(): ClientEntry[] {
    return [...this.clients.values()]
  }

  sessionsOf(vs: string, clientId: string): SessionRecord[] {
    const e = this.client(vs, clientId)
    return e ? [...e.sessions].map((id) => this.get(vs, id)).filter((r): r is SessionRecord => r !== undefined) : []
  }

  /** Drops every expired session; returns how many. */
  sweep(): number {
    let n = 0
    for (const r of [...this.sessions.values()]) {
      if (r.expiresAt <= this.now()) {
        this.delete(r.vs, r.sessionId)
        n++
      }
    }
    return n
  }

  size(): number {
    return this.sessions.size
  }
}
