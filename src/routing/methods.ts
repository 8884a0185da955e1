/**
 * Builds an engine's `handle` from a table of methods, each with a schema (util/schema.ts) for its body.
 * Bodies are validated here, at the engine's boundary, so handlers only ever see typed input.
 */
import * as v from '../util/schema.js'
import { DomainMeshError } from '../errors.js'
import { parseFast, type Accept } from '../wire/fast-path.js'
import type { Request } from './engine.js'

export class UnknownMethodError extends DomainMeshError {
  constructor(method: string) {
    super('UNKNOWN_METHOD', `unknown method "${method}"`, { method })
  }
}

export class BadRequestError extends DomainMeshError {
  constructor(method: string, why: string) {
    super('BAD_REQUEST', `bad request to "${method}": ${why}`, { method })
  }
}

export interface Method<S extends v.GenericSchema> {
  input: S
  /** A hand-written check of the body's common shapes, tried before the schema (fast-path.ts). */
  accept?: Accept<v.InferOutput<S>>
  handle(body: v.InferOutput<S>, req: Request): unknown
}

export const method = <S extends v.GenericSchema>(input: S, handle: (body: v.InferOutput<S>, req: Request) => unknown, accept?: Accept<v.InferOutput<S>>): Method<S> => ({ input, handle, accept })

export function methodTable(table: Record<string, Method<v.GenericSchema>>): (req: Request) => unknown {
  return (req) => {
    const m = Object.hasOwn(table, req.method) ? table[req.method] : undefined
    if (!m) throw new UnknownMethodError(req.method)
    const parsed = parseFast(m.input, m.accept, req.body)
    if (!parsed.success) {
      const issue = parsed.issues[0]
      const path = issue?.path?.map((p) => String(p.key)).join('.')
      throw new BadRequestError(req.method, `${path ? `${path}: ` : ''}${issue?.message ?? 'invalid body'}`)
    }
    return m.handle(parsed.output, req)
  }
}
