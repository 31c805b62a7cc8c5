import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError, badRequest, unauthorized } from './errors.js';
import { execute } from './execute.js';
import type { Services } from './services.js';
import type { UserRecord } from '../store/users.js';

const ALLOW = 'PUT, OPTIONS';

/**
 * The REST shim: `PUT /<namespace>/<name>` with the args as body goes through the same router,
 * permission checks and logging as a WebSocket request; the status is the reply's code.
 */
export async function handleRest(req: IncomingMessage, res: ServerResponse, services: Services): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok', version: services.version });
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length !== 2) return send(res, 404, { args: new RpcError(404, `no such resource ${url.pathname}: use /<namespace>/<name>`).toArgs() });
  let namespace: string, name: string;
  try {
    [namespace, name] = parts.map(decodeURIComponent);
  } catch {
    return send(res, 400, { args: badRequest('bad percent-encoding in path').toArgs() });
  }
  if (req.method === 'OPTIONS') {
    if (!services.router.has(namespace, name)) return send(res, 404, { args: new RpcError(404, `unknown class '${namespace}/${name}'`).toArgs() });
    const schemas = services.router.listSchemas(null, { namespace, name });
    res.setHeader('Allow', ALLOW);
    return send(res, 200, { args: { allow: ALLOW.split(', '), actions: schemas[`${namespace}/${name}`] ?? {} } });
  }
  if (req.method !== 'PUT') {
    res.setHeader('Allow', ALLOW);
    return send(res, 405, { args: new RpcError(405, `method ${req.method} not allowed: use PUT`).toArgs() });
  }
  let body: string;
  try {
    body = await readBody(req, services.config.max_frame_bytes);
  } catch (err) {
    const e = err instanceof RpcError ? err : badRequest('could not read request body');
    if (e.code === 413) res.setHeader('Connection', 'close');
    return send(res, e.code, { args: e.toArgs() });
  }
  let args: unknown;
  if (body.trim() === '') args = undefined;
  else {
    try {
      args = JSON.parse(body);
    } catch (err) {
      return send(res, 400, { args: badRequest(`malformed JSON body: ${(err as Error).message}`).toArgs() });
    }
  }
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace, name, id: '', args },
    { remoteAddress, connection: null, authenticate: () => authenticate(req.headers.authorization, remoteAddress, services) },
    'rest',
  );
  send(res, reply.code, { args: reply.args });
}

async function authenticate(header: string | undefined, addr: string, services: Services): Promise<UserRecord> {
  if (!header) throw unauthorized('not authenticated: send Authorization: Basic or Bearer');
  const [scheme, value = ''] = header.split(' ', 2);
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized('malformed Basic credentials');
    return services.auth.password(decoded.slice(0, colon), decoded.slice(colon + 1), addr);
  }
  if (/^bearer$/i.test(scheme)) return services.auth.token(value.trim(), addr);
  throw unauthorized(`unsupported authorization scheme '${scheme.slice(0, 20)}'`);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new RpcError(413, `body of ${declared} bytes exceeds max_frame_bytes ${limit}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new RpcError(413, `body exceeds max_frame_bytes ${limit}`));
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      const buf = Buffer.concat(chunks);
      if (!isUtf8(buf)) reject(badRequest('body is not valid UTF-8'));
      else resolve(buf.toString('utf8'));
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
