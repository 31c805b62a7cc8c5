import { defineAction } from '../../core/action.js';
import { forbidden } from '../../core/errors.js';

// sysadm's dispatcher "run" executes arbitrary commands as root. hyved never does: no request
// field reaches a shell.
export default defineAction({
  namespace: 'rpc',
  name: 'dispatcher',
  action: 'run',
  permission: null,
  handler() {
    throw forbidden('rpc/dispatcher run is refused: hyved does not run arbitrary commands');
  },
});
