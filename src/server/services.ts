import type { Services } from '../classes/context.js';
import type { Authenticator } from './auth.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from './router.js';

/** The services as the transports see them: the handlers' view plus the concrete auth and router. */
export interface DaemonServices extends Services {
  auth: Authenticator;
  router: Router;
  /** Foreign APIs served on the REST port (VSS's /v2/...). */
  facades: HttpFacade[];
}

/**
 * A foreign HTTP API (src/facades/<api>, DESIGN §8) the REST port serves: the paths it owns and
 * their handler. The binary hands them to the daemon, so the server never imports a facade
 * (facades import the server's request plumbing).
 */
export interface HttpFacade {
  owns(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL, services: DaemonServices): Promise<void>;
}
