import { defineAction } from '../../core/action.js';

export default defineAction<{ username: string; password: string }>({
  namespace: 'rpc',
  name: 'auth',
  permission: null,
  anonymous: true,
  barrier: true,
  async handler({ username, password }, { services, remoteAddress, connection }) {
    const { user, token } = await services.auth.login(username, password, remoteAddress);
    connection?.signIn(token, user);
    return [token, services.auth.tokenSeconds];
  },
});
