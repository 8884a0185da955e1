/**
 * Immer with its patch plugin loaded. Immer keeps its plugins in module state, so the plugin is
 * enabled here once and everything that makes patches imports produceWithPatches from here.
 */
import { enablePatches, produceWithPatches } from 'immer'

enablePatches()

export { produceWithPatches }
