import { RpcError, badRequest } from '../../core/errors.js';
import { AgentCommandError, AgentUnavailable } from '../../hypervisor/agent.js';
import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/run', {
  permission: 'vm.run',
  scope: 'vmid',
  write: true,
  async handler({ vmid, command, argv, stdin, timeout_s = 60 }, { services: { vms, log }, user }) {
    if ((command === undefined) === (argv === undefined)) {
      const message = 'give either command (a shell command line) or argv (a program and its arguments), exactly one';
      throw badRequest(`command: ${message}`, [{ path: '/args/command', message }]);
    }
    const agent = vms.agent(vmid);
    const name = vms.get(vmid).def.name;
    try {
      const r = await agent.exec(command ?? argv!, { stdin, timeoutMs: timeout_s * 1000 });
      // Who ran something where, and how it ended; never the command, which may hold secrets.
      log.info(`vm run on ${name} (${vmid}) by ${user!.username}: ${r.timedOut ? 'timed out' : `exit ${r.exitcode}`}`);
      return { exit_code: r.exitcode, stdout: r.stdout, stderr: r.stderr, timed_out: r.timedOut, truncated: r.truncated };
    } catch (err) {
      if (err instanceof AgentUnavailable) throw new RpcError(502, `the guest agent of VM '${name}' does not answer: ${err.message}`, [], 'agent_unavailable');
      if (err instanceof AgentCommandError) throw new RpcError(502, `the guest agent of VM '${name}' refused: ${err.message}`, [], 'agent_error');
      throw err;
    }
  },
});
