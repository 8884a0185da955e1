/**
 * The topology manager of one node: follows the views, serves them as the router's directory, and
 * drives the state manager through ownership changes. The state manager never sees the topology
 * service; it only gets views from here.
 */
import type { Directory, MemberInfo } from '../routing/engine.js'
import { Emitter } from '../util/events.js'
import type { View } from './view.js'

export interface TopologyEvents {
  view: { view: View }
}

export class TopologyManager implements Directory {
  readonly events = new Emitter<TopologyEvents>()
  private current: View = { epoch: 0, members: [] }

  constructor(private readonly onView: (view: View) => void) {}

  members(): readonly MemberInfo[] {
    return this.current.members
  }

  view(): View {
    return this.current
  }

  /** Takes a newer view; an older or equal epoch is ignored (views can arrive out of order). */
  applyView(view: View): boolean {
    if (view.epoch <= this.current.epoch) return false
    this.current = view
    this.onView(view)
    this.events.emit('view', { view })
    return true
  }
}
