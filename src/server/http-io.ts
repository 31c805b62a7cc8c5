/** Request and reply plumbing shared by the REST shim and the Velocity paths. */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserRecord } from '../store/users.js';
import { RpcError, badRequest, unauthorized } from '../core/errors.js';
import type { DaemonServices as Services } from './services.js';

export type JsonBody = { ok: true; value: unknown } | { ok: false; error: RpcError };

/**
 * A web page can send `text/plain` (or a form) to any site without a preflight, and so without the
 * Origin check's say; `application/json` needs one.
 */
const notJson = (type: string | undefined) =>
  new RpcError(415, `a body must be sent as Content-Type: application/json${type === undefined ? '' : `, not ${type.slice(0, 100)}`}`, [], 'bad_request');

/** The body parsed as JSON (undefined when empty), or the 400/413/415 to answer with. */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<JsonBody> {
  const type = req.headers['content-type'];
  if (type !== undefined && type.split(';')[0].trim().toLowerCase() !== 'application/json') {
    // The body is left unread.
    if (!res.headersSent) res.setHeader('Connection', 'close');
    return { ok: false, error: notJson(type) };
  }
  let body: string;
  try {
    body = await readBody(req, limit);
  } catch (err) {
    const error = err instanceof RpcError ? err : badRequest('could not read request body');
    // The rest of an oversized body is not read: the connection cannot carry another request.
    if (error.code === 413 && !res.headersSent) res.setHeader('Connection', 'close');
    return { ok: false, error };
  }
  if (body.trim() === '') return { ok: true, value: undefined };
  if (type === undefined) return { ok: false, error: notJson(type) };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (err) {
    return { ok: false, error: badRequest(`malformed JSON body: ${(err as Error).message}`) };
  }
}

export async function authenticate(header: string | undefined, addr: string, services: Services): Promise<UserRecord> {
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

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const buf = await readBytes(req, limit);
  if (!isUtf8(buf)) throw badRequest('body is not valid UTF-8');
  return buf.toString('utf8');
}

/** A request body, refused with 413 past `limit` bytes (declared or sent). */
export function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
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
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  // The shutdown answered a request it could not wait for with a 503; the handler still runs to its end.
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
