/**
 * What a Node peer's environment should hold beyond its secret. glibc reads MALLOC_ARENA_MAX once,
 * as the process starts, so a launcher has to set it: `npm start` and the tests' and benchmark's
 * peers do, and an operator's service file should (docs/operations.md, "Running peers yourself").
 *
 * Without it glibc gives every thread that finds an arena busy a new one, up to 8 per core, and
 * each keeps the pages freed in it: V8's compiler and collector threads, libuv's, the WebRTC
 * stack's. With 2, the surviving peer of the healing benchmark sat at 104.6 and 106.9 MB at rest
 * with 100,000 objects, against 111.4 and 111.8 MB. The same limit set from inside the process
 * (mallopt through koffi, once the node command runs) changed nothing, 110.6 and 111.7 MB: the
 * arenas that matter exist by then.
 */
export function peerEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  // An empty value is no choice: glibc ignores it.
  return env.MALLOC_ARENA_MAX ? {} : { MALLOC_ARENA_MAX: '2' }
}
