import { defineAction } from '../context.js';

// sysadm sends no reply here; hyved does, so that every request has exactly one reply and a
// client awaiting it by id never hangs. sysadm clients ignore the extra frame.
export default defineAction('rpc/auth_clear', {
  permission: null,
  anonymous: true,
  barrier: true,
  handler(_args, { services, connection }) {
    const key = connection?.sessionKey;
    if (key) services.auth.endSession(key);
    connection?.signOut();
    return { cleared: Boolean(key) };
  },
});
