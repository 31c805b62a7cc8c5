import { defineAction } from '../context.js';

export default defineAction('rpc/auth', {
  permission: null,
  anonymous: true,
  barrier: true,
  async handler({ username, password }, { services, remoteAddress, connection }) {
    const { user, token } = await services.auth.login(username, password, remoteAddress);
    connection?.signIn(token, user);
    return [token, services.auth.tokenSeconds];
  },
});
