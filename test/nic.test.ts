import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { parseIfconfig, readHostInterfaces } from '../src/hypervisor/host-nics.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

interface NicList {
  host_nics: { nicid: string; description: string; identifier: string; offered: boolean; state: string; mtu?: number; mac?: string }[];
  other_nics: { identifier: string; offered: boolean; state: string }[];
}

test('nic list offers the configured NICIDs with live state and lists the rest as not offered', async () => {
  const names = (await readdir('/sys/class/net')).sort();
  const real = names.find((n) => n !== 'lo') ?? 'lo';
  const d = await startDaemon({
    nics: {
      uplink: { interface: real, description: 'Rack uplink' },
      loop: { interface: 'lo' },
      gone: { interface: 'nosuchif0' },
    },
  });
  daemons.push(d);
  const c = await d.client();
  const r = await c.call<NicList>('sysadm', 'nic', { action: 'list' });
  assert.deepEqual(r.host_nics.map((n) => n.nicid), ['uplink', 'loop', 'gone']);
  const uplink = r.host_nics[0];
  assert.equal(uplink.description, 'Rack uplink');
  assert.equal(uplink.identifier, real);
  assert.equal(uplink.offered, true);
  const oper = (await readFile(`/sys/class/net/${real}/operstate`, 'utf8')).trim();
  assert.equal(uplink.state, oper === 'up' ? 'up' : oper === 'down' ? 'down' : 'unknown');
  assert.equal(uplink.mtu, Number((await readFile(`/sys/class/net/${real}/mtu`, 'utf8')).trim()));
  assert.equal(r.host_nics[1].identifier, 'lo');
  assert.equal(r.host_nics[1].mtu, 65536);
  assert.equal(r.host_nics[2].state, 'missing');
  const others = r.other_nics.map((n) => n.identifier);
  assert.deepEqual(others, names.filter((n) => n !== real && n !== 'lo'));
  assert.ok(r.other_nics.every((n) => n.offered === false));
  c.close();
});

test('a NICID or interface name that could be abused is refused by the config schema', async () => {
  await assert.rejects(startDaemon({ nics: { '../x': { interface: 'eth0' } } }), /propertyNames|must match/);
  await assert.rejects(startDaemon({ nics: { ok: { interface: 'eth0; rm -rf /' } } }), /interface: must match/);
});

test('Linux interfaces are read from sysfs', async () => {
  const nics = await readHostInterfaces('linux');
  const lo = nics.find((n) => n.identifier === 'lo');
  assert.ok(lo);
  assert.equal(lo.kind, 'loopback');
  assert.equal(lo.mac, undefined, 'all-zero MAC is not reported');
});

test('FreeBSD ifconfig -a output is parsed into interfaces with state, MAC, MTU and bridges', () => {
  const sample = `em0: flags=8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\toptions=481249b<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,VLAN_HWCSUM,LRO,WOL_MAGIC,VLAN_HWFILTER,NOMAP>
\tether 00:25:90:aa:bb:cc
\tinet 192.0.2.10 netmask 0xffffff00 broadcast 192.0.2.255
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
igb1: flags=8822<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:25:90:aa:bb:cd
\tmedia: Ethernet autoselect
\tstatus: no carrier
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
bridge0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:10:ff:e2
\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15
\tmember: tap0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
\tmember: em0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
tap0: flags=8902<BROADCAST,PROMISC,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:10:8a:4b
\tstatus: no carrier
`;
  const nics = parseIfconfig(sample);
  assert.deepEqual(
    nics.map((n) => [n.identifier, n.state, n.mtu, n.mac ?? null, n.bridge, n.kind]),
    [
      ['em0', 'up', 1500, '00:25:90:aa:bb:cc', false, 'physical'],
      ['igb1', 'down', 1500, '00:25:90:aa:bb:cd', false, 'physical'],
      ['lo0', 'up', 16384, null, false, 'loopback'],
      ['bridge0', 'up', 1500, '58:9c:fc:10:ff:e2', true, 'virtual'],
      ['tap0', 'down', 1500, '58:9c:fc:10:8a:4b', false, 'virtual'],
    ],
  );
});

test('FreeBSD: a bridge is told by its interface group too, renamed and without members', () => {
  const nics = parseIfconfig(`vmswitch: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:10:ff:e2
\tgroups: bridge vm-switch
em0: flags=8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tgroups: egress bridges
`);
  assert.deepEqual(nics.map((n) => [n.identifier, n.bridge]), [['vmswitch', true], ['em0', false]]);
});
