/**
 * What the daemon must answer to a frame, worked out from the exact bytes the way the daemon
 * reads them (src/server/connection.ts, envelope.ts, router.ts): the reply id, and where the
 * outcome is already decided before any handler runs, the error code.
 */
import { isUtf8 } from 'node:buffer';
import type { ActionInfo } from './mutate.js';
import { isValid } from './schema-gen.js';

const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 128;

export interface Expectation {
  /** The id the reply must carry. */
  id: string | number;
  /** Set when the envelope parsed: the reply's namespace. */
  namespace?: string;
  /** Codes the reply may have (200 stands for a "response"); undefined: any allowed code. */
  codes?: number[];
  /** Why the codes are what they are. */
  reason: string;
  /** The action the frame reaches, if it reaches one. */
  action?: ActionInfo;
  /** The parsed request, when the envelope is valid. */
  req?: { namespace: string; name: string; args: unknown };
  /** For a reached action: whether its args pass its schema here. */
  argsValid?: boolean;
}

export interface Registry {
  /** "ns/name" -> action name -> info; plain classes have one entry keyed by their name. */
  classes: Map<string, Map<string, ActionInfo>>;
  maxFrameBytes: number;
}

export function expectationFor(data: string | Buffer, binary: boolean, authed: boolean, reg: Registry): Expectation {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (binary) return { id: '', codes: [400], reason: 'binary frame' };
  if (buf.length > reg.maxFrameBytes) return { id: '', codes: [413], reason: 'frame over max_frame_bytes' };
  if (!isUtf8(buf)) return { id: '', codes: [400], reason: 'invalid UTF-8' };
  let msg: unknown;
  try {
    msg = JSON.parse(buf.toString('utf8'));
  } catch {
    return { id: '', codes: [400], reason: 'malformed JSON' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { id: '', codes: [400], reason: 'not an object' };
  const m = msg as Record<string, unknown>;
  let id: string | number = '';
  let bad = false;
  if (!Object.hasOwn(m, 'id')) bad = true;
  else if (typeof m.id === 'string' && m.id.length <= MAX_ID_LENGTH) id = m.id;
  else if (typeof m.id === 'number' && Number.isFinite(m.id)) id = m.id;
  else bad = true;
  for (const field of ['namespace', 'name']) {
    const v = Object.hasOwn(m, field) ? m[field] : undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH) bad = true;
  }
  const ns = typeof m.namespace === 'string' && m.namespace.length <= MAX_NAME_LENGTH && m.namespace ? m.namespace : 'rpc';
  if (bad) return { id, namespace: ns, codes: [400], reason: 'malformed envelope' };
  const req = { namespace: m.namespace as string, name: m.name as string, args: Object.hasOwn(m, 'args') ? m.args : undefined };
  const base = { id, namespace: req.namespace, req };
  const cls = reg.classes.get(`${req.namespace}/${req.name}`);
  if (!cls) return { ...base, codes: [400], reason: 'unknown class' };
  const args = req.args === undefined ? {} : req.args;
  let action: ActionInfo | undefined;
  const single = [...cls.values()].find((a) => a.action === null);
  if (single) action = single;
  else {
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ...base, codes: [400], reason: 'args not an object' };
    const a = (args as Record<string, unknown>).action;
    if (typeof a !== 'string') return { ...base, codes: [400], reason: 'no args.action' };
    action = cls.get(a);
    // A Map lookup: "__proto__" or "constructor" are unknown actions like any other.
    if (!action) return { ...base, codes: [400], reason: 'unknown action' };
  }
  if (!action.anonymous && !authed) return { ...base, action, codes: [401], reason: 'not signed in' };
  const argsValid = isValid(action.schema, args);
  // A signed-in connection can lose its session under it (another connection cleared the shared token): 401.
  if (!argsValid) return { ...base, action, argsValid, codes: action.anonymous ? [400] : [400, 401], reason: 'args fail the schema' };
  return { ...base, action, argsValid, reason: 'valid' };
}
