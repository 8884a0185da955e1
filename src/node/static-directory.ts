/** A directory that is told who is in the cluster, for tests and fixed deployments. */
import type { Directory, MemberInfo } from '../routing/engine.js'

export class StaticDirectory implements Directory {
  private list: MemberInfo[]
  constructor(members: MemberInfo[] = []) {
    this.list = members
  }
  members(): readonly MemberInfo[] {
    return this.list
  }
  set(members: MemberInfo[]): void {
    this.list = members
  }
}
