/**
 * Immer with its patch plugin loaded. Immer keeps its plugins in module state, so the plugin is
 * enabled here once and everything that makes patches imports produceWithPatches from here.
 * The export is a function of this module, not a re-export of Immer's: the package says
 * `"sideEffects": false`, and a bundler may resolve a plain re-export straight to Immer and leave
 * this module, and the enablePatches() call, out.
 */
import { enablePatches, produceWithPatches as immerProduceWithPatches } from 'immer'

enablePatches()

/** Immer's `produceWithPatches`, called through this module. */
export const produceWithPatches = ((...args: unknown[]) => (immerProduceWithPatches as (...a: unknown[]) => unknown)(...args)) as unknown as typeof immerProduceWithPatches
