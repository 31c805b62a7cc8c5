import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError } from '../../core/errors.js';
import type { HttpFacade } from '../../server/http-facade.js';
import type { DaemonServices as Services } from '../../server/services.js';
import { sendError } from './envelope.js';
import { handleVssImage } from './image.js';

/** VSS's REST API (DESIGN §8): the paths hyved serves so far. */
async function handleVss(req: IncomingMessage, res: ServerResponse, url: URL, services: Services): Promise<void> {
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '/v2/image') return handleVssImage(req, res, url.searchParams, services);
  sendError(req, res, path.slice(4), new RpcError(404, `no VSS resource ${url.pathname.slice(0, 100)}: hyved serves /v2/image`));
}

export const vss: HttpFacade = {
  matches: (pathname) => pathname === '/v2' || pathname.startsWith('/v2/'),
  handle: handleVss,
  refuse(req, res, error) {
    sendError(req, res, 'image', error);
  },
};
