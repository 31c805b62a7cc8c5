import { defineAction } from '../context.js';

export default defineAction('rpc/auth_token', {
  permission: null,
  anonymous: true,
  barrier: true,
  async handler({ token }, { services, remoteAddress, connection }) {
    const user = await services.auth.token(token, remoteAddress);
    connection?.signIn(token, user);
    return [token, services.auth.tokenSeconds];
  },
});
