import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RpcError, badRequest } from '../core/errors.js';
import { ovaInspector, type OvaInput } from '../provision/ovf/ova.js';
import { SHARED_FOLDER } from '../provision/image-store.js';
import { limitsOf } from '../classes/image/common.js';
import { execute } from './execute.js';
import { authenticate, send } from './http-io.js';
import type { DaemonServices as Services } from './services.js';

export function isUploadPath(pathname: string): boolean {
  return pathname === '/upload' || pathname.startsWith('/upload/');
}

/** What the parser is fed at a time: its per-write cost made 64 KiB socket chunks parse at 660 MiB/s, 1 MiB at 1,060. */
const BATCH = 1024 * 1024;

/**
 * Passes the body on, stopping it at `max` bytes (the declared length is not trusted), and copies
 * it into `side` in BATCH-sized writes, waiting for it (backpressure); a side that failed is left
 * out. One stage for both: each stage of a pipe costs the main thread a hop per chunk.
 */
function boundedTee(max: number, side: OvaInput): Transform {
  let seen = 0;
  let batch = Buffer.allocUnsafeSlow(BATCH);
  let filled = 0;
  /** Hands the batch to the parser (which keeps slices of it: a new one each time); calls `then` once it may take more. */
  const feed = (then: () => void) => {
    const out = batch.subarray(0, filled);
    batch = Buffer.allocUnsafeSlow(BATCH);
    filled = 0;
    if (side.destroyed || side.write(out)) return then();
    const go = () => {
      side.off('drain', go).off('close', go);
      then();
    };
    side.on('drain', go).on('close', go);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) return done(new RpcError(413, `the upload is larger than images.max_upload_bytes (${max})`));
      this.push(chunk);
      let at = 0;
      const step = (): void => {
        while (at < chunk.length) {
          const n = chunk.copy(batch, filled, at);
          filled += n;
          at += n;
          if (filled === BATCH) return feed(step);
        }
        done();
      };
      step();
    },
    flush(done) {
      const end = () => {
        side.end(undefined);
        done();
      };
      if (filled > 0) feed(end);
      else end();
    },
  });
}

/** Bodies up to this size are read and dropped before a refusal, so that clients that send the whole body first see the answer. */
const DRAIN_BYTES = 1024 * 1024;

async function fail(req: IncomingMessage, res: ServerResponse, error: RpcError): Promise<void> {
  const length = Number(req.headers['content-length'] ?? NaN);
  if (!req.complete && !req.destroyed && length <= DRAIN_BYTES) {
    await new Promise<void>((resolve) => {
      req.on('end', resolve).on('error', resolve).on('close', resolve);
      req.resume();
    });
  }
  // A body left unread cannot be followed by another request on this connection.
  else if (!res.headersSent) res.setHeader('Connection', 'close');
  send(res, error.code, { args: error.toArgs() });
}

/**
 * `PUT /upload/ova/<file>` (the shared folder, `images/<file>`) or `/upload/ova/<folder>/<file>`:
 * the raw body is an OVA. The image class's `upload` action checks the caller (Basic or Bearer),
 * the path and image.manage through the router, as any request; the body then streams into a hidden
 * temp file in the store, never held in memory, bounded by images.max_upload_bytes; the OVA is
 * checked whole (tar members, manifest digests) and moved in only then: 201 with its path.
 */
export async function handleUpload(req: IncomingMessage, res: ServerResponse, pathname: string, services: Services, search: URLSearchParams): Promise<void> {
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
  if (parts[0] !== 'ova') return fail(req, res, new RpcError(404, `no upload store '${(parts[0] ?? '').slice(0, 40)}': use /upload/ova/<file>`));
  const rest = parts.slice(1);
  if (rest.length < 1 || rest.length > 2) return fail(req, res, badRequest('use /upload/ova/<file>.ova or /upload/ova/<folder>/<file>.ova'));
  const imagePath = rest.length === 1 ? `${SHARED_FOLDER}/${rest[0]}` : rest.join('/');
  const max = services.config.images.max_upload_bytes;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return fail(req, res, new RpcError(413, `a body of ${declared} bytes is larger than images.max_upload_bytes (${max})`));
  const overwrite = search.get('overwrite') === 'true';
  const remoteAddress = req.socket.remoteAddress ?? '';
  const reply = await execute(
    services,
    { namespace: 'sysadm', name: 'image', id: '', args: { action: 'upload', path: imagePath, overwrite } },
    { remoteAddress, connection: null, authenticate: () => authenticate(req.headers.authorization, remoteAddress, services) },
    'rest',
  );
  if (reply.error) return fail(req, res, reply.error);
  const slot = services.images.takeUpload((reply.args as { slot: string }).slot)!;
  try {
    // The archive is checked (members, digests) as it arrives, beside the write to disk, so the
    // upload is not followed by a second read of the whole file; a bad member stops it early.
    const limits = limitsOf(services.config);
    const inspector = ovaInspector(limits);
    const stop = new AbortController();
    inspector.result.catch((err: unknown) => stop.abort(err));
    await pipeline(req, boundedTee(max, inspector.input), createWriteStream(slot.temp, { flags: 'wx', mode: 0o644, highWaterMark: 256 * 1024 }), { signal: stop.signal }).catch((err: unknown) => {
      const why = stop.signal.aborted ? stop.signal.reason : err;
      throw why instanceof RpcError ? why : badRequest(`the upload was cut off before its end: ${(why as Error).message}`);
    });
    const image = await services.images.commitOva(slot.temp, slot.ref, slot.overwrite, limits, undefined, await inspector.result);
    services.log.info(`uploaded image ${slot.ref.path} (${image.bytes} bytes)`);
    send(res, 201, { args: { path: slot.ref.path, name: slot.ref.file, size: image.bytes } });
  } catch (err) {
    await rm(slot.temp, { force: true });
    const error = err instanceof RpcError ? err : new RpcError(500, `upload failed: ${(err as Error).message}`);
    if (error.code >= 500) services.log.error(`upload of ${slot.ref.path} failed: ${(err as Error).message}`);
    await fail(req, res, error);
  }
}
