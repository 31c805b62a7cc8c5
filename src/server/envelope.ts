import { RpcError, badRequest } from '../core/errors.js';
import type { Request } from './router.js';

const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 128;

export type Parsed = { ok: true; req: Request } | { ok: false; namespace: string; id: string | number; error: RpcError };

/** Turns one text frame (or REST body) into a request, or an error that still carries what id it could find. */
export function parseEnvelope(text: string): Parsed {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch (err) {
    return fail('rpc', '', badRequest(`malformed JSON: ${(err as Error).message}`));
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return fail('rpc', '', badRequest('a request must be a JSON object with namespace, name, id and args'));
  }
  const m = msg as Record<string, unknown>;
  const details: { path: string; message: string }[] = [];
  let id: string | number = '';
  if (!Object.hasOwn(m, 'id')) details.push({ path: '/id', message: 'is required' });
  else if (typeof m.id === 'string' && m.id.length <= MAX_ID_LENGTH) id = m.id;
  else if (typeof m.id === 'number' && Number.isFinite(m.id)) id = m.id;
  else details.push({ path: '/id', message: `must be a string of at most ${MAX_ID_LENGTH} characters or a number` });
  for (const field of ['namespace', 'name'] as const) {
    const v = Object.hasOwn(m, field) ? m[field] : undefined;
    if (v === undefined) details.push({ path: `/${field}`, message: 'is required' });
    else if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH) {
      details.push({ path: `/${field}`, message: `must be a non-empty string of at most ${MAX_NAME_LENGTH} characters` });
    }
  }
  const namespace = typeof m.namespace === 'string' && m.namespace.length <= MAX_NAME_LENGTH && m.namespace ? m.namespace : 'rpc';
  if (details.length) return fail(namespace, id, badRequest('malformed request envelope', details));
  return {
    ok: true,
    req: { namespace: m.namespace as string, name: m.name as string, id, args: Object.hasOwn(m, 'args') ? m.args : undefined },
  };
}

function fail(namespace: string, id: string | number, error: RpcError): Parsed {
  return { ok: false, namespace, id, error };
}

export function responseFrame(namespace: string, id: string | number, args: unknown): string {
  return JSON.stringify({ namespace, name: 'response', id, args: args === undefined ? null : args });
}

export function errorFrame(namespace: string, id: string | number, error: RpcError): string {
  return JSON.stringify({ namespace, name: 'error', id, args: error.toArgs() });
}

/** Any thrown value as a client-safe error: RpcErrors pass, everything else is a 500 without internals. */
export function asRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  return new RpcError(500, 'internal error (see the daemon log)');
}
