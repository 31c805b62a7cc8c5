import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError, badRequest } from '../core/errors.js';
import { execute } from './execute.js';
import { authenticate, readJsonBody, send } from './http-io.js';
import type { DaemonServices as Services } from './services.js';

interface Route {
  name: 'vm' | 'nic';
  action: string;
  /** Fields the path itself decides (the EFI in /v/vm/efi). */
  fixed?: Record<string, unknown>;
  /** A field whose presence (true) or absence (false) tells a change from a query. */
  stateField?: boolean;
  /** The seed's code for a missing permission where it is not hyved's 403. */
  forbidden?: 401 | 404;
}

/**
 * Velocity's endpoints (seeds/velocity-vm-management.txt), each onto the sysadm action it names.
 * `/v/vm/state` is a query by POST and a change by PUT, so a request's method cannot turn one into
 * the other.
 */
const ROUTES: Record<string, Route> = {
  'POST /v/vm/list': { name: 'vm', action: 'list', forbidden: 401 },
  // A VM the caller may not view does not exist for them.
  'POST /v/vm': { name: 'vm', action: 'info', forbidden: 404 },
  'PUT /v/vm/efi': { name: 'vm', action: 'create', fixed: { type: 'EFI' }, forbidden: 401 },
  'POST /v/vm/state': { name: 'vm', action: 'state', stateField: false },
  'PUT /v/vm/state': { name: 'vm', action: 'state', stateField: true },
  'POST /v/nic/list': { name: 'nic', action: 'list' },
};

const PATHS = new Map<string, string[]>();
for (const key of Object.keys(ROUTES)) {
  const [method, path] = key.split(' ');
  PATHS.set(path, [...(PATHS.get(path) ?? []), method]);
}

export function isVelocityPath(pathname: string): boolean {
  return pathname === '/v' || pathname.startsWith('/v/');
}

/**
 * Velocity requests as the seed writes them: the caller's `authkey` (a hyved session token) in the
 * JSON body, or an Authorization header as on the REST shim; the reply body is the result itself,
 * or `{code,message,details}`, with the code as the HTTP status.
 */
export async function handleVelocity(req: IncomingMessage, res: ServerResponse, pathname: string, services: Services): Promise<void> {
  const methods = PATHS.get(pathname);
  if (!methods) return sendError(res, new RpcError(404, `no Velocity endpoint ${pathname}: known are ${[...PATHS.keys()].join(', ')}`));
  const route = ROUTES[`${req.method} ${pathname}`];
  if (!route) {
    res.setHeader('Allow', methods.join(', '));
    return sendError(res, new RpcError(405, `method ${req.method} not allowed on ${pathname}: use ${methods.join(' or ')}`));
  }
  const body = await readJsonBody(req, res, services.config.max_frame_bytes);
  if (!body.ok) return sendError(res, body.error);
  const raw = body.value ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return sendError(res, badRequest('the body must be a JSON object'));
  const { authkey, ...fields } = raw as Record<string, unknown>;
  if (authkey !== undefined && typeof authkey !== 'string') {
    return sendError(res, badRequest('authkey must be a string', [{ path: '/authkey', message: 'must be string' }]));
  }
  if (route.stateField === false && 'state' in fields) {
    return sendError(res, badRequest('POST /v/vm/state only reads the state: use PUT to change it', [{ path: '/state', message: 'not allowed with POST' }]));
  }
  if (route.stateField === true && !('state' in fields)) {
    return sendError(res, badRequest('PUT /v/vm/state needs the state to change to', [{ path: '/state', message: "must have required property 'state'" }]));
  }
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace: 'sysadm', name: route.name, id: '', args: { ...fields, ...route.fixed, action: route.action } },
    {
      remoteAddress,
      connection: null,
      authenticate: () =>
        authkey !== undefined ? services.auth.token(authkey, remoteAddress) : authenticate(req.headers.authorization, remoteAddress, services),
    },
    'rest',
  );
  if (reply.error?.reason === 'forbidden' && route.forbidden) {
    const seed = route.forbidden === 404 ? new RpcError(404, `no VM with vmid '${String(fields.vmid)}'`) : new RpcError(401, reply.error.message);
    return sendError(res, seed);
  }
  send(res, reply.code, reply.args);
}

function sendError(res: ServerResponse, error: RpcError): void {
  send(res, error.code, error.toArgs());
}
