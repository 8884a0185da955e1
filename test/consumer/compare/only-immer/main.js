import { produce, enablePatches, produceWithPatches, applyPatches } from 'immer'
enablePatches()
window.x = { produce, produceWithPatches, applyPatches }
