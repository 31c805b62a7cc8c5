import type { Services } from '../classes/context.js';
import type { Authenticator } from './auth.js';
import type { Router } from './router.js';

/** The services as the transports see them: the handlers' view plus the concrete auth and router. */
export interface DaemonServices extends Services {
  auth: Authenticator;
  router: Router;
}
