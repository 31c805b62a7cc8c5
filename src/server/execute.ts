import { performance } from 'node:perf_hooks';
import { RpcError } from '../core/errors.js';
import { asRpcError } from './envelope.js';
import type { Caller, Request, Trace } from './router.js';
import type { DaemonServices as Services } from './services.js';

export interface Reply { code: number; args: unknown; error: RpcError | null }

/**
 * Runs one request through the router for either transport, and records it: a log line and an
 * `audit` event with user, class, action, code and duration. Args are never logged: they may hold secrets.
 */
export async function execute(services: Services, req: Request, caller: Caller, transport: 'ws' | 'rest'): Promise<Reply> {
  const started = performance.now();
  const trace: Trace = { user: null, action: null };
  let reply: Reply;
  try {
    const outcome = await services.router.dispatch(req, caller, trace);
    reply = { code: outcome.code, args: outcome.result, error: null };
  } catch (err) {
    if (!(err instanceof RpcError)) {
      services.log.error(`${req.namespace}/${req.name} failed: ${(err as Error)?.stack ?? String(err)}`);
    }
    const error = asRpcError(err);
    reply = { code: error.code, args: error.toArgs(), error };
  }
  const record = {
    transport,
    address: caller.remoteAddress,
    user: trace.user,
    namespace: req.namespace,
    name: req.name,
    action: trace.action,
    code: reply.code,
    ms: Math.round((performance.now() - started) * 100) / 100,
  };
  const level = reply.code >= 500 ? 'error' : 'info';
  // winston builds and formats a record before its transports drop it: skip that when nobody listens.
  if (services.log.isLevelEnabled(level)) services.log.log(level, 'request', record);
  services.events.publish('audit', record);
  return reply;
}
