import { SshKeyStore } from '../../store/ssh-keys.js';
import { defineAction } from '../context.js';

export default defineAction('sysadm/key/delete', {
  permission: null,
  write: true,
  async handler({ name }, { services, user }) {
    await new SshKeyStore(services.config.state_dir).remove(user!.username, name);
    return { name, deleted: true as const };
  },
});
