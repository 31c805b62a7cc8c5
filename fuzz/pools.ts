/**
 * Known-good values per field, shared by all connections: fixed ones (the admin's credentials,
 * group names, enums the handlers check themselves) plus values harvested from the daemon's
 * replies (vmids, guest names, ISO names, task ids, session tokens), so that generated requests
 * reach existing objects instead of stopping at 404.
 */
import type { Known, Path, SchemaObject } from './schema-gen.js';

const MAX_POOL = 64;

export class Pools {
  private readonly pools = new Map<string, string[]>();

  add(pool: string, value: unknown): void {
    if (typeof value !== 'string' || value === '' || value.length > 300) return;
    let list = this.pools.get(pool);
    if (!list) this.pools.set(pool, (list = []));
    if (list.includes(value)) return;
    if (list.length >= MAX_POOL) list.splice(0, 1);
    list.push(value);
  }

  remove(pool: string, value: string): void {
    const list = this.pools.get(pool);
    if (list) this.pools.set(pool, list.filter((v) => v !== value));
  }

  get(pool: string): readonly string[] {
    return this.pools.get(pool) ?? [];
  }

  /** Learns from one successful reply of `action` ("ns/name action"). */
  harvest(action: string, args: unknown): void {
    if (args === null || typeof args !== 'object') return;
    const a = args as Record<string, any>;
    if ((action === 'rpc/auth auth' || action === 'rpc/auth_token auth_token') && Array.isArray(args)) this.add('token', args[0]);
    if (action === 'sysadm/vm create') this.add('vmid', a.vmid);
    if (action === 'sysadm/vm list' && Array.isArray(a.vms)) {
      for (const v of a.vms) {
        this.add('vmid', v?.vmid);
        this.add('vmname', v?.name);
      }
    }
    if (action === 'sysadm/iohyve listvms' && a.listvms && typeof a.listvms === 'object') {
      for (const name of Object.keys(a.listvms)) this.add('guest', name);
    }
    if (action === 'sysadm/iohyve listisos' && Array.isArray(a.listisos)) for (const n of a.listisos) this.add('iso', n);
    if (action === 'rpc/dispatcher list' && a.jobs && typeof a.jobs === 'object') {
      for (const q of Object.values(a.jobs)) if (q && typeof q === 'object') for (const id of Object.keys(q)) this.add('job_id', id);
    }
    // Queued tasks (fetchiso, install, ...) answer { <action>: { queueid } }.
    for (const v of Object.values(a)) {
      if (v && typeof v === 'object' && typeof (v as Record<string, unknown>).queueid === 'string') this.add('job_id', (v as Record<string, unknown>).queueid);
    }
  }

  /** The known-values source for the generator of `action`'s args. */
  knownFor(action: string, fixed: FixedValues): Known {
    return (path: Path, _schema: SchemaObject) => {
      const field = String(path[path.length - 1] ?? '');
      const parent = String(path.length >= 3 ? path[path.length - 3] : '');
      if (typeof path[path.length - 1] === 'number') {
        // Array items: event type names.
        const arrayField = String(path[path.length - 2] ?? '');
        if (action.startsWith('events/') && (arrayField === 'events' || path.length === 1)) return ['audit', 'vm', 'dispatcher'];
        if (arrayField === 'job_id') return this.get('job_id');
        return undefined;
      }
      switch (field) {
        case 'username':
          return ['admin'];
        case 'password':
          return [fixed.adminPassword];
        case 'token':
          return this.get('token');
        case 'vmid':
          return this.get('vmid');
        case 'gid':
          return ['default', 'limited'];
        case 'name':
          if (action === 'rpc/schema schema') return ['vm', 'iohyve', 'dispatcher', 'auth', 'nic'];
          if (action === 'sysadm/vm create') return [...this.get('vmname'), 'fuzzvm', 'fuzz-b'];
          if (action === 'sysadm/iohyve fetchiso') return [...this.get('iso'), 'fetched.iso'];
          if (action === 'sysadm/iohyve create') return [...this.get('guest'), 'fuzzguest', 'g2'];
          if (action.startsWith('sysadm/iohyve')) return this.get('guest');
          return undefined;
        case 'namespace':
          return ['rpc', 'sysadm', 'events'];
        case 'iso':
        case 'mid':
        case 'source':
        case 'target':
          return [...this.get('iso'), ...fixed.isos];
        case 'kernel':
        case 'initrd':
          return fixed.bootFiles;
        case 'job_id':
          return this.get('job_id');
        case 'type':
          return parent === 'nics' ? ['NAT', 'BRIDGE'] : ['EFI', 'BIOS'];
        case 'mode':
          return ['USB', 'BLOCK', 'VIRTIO'];
        case 'host':
          return [...fixed.nics, 'nonic'];
        case 'nic':
          return [...fixed.nics, 'fuzzbr0'];
        case 'pool':
        case 'storage_grade':
          return ['standard'];
        case 'hardware_profile':
          return ['small', 'medium', 'large', 'xlarge'];
        case 'disk':
          return ['disk0', 'disk1'];
        case 'size':
        case 'ram':
          return ['1M', '16M', '512M', '1G', '8G'];
        case 'cpu':
          return ['1', '2'];
        case 'url':
          return fixed.urls;
        case 'since':
          return [0, 1];
        default:
          return undefined;
      }
    };
  }
}

export interface FixedValues {
  adminPassword: string;
  isos: string[];
  bootFiles: string[];
  nics: string[];
  /** fetchiso URLs that never leave the host: closed loopback ports, file:// imports, junk. */
  urls: string[];
}
