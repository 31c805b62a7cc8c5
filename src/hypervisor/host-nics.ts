import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HostInterface {
  identifier: string;
  state: 'up' | 'down' | 'unknown';
  mac?: string;
  mtu?: number;
  bridge: boolean;
  kind: string;
}

let cache: { at: number; list: Promise<HostInterface[]> } | null = null;

/**
 * The host's interfaces, read at most once a second: a listing costs dozens of sysfs reads (a
 * process spawn on FreeBSD), and concurrent callers share one read instead of running out of
 * file descriptors under load.
 */
export function hostInterfaces(maxAgeMs = 1000): Promise<HostInterface[]> {
  const now = Date.now();
  if (!cache || now - cache.at > maxAgeMs) {
    const list = readHostInterfaces();
    cache = { at: now, list };
    list.catch(() => {
      if (cache?.list === list) cache = null;
    });
  }
  return cache.list;
}

/** The host's network interfaces with their live state: /sys/class/net on Linux, ifconfig(8) on FreeBSD. */
export async function readHostInterfaces(platform = process.platform, sysfs = '/sys/class/net'): Promise<HostInterface[]> {
  if (platform === 'linux') return readSysfs(sysfs);
  const { stdout } = await run('ifconfig', ['-a'], { timeout: 5000 });
  return parseIfconfig(stdout);
}

async function readSysfs(root: string): Promise<HostInterface[]> {
  const names = (await readdir(root)).sort();
  const read = (name: string, file: string) => readFile(path.join(root, name, file), 'utf8').then((s) => s.trim(), () => undefined);
  const exists = (name: string, file: string) => stat(path.join(root, name, file)).then(() => true, () => false);
  return Promise.all(
    names.map(async (name) => {
      const [oper, mac, mtu, type, bridge, device] = await Promise.all([
        read(name, 'operstate'), read(name, 'address'), read(name, 'mtu'), read(name, 'type'),
        exists(name, 'bridge'), exists(name, 'device'),
      ]);
      const nic: HostInterface = {
        identifier: name,
        // Loopback and some virtual links report "unknown" while they carry traffic fine.
        state: oper === 'up' ? 'up' : oper === 'down' || oper === 'lowerlayerdown' || oper === 'dormant' ? 'down' : 'unknown',
        bridge,
        kind: type === '772' ? 'loopback' : bridge ? 'bridge' : device ? 'physical' : 'virtual',
      };
      if (mac && mac !== '00:00:00:00:00:00') nic.mac = mac;
      if (mtu && /^\d+$/.test(mtu)) nic.mtu = Number(mtu);
      return nic;
    }),
  );
}

/** Parses FreeBSD `ifconfig -a`: a header line per interface, indented detail lines after it. */
export function parseIfconfig(text: string): HostInterface[] {
  const out: HostInterface[] = [];
  let cur: (HostInterface & { running: boolean; status?: string }) | null = null;
  const finish = () => {
    if (!cur) return;
    const { running, status, ...nic } = cur;
    nic.state = status ? (status === 'active' || status === 'associated' ? 'up' : 'down') : running ? 'up' : 'down';
    out.push(nic);
  };
  for (const line of text.split('\n')) {
    const head = /^([A-Za-z0-9_.-]+): flags=[0-9a-f]+<([^>]*)>.*?(?:mtu (\d+))?$/.exec(line);
    if (head) {
      finish();
      const flags = head[2].split(',');
      const name = head[1];
      cur = {
        identifier: name,
        state: 'unknown',
        running: flags.includes('UP') && flags.includes('RUNNING'),
        bridge: /^bridge\d+$/.test(name),
        kind: flags.includes('LOOPBACK') ? 'loopback' : /^(bridge|tap|vlan|lagg|epair|vm-)/.test(name) ? 'virtual' : 'physical',
      };
      if (head[3]) cur.mtu = Number(head[3]);
      continue;
    }
    if (!cur) continue;
    const ether = /^\s+ether ([0-9a-f:]{17})/.exec(line);
    if (ether) cur.mac = ether[1];
    const status = /^\s+status: (.+)$/.exec(line);
    if (status) cur.status = status[1].trim();
    if (/^\s+member: /.test(line)) cur.bridge = true;
    // A bridge keeps its interface group when renamed (`ifconfig bridge0 name uplink`).
    const groups = /^\s+groups: (.+)$/.exec(line);
    if (groups && groups[1].trim().split(/\s+/).includes('bridge')) cur.bridge = true;
  }
  finish();
  return out;
}

/** An interface name as given in the configuration: no path separators, never read as an option. */
function interfaceName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(name);
}

/** Linux: a bridge has a `bridge` directory in sysfs. */
export async function isLinuxBridge(name: string, sysfs = '/sys/class/net'): Promise<boolean> {
  if (!interfaceName(name)) return false;
  return stat(path.join(sysfs, name, 'bridge')).then((s) => s.isDirectory(), () => false);
}

/**
 * FreeBSD: `ifconfig <name>` lists a bridge in the `bridge` interface group (or as `bridgeN`, or
 * with members); a name ifconfig does not know is no bridge.
 */
export async function isFreeBsdBridge(name: string, ifconfig = 'ifconfig'): Promise<boolean> {
  if (!interfaceName(name)) return false;
  const out = await run(ifconfig, [name], { timeout: 5000 }).then((r) => r.stdout, () => '');
  return parseIfconfig(out).some((nic) => nic.identifier === name && nic.bridge);
}
