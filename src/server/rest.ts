import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError, badRequest } from '../core/errors.js';
import { execute } from './execute.js';
import { authenticate, readJsonBody, send } from './http-io.js';
import type { DaemonServices as Services } from './services.js';
import { handleVelocity, isVelocityPath } from './velocity.js';
import { handleUpload, isUploadPath } from './upload.js';
import type { HttpFacade } from './http-facade.js';
import { handleWeb, isWebPath } from './web.js';

const ALLOW = 'PUT, OPTIONS';

/** The request's URL as every route sees it (`..` resolved). Appended, not resolved against a base: `//x` would parse as a host (and `//` throw). */
export function requestUrl(req: IncomingMessage): URL {
  return new URL(`http://localhost${req.url?.startsWith('/') ? req.url : '/'}`);
}

/**
 * The REST shim: `PUT /<namespace>/<name>` with the args as body goes through the same router,
 * permission checks and logging as a WebSocket request; the status is the reply's code.
 */
export async function handleRest(req: IncomingMessage, res: ServerResponse, services: Services, facades: readonly HttpFacade[] = []): Promise<void> {
  const url = requestUrl(req);
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok', version: services.version });
  if (isWebPath(req.method, url.pathname)) return handleWeb(req, res, url.pathname);
  if (isVelocityPath(url.pathname)) return handleVelocity(req, res, url.pathname, services);
  if (isUploadPath(url.pathname)) return handleUpload(req, res, url.pathname, services, url.searchParams);
  const facade = facades.find((f) => f.matches(url.pathname));
  if (facade) return facade.handle(req, res, url, services);
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length !== 2) return send(res, 404, { args: new RpcError(404, `no such resource ${url.pathname}: use /<namespace>/<name>`).toArgs() });
  let namespace: string, name: string;
  try {
    [namespace, name] = parts.map(decodeURIComponent);
  } catch {
    return send(res, 400, { args: badRequest('bad percent-encoding in path').toArgs() });
  }
  // An unknown path is 404 whatever the method: the method is not what is wrong.
  if (!services.router.has(namespace, name)) return send(res, 404, { args: new RpcError(404, `unknown class '${namespace}/${name}'`).toArgs() });
  if (req.method === 'OPTIONS') {
    const schemas = services.router.listSchemas(null, { namespace, name });
    res.setHeader('Allow', ALLOW);
    return send(res, 200, { args: { allow: ALLOW.split(', '), actions: schemas[`${namespace}/${name}`] ?? {} } });
  }
  if (req.method !== 'PUT') {
    res.setHeader('Allow', ALLOW);
    return send(res, 405, { args: new RpcError(405, `method ${req.method} not allowed: use PUT`).toArgs() });
  }
  const body = await readJsonBody(req, res, services.config.max_frame_bytes);
  if (!body.ok) return send(res, body.error.code, { args: body.error.toArgs() });
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace, name, id: '', args: body.value },
    { remoteAddress, connection: null, authenticate: () => authenticate(req.headers.authorization, remoteAddress, services) },
    'rest',
  );
  send(res, reply.code, { args: reply.args });
}

/** An error answered before or instead of running the request, in the body shape of the path's API. */
export function refuse(req: IncomingMessage, res: ServerResponse, error: RpcError, facades: readonly HttpFacade[] = []): void {
  if (res.headersSent) return;
  const pathname = (req.url ?? '/').split('?')[0];
  const facade = facades.find((f) => f.matches(pathname));
  if (facade) {
    res.setHeader('Connection', 'close');
    return facade.refuse(req, res, error);
  }
  res.setHeader('Connection', 'close');
  send(res, error.code, isVelocityPath(pathname) ? error.toArgs() : { args: error.toArgs() });
}
