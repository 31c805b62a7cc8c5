import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RpcError } from '../../core/errors.js';
import { send } from '../../server/http-io.js';

/** VSS's `_links`: the API root and the resource, on the host the client asked for. */
export function links(req: IncomingMessage, resource: string): { api: string; self: string } {
  const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const base = `${scheme}://${req.headers.host ?? 'localhost'}`;
  return { api: `${base}/v2/`, self: `${base}/v2/${resource}` };
}

/** An error in VSS's envelope: `_links` with `status`, `error` (the reason word), `message`, `details`. */
export function sendError(req: IncomingMessage, res: ServerResponse, resource: string, e: RpcError): void {
  send(res, e.code, { _links: links(req, resource), status: e.code, error: e.reason, message: e.message, details: e.details });
}
