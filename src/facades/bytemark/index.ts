import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import { RpcError, badRequest, notFound } from '../../core/errors.js';
import type { UserRecord } from '../../store/users.js';
import { execute, type Reply } from '../../server/execute.js';
import { authenticate, readJsonBody, send } from '../../server/http-io.js';
import type { HttpFacade } from '../../server/http-facade.js';
import type { Caller } from '../../server/router.js';
import type { DaemonServices as Services } from '../../server/services.js';
import { groupId, renderDefinitions, renderDisc, renderVm, type VmInfo } from './render.js';
import { toCreateArgs, toBytemarkDetails } from './translate.js';

/** Bytemark BigV's paths (seeds/bytemark-vm_create.txt): /definitions and /accounts/{account}/groups/{group}/... */
export const bytemark: HttpFacade = {
  matches: (pathname) => pathname === '/definitions' || pathname === '/accounts' || pathname.startsWith('/accounts/'),
  handle: (req, res, url, services) => handleBytemark(req, res, url.pathname, services),
  refuse: (_req, res, error) => send(res, error.code, error.toArgs()),
};

class Failed extends Error {
  constructor(readonly reply: Reply) {
    super(reply.error?.message ?? 'failed');
  }
}

/**
 * One Bytemark request, onto the sysadm actions through the router: `account` names the caller
 * (Bytemark accounts are hyved users; the signed-in identity is what counts), `group` is a hyved
 * group by name or by its numeric id. Errors keep hyved's body `{code,reason,message,details}` with
 * details pointing at the Bytemark fields.
 */
async function handleBytemark(req: IncomingMessage, res: ServerResponse, pathname: string, services: Services): Promise<void> {
  const remoteAddress = req.socket.remoteAddress ?? '';
  let who: Promise<UserRecord> | null = null;
  const caller: Caller = { remoteAddress, connection: null, authenticate: () => (who ??= authenticate(req.headers.authorization, remoteAddress, services)) };
  const call = async <T>(name: string, args: Record<string, unknown>): Promise<{ code: number; result: T }> => {
    const reply = await execute(services, { namespace: 'sysadm', name, id: '', args }, caller, 'rest');
    if (reply.error) throw new Failed(reply);
    return { code: reply.code, result: reply.args as T };
  };
  try {
    let parts: string[];
    try {
      parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw badRequest('bad percent-encoding in path');
    }
    const route = `${req.method} ${parts.length === 1 ? parts[0] : parts[0] === 'accounts' && parts[2] === 'groups' ? parts.slice(4).map((p, i) => (i === 1 ? ':id' : p)).join('/') : '?'}`;
    if (route === 'GET definitions') {
      const { result } = await call<{ distributions: { name: string; description: string }[]; storage_grades: string[] }>('dist', { action: 'definitions' });
      return send(res, 200, renderDefinitions(result, os.hostname()));
    }
    if (parts[0] !== 'accounts' || parts[2] !== 'groups' || parts.length < 5) throw notFound(`no Bytemark endpoint ${pathname}`);
    const account = parts[1];
    const gid = await resolveGroup(parts[3], call);
    const host = os.hostname();
    const vmInfo = (vmid: string) => call<VmInfo>('vm', { action: 'info', vmid }).then((r) => r.result);
    switch (route) {
      case 'POST vm_create': {
        const body = await readJsonBody(req, res, services.config.max_frame_bytes);
        if (!body.ok) throw body.error;
        const { args, reimageEcho, cdromUrl } = toCreateArgs(body.value, gid);
        const created = await call<{ vmid: string }>('vm', args);
        const vm = await vmInfo(created.result.vmid);
        return send(res, 202, {
          virtual_machine: { ...renderVm(vm, account, host, cdromUrl), power_on: vm.state === 'RUNNING' },
          discs: vm.discs.map((d) => renderDisc(vm, d)),
          // The seed's reply repeats the reimage request to its sender; nothing of it is kept.
          ...(reimageEcho ? { reimage: reimageEcho } : {}),
        });
      }
      case 'GET virtual_machines': {
        const { result } = await call<{ vms: { vmid: string }[] }>('vm', { action: 'list', gid });
        const vms = await Promise.all(result.vms.map((v) => vmInfo(v.vmid)));
        return send(res, 200, vms.map((vm) => renderVm(vm, account, host)));
      }
      case 'GET virtual_machines/:id': {
        const id = parts[5];
        // Velocity's list has its fixed fields only: the numeric id is read from each VM's info.
        const { result } = await call<{ vms: { vmid: string; name: string }[] }>('vm', { action: 'list', gid });
        const byName = result.vms.find((v) => v.name === id || v.vmid === id);
        const vms = byName ? [await vmInfo(byName.vmid)] : /^\d+$/.test(id) ? await Promise.all(result.vms.map((v) => vmInfo(v.vmid))) : [];
        const found = vms.find((v) => v.name === id || v.vmid === id || v.num === Number(id));
        if (!found) throw notFound(`no virtual machine '${id}' in group '${parts[3]}'`);
        return send(res, 200, renderVm(found, account, host));
      }
      default:
        throw notFound(`no Bytemark endpoint ${req.method} ${pathname}`);
    }
  } catch (err) {
    if (err instanceof Failed) return send(res, err.reply.code, toBytemarkDetails(err.reply.args));
    const e = err instanceof RpcError ? err : new RpcError(500, (err as Error).message);
    send(res, e.code, e.toArgs());
  }
}

/** A group by name, or by the numeric id Bytemark clients hold; 404 for one the caller cannot see. */
async function resolveGroup(group: string, call: <T>(name: string, args: Record<string, unknown>) => Promise<{ result: T }>): Promise<string> {
  const { result } = await call<{ groups: { gid: string }[] }>('vm', { action: 'definitions' });
  const found = result.groups.find((g) => g.gid === group || (/^\d+$/.test(group) && groupId(g.gid) === Number(group)));
  if (!found) throw notFound(`no group '${group}'`);
  return found.gid;
}

