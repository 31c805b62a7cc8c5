import type { IncomingMessage } from 'node:http';
import type busboy from 'busboy';
import { lazyRequire } from '../../core/lazy.js';
import { RpcError, badRequest } from '../../core/errors.js';
import { readBytes } from '../../server/http-io.js';

export interface DcRequest {
  /** After Rack's MethodOverride: a POST with `_method=delete` is a DELETE. */
  method: string;
  /** Path segments after /api, decoded, without their matrix parameters. */
  segments: string[];
  /** Query, then matrix (`run;id=ID`), then body parameters: later ones win. */
  params: Record<string, string>;
  query: URLSearchParams;
}

const MAX_FIELDS = 64;

const multipart = lazyRequire<typeof busboy>('busboy');

/** The path after `/api` split into segments and matrix parameters, as Rack::MatrixParams reads it. */
export function parsePath(pathname: string): { segments: string[]; matrix: Record<string, string> } {
  const matrix: Record<string, string> = {};
  const segments: string[] = [];
  for (const raw of pathname.split('/').slice(2)) {
    const [name, ...pairs] = raw.split(';');
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq > 0) matrix[decode(pair.slice(0, eq))] = decode(pair.slice(eq + 1));
    }
    if (name !== '') segments.push(decode(name));
  }
  return { segments, matrix };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw badRequest('bad percent-encoding in the URL');
  }
}

/**
 * Deltacloud's clients send parameters as form-urlencoded or multipart/form-data (curl -F, the
 * seed's run), and some as JSON; a file part counts as a field holding the file's text.
 */
export async function readParams(req: IncomingMessage, limit: number): Promise<Record<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'multipart/form-data') {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw new RpcError(413, `body of ${declared} bytes exceeds max_frame_bytes ${limit}`);
    return readMultipart(req, limit);
  }
  const body = await readBytes(req, limit);
  if (body.length === 0) return {};
  if (type === 'application/x-www-form-urlencoded' || type === '') {
    const fields: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) fields[k] = v;
    return fields;
  }
  if (type === 'application/json') return jsonFields(body);
  throw new RpcError(415, `a body must be application/x-www-form-urlencoded, multipart/form-data or application/json, not ${type.slice(0, 100)}`, [], 'bad_request');
}

function jsonFields(body: Buffer): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badRequest(`malformed JSON body: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the JSON body must be an object of parameters');
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw badRequest(`${k}: a parameter must be a string or number`, [{ path: `/${k}`, message: 'must be a string' }]);
    fields[k] = String(v);
  }
  return fields;
}

function readMultipart(req: IncomingMessage, limit: number): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = multipart()({ headers: req.headers, limits: { fields: MAX_FIELDS, files: MAX_FIELDS, parts: MAX_FIELDS, fieldSize: limit, fileSize: limit } });
    } catch (err) {
      return reject(badRequest(`malformed multipart/form-data: ${(err as Error).message}`));
    }
    const fields: Record<string, string> = {};
    let size = 0;
    let failed = false;
    const fail = (error: RpcError) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(error);
    };
    const tooLarge = () => fail(new RpcError(413, `body exceeds max_frame_bytes ${limit}`));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge();
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return tooLarge();
      fields[name] = value;
    });
    bb.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', tooLarge);
      stream.on('end', () => (fields[name] = Buffer.concat(chunks).toString('utf8')));
    });
    for (const event of ['partsLimit', 'filesLimit', 'fieldsLimit']) bb.on(event, () => fail(badRequest(`more than ${MAX_FIELDS} form fields`)));
    bb.on('error', (err: Error) => fail(badRequest(`malformed multipart/form-data: ${err.message}`)));
    bb.on('close', () => {
      if (!failed) resolve(fields);
    });
    req.pipe(bb);
  });
}
