import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError } from '../core/errors.js';

/**
 * Node's `server.requestTimeout` is one limit for every request on the server, so it would cut
 * a multi-GiB upload over a slow link. The server's is turned off and this puts the same limit on
 * each request instead (streamed uploads get an idle deadline in its place, see upload.ts): a
 * request whose body is not all in after `ms` is answered 408 by `refuse` and its connection
 * closed, so a client trickling bytes cannot hold a connection for ever.
 */
export function requestDeadline(req: IncomingMessage, res: ServerResponse, ms: number, refuse: (error: RpcError) => void): void {
  if (req.complete) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    if (!res.headersSent) {
      refuse(new RpcError(408, `the request was not received within http.request_timeout_s (${ms / 1000} s)`, [], 'bad_request'));
      res.once('finish', () => req.socket.destroy());
    } else req.socket.destroy();
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear).once('close', clear);
  res.once('close', clear);
}
