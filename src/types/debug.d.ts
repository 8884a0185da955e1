/** The part of `debug` (namespaced diagnostics, enabled with DEBUG=domainmesh:*) the CLI uses. */
declare module 'debug' {
  interface Debugger {
    (formatter: unknown, ...args: unknown[]): void
    readonly enabled: boolean
    readonly namespace: string
  }
  interface Debug {
    (namespace: string): Debugger
    enable(namespaces: string): void
    enabled(name: string): boolean
  }
  const debug: Debug
  export default debug
}
