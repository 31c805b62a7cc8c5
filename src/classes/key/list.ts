import { SshKeyStore } from '../../store/ssh-keys.js';
import { defineAction } from '../context.js';

// Keys are the caller's own: any signed-in user may keep some, and sees only theirs.
export default defineAction('sysadm/key/list', {
  permission: null,
  async handler(_args, { services, user }) {
    return { keys: await new SshKeyStore(services.config.state_dir).list(user!.username) };
  },
});
