import { defineAction } from '../context.js';
import { sysadmKeyId } from '../../store/keys.js';
import { listedUsers } from './keys.js';

export default defineAction('rpc/settings/list_ssl_certs', {
  permission: null,
  async handler(_args, ctx) {
    await ctx.services.users.refresh();
    const out: Record<string, Record<string, string>> = {};
    for (const username of listedUsers(ctx)) {
      const keys = ctx.services.users.keysOf(username);
      if (keys.length === 0) continue;
      // sysadm's info text; its Qt client shows what follows "Nickname:" as the key's name.
      out[username] = Object.fromEntries(
        keys.map(({ checksum, key }) => [
          sysadmKeyId(key.pem),
          `Nickname: ${key.nickname ?? ''}\nEmail: ${key.email ?? ''}\nDate Registered: ${key.added}\nMD5: ${checksum}`,
        ]),
      );
    }
    return out;
  },
});
