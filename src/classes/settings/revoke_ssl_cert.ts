import { defineAction } from '../context.js';
import { KeyError, canonicalKey, keyChecksum } from '../../store/keys.js';
import { badRequest } from '../../core/errors.js';
import { refused, targetUser } from './keys.js';

export default defineAction('rpc/settings/revoke_ssl_cert', {
  permission: null,
  write: true,
  async handler({ pub_key, md5_key, user }, ctx) {
    const username = targetUser(user, ctx);
    let checksum = md5_key;
    if (pub_key !== undefined) {
      try {
        checksum = keyChecksum(canonicalKey(pub_key));
      } catch (err) {
        if (err instanceof KeyError) throw badRequest(`pub_key: ${err.message}`, [{ path: '/args/pub_key', message: err.message }]);
        throw err;
      }
    }
    try {
      await ctx.services.users.removeKey(username, checksum!);
    } catch (err) {
      throw refused(err);
    }
    return { user: username, md5_key: checksum! };
  },
});
