import { defineAction } from '../context.js';

// sysadm's key sign-in. Stage 1 (no encrypted_string; the Qt client sends args "") hands out a
// test string; stage 2 returns it encrypted with the private key, and the public key that opens it
// names the user. Both stages go to the same connection: the test string is bound to it.
export default defineAction('rpc/auth_ssl', {
  permission: null,
  anonymous: true,
  barrier: true,
  async handler(args, { services, remoteAddress, connection }) {
    const signed = typeof args === 'object' && args !== null ? args.encrypted_string : undefined;
    if (signed === undefined) return { test_string: services.auth.keyChallenge(remoteAddress, connection) };
    const { user, token } = await services.auth.keyLogin(signed, remoteAddress, connection);
    connection?.signIn(token, user);
    return [token, services.auth.tokenSeconds];
  },
});
