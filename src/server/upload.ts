import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { RpcError, badRequest } from '../core/errors.js';
import { SHARED_FOLDER } from '../provision/image-store.js';
import { execute } from './execute.js';
import { UploadBody } from './upload-body.js';
import { authenticate, send } from './http-io.js';
import type { DaemonServices as Services } from './services.js';

export function isUploadPath(pathname: string): boolean {
  return pathname === '/upload' || pathname.startsWith('/upload/');
}

/** Bodies up to this size are read and dropped before a refusal, so that clients that send the whole body first see the answer. */
const DRAIN_BYTES = 1024 * 1024;

/** A refusal waiting for its small body to drain: what the idle deadline answers if the client stalls meanwhile. */
const draining = new WeakMap<ServerResponse, RpcError>();

async function fail(req: IncomingMessage, res: ServerResponse, error: RpcError): Promise<void> {
  const length = Number(req.headers['content-length'] ?? NaN);
  if (!req.complete && !req.destroyed && length <= DRAIN_BYTES) {
    draining.set(res, error);
    await new Promise<void>((resolve) => {
      req.on('end', resolve).on('error', resolve).on('close', resolve);
      req.resume();
    });
  }
  // A body left unread cannot be followed by another request on this connection.
  else if (!res.headersSent) res.setHeader('Connection', 'close');
  send(res, error.code, { args: error.toArgs() });
}

type Reservation = { name: string; args: Record<string, unknown> } | { error: string };

/**
 * The stores a body can be PUT into (DESIGN §11), each by its class's upload action, which checks
 * the caller, the name and the permission through the router as any request, and says where the
 * body goes and how it is checked (classes/uploads.ts): one transport for all three.
 */
const STORES: Record<string, (rest: string[], overwrite: boolean) => Reservation> = {
  ova: (rest, overwrite) =>
    rest.length === 1 || rest.length === 2
      ? { name: 'image', args: { action: 'upload', path: rest.length === 1 ? `${SHARED_FOLDER}/${rest[0]}` : rest.join('/'), overwrite } }
      : { error: 'use /upload/ova/<file>.ova or /upload/ova/<folder>/<file>.ova' },
  iso: (rest, overwrite) => (rest.length === 1 ? { name: 'iohyve', args: { action: 'uploadiso', name: rest[0], overwrite } } : { error: 'use /upload/iso/<file>' }),
  dist: (rest, overwrite) =>
    rest.length === 2 ? { name: 'dist', args: { action: 'upload', name: rest[0], file: rest[1], overwrite } } : { error: 'use /upload/dist/<distribution>/<file>' },
};

/**
 * `PUT /upload/<store>/...` with the raw file as the body (ova: an OVA, as `images/<file>` or
 * `<folder>/<file>`; iso: an ISO 9660 image; dist: one file of a distribution's folder). The
 * body streams into a hidden temp file in the store, never held in memory, bounded by
 * images.max_upload_bytes, checked as it arrives and again when complete, and moved in only then:
 * 201 with what was stored. An upload has no whole-request deadline (a big file over a slow link
 * takes hours), only http.upload_idle_timeout_s: no bytes for that long and it is cut off.
 */
export async function handleUpload(req: IncomingMessage, res: ServerResponse, pathname: string, services: Services, search: URLSearchParams): Promise<void> {
  const stop = new AbortController();
  const idle = services.config.http.upload_idle_timeout_s;
  req.setTimeout(idle * 1000, () => {
    const error = draining.get(res) ?? new RpcError(408, `no bytes of the upload arrived for http.upload_idle_timeout_s (${idle} s): cut off`, [], 'bad_request');
    if (!res.headersSent) send(res.setHeader('Connection', 'close'), error.code, { args: error.toArgs() });
    stop.abort(error);
    req.destroy();
  });
  if (req.method !== 'PUT') {
    res.setHeader('Allow', 'PUT');
    return fail(req, res, new RpcError(405, `method ${req.method} not allowed on ${pathname}: use PUT with the file as the body`));
  }
  let parts: string[];
  try {
    parts = pathname.split('/').slice(2).map(decodeURIComponent);
  } catch {
    return fail(req, res, badRequest('bad percent-encoding in path'));
  }
  const store = Object.hasOwn(STORES, parts[0] ?? '') ? STORES[parts[0]] : null;
  if (!store) return fail(req, res, new RpcError(404, `no upload store '${(parts[0] ?? '').slice(0, 40)}': use /upload/ova|iso|dist/...`));
  const reservation = store(parts.slice(1), search.get('overwrite') === 'true');
  if ('error' in reservation) return fail(req, res, badRequest(reservation.error));
  const max = services.config.images.max_upload_bytes;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return fail(req, res, new RpcError(413, `a body of ${declared} bytes is larger than images.max_upload_bytes (${max})`));
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace: 'sysadm', name: reservation.name, id: '', args: reservation.args },
    { remoteAddress, connection: null, authenticate: () => authenticate(req.headers.authorization, remoteAddress, services) },
    'rest',
  );
  if (reply.error) return fail(req, res, reply.error);
  const plan = services.uploads.take((reply.args as { slot: string }).slot)!;
  const inspector = plan.inspect?.();
  try {
    inspector?.result.catch((err: unknown) => stop.abort(err));
    await pipeline(req, new UploadBody(plan.temp, max, inspector?.input), { signal: stop.signal }).catch((err: unknown) => {
      const why = stop.signal.aborted ? stop.signal.reason : err;
      throw why instanceof RpcError ? why : badRequest(`the upload was cut off before its end: ${(why as Error).message}`);
    });
    // All in: the checks that follow send nothing, and must not be taken for an idle client.
    req.setTimeout(0);
    send(res, 201, { args: await plan.commit(await inspector?.result) });
  } catch (err) {
    inspector?.input.destroy();
    await rm(plan.temp, { force: true });
    const error = err instanceof RpcError ? err : new RpcError(500, `upload failed: ${(err as Error).message}`);
    if (error.code >= 500) services.log.error(`upload of ${plan.what} failed: ${(err as Error).message}`);
    await fail(req, res, error);
  }
}
