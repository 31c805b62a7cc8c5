import { defineAction } from '../context.js';
import { forbidden } from '../../core/errors.js';

// sysadm's dispatcher "run" executes arbitrary commands as root. hyved never does: no request
// field reaches a shell.
export default defineAction('rpc/dispatcher/run', {
  permission: null,
  handler() {
    throw forbidden('rpc/dispatcher run is refused: hyved does not run arbitrary commands');
  },
});
