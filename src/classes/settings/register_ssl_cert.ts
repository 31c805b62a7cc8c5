import { defineAction } from '../context.js';
import { refused } from './keys.js';

export default defineAction('rpc/settings/register_ssl_cert', {
  permission: null,
  write: true,
  async handler({ pub_key, nickname, email }, { services, user }) {
    const username = user!.username;
    try {
      const { checksum, added } = await services.users.addKey(username, pub_key, { nickname, email });
      return { user: username, md5_key: checksum, added };
    } catch (err) {
      throw refused(err);
    }
  },
});
