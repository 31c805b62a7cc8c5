import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError } from '../../core/errors.js';
import { send } from '../../server/http-io.js';
import type { DaemonServices as Services, HttpFacade } from '../../server/services.js';
import { handleVssImage } from './image.js';

function isVssPath(pathname: string): boolean {
  return pathname === '/v2' || pathname.startsWith('/v2/');
}

/** VSS's REST API (DESIGN §8): the paths hyved serves so far. */
async function handleVss(req: IncomingMessage, res: ServerResponse, url: URL, services: Services): Promise<void> {
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '/v2/image') return handleVssImage(req, res, url.searchParams, services);
  const e = new RpcError(404, `no VSS resource ${url.pathname.slice(0, 100)}: hyved serves /v2/image`);
  send(res, 404, { status: 404, error: e.reason, message: e.message });
}

export const vssFacade: HttpFacade = { owns: isVssPath, handle: handleVss };
