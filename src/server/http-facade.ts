import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RpcError } from '../core/errors.js';
import type { DaemonServices } from './services.js';

/**
 * A foreign HTTP API served on the daemon's port (src/facades/<api>). The facades stand on the
 * server's floor and use it; the server knows them only through this shape, handed to it by the
 * command line that starts the daemon, so that neither imports the other both ways.
 */
export interface HttpFacade {
  /** Whether a request path is this API's. */
  matches(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL, services: DaemonServices): Promise<void>;
  /** An error answered before or instead of running a request (shutdown, foreign Origin), in the API's shape. */
  refuse(req: IncomingMessage, res: ServerResponse, error: RpcError): void;
}
