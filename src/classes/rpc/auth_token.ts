import { defineAction } from '../../core/action.js';

export default defineAction<{ token: string }>({
  namespace: 'rpc',
  name: 'auth_token',
  permission: null,
  anonymous: true,
  barrier: true,
  async handler({ token }, { services, remoteAddress, connection }) {
    const user = await services.auth.token(token, remoteAddress);
    connection?.signIn(token, user);
    return [token, services.auth.tokenSeconds];
  },
});
