import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VmIndex, compareNames } from '../../src/hypervisor/vm-index.js';
import type { VmDefinition } from '../../src/hypervisor/types.js';

interface Rt { def: VmDefinition }

let serial = 0;
function vm(name: string, gid = 'default', cpus = 1, discs: number[] = []): Rt {
  return {
    def: {
      vmid: `vm${String(serial++).padStart(8, '0')}`,
      name,
      gid,
      type: 'BIOS',
      cpus,
      memory_mib: 64,
      displays: [],
      media: [],
      nics: [],
      discs: discs.map((size_mib, i) => ({ label: `d${i}`, size_mib, storage_grade: 'default' })),
      autostart: false,
      description: '',
      rosetta: false,
      created: '2026-12-02T00:00:00.000Z',
    },
  };
}

/** What a scan of every VM (the engine before the index) answers, to hold the index against. */
function scanned(all: Rt[], gid: string) {
  const inGroup = all.filter((r) => r.def.gid === gid);
  return {
    names: inGroup.map((r) => r.def.name).sort((a, b) => a.localeCompare(b)),
    usage: {
      vms: inGroup.length,
      cpus: inGroup.reduce((s, r) => s + r.def.cpus, 0),
      memory_mib: inGroup.reduce((s, r) => s + r.def.memory_mib, 0),
      disk_mib: inGroup.reduce((s, r) => s + r.def.discs.reduce((t, d) => t + d.size_mib, 0), 0),
    },
  };
}

function assertAgrees(index: VmIndex<Rt>, all: Rt[], gids: string[]) {
  assert.equal(index.size, all.length);
  for (const gid of gids) {
    const want = scanned(all, gid);
    assert.deepEqual(index.list(gid).map((r) => r.def.name), want.names, `order in ${gid}`);
    assert.deepEqual(index.usage(gid), want.usage, `usage of ${gid}`);
    for (const r of all.filter((x) => x.def.gid === gid)) assert.equal(index.byName(gid, r.def.name), r);
  }
  for (const r of all) assert.equal(index.get(r.def.vmid), r);
}

test('names order as localeCompare orders them, and the order is total', () => {
  const names = ['b', 'B', 'a', 'é', 'e', 'Z', 'z10', 'z9', 'vm-1', 'vm_1', 'vm1', 'Ä', 'ä', 'e\u0301'];
  const byLocale = [...names].sort((a, b) => a.localeCompare(b));
  const byIndex = [...names].sort(compareNames);
  // Where localeCompare calls two different strings equal, the index decides by code units.
  for (let i = 0; i < names.length; i++) {
    if (byLocale[i] !== byIndex[i]) assert.equal(byLocale[i].localeCompare(byIndex[i]), 0, `${byLocale[i]} / ${byIndex[i]}`);
  }
  assert.equal(compareNames('é', 'e\u0301') !== 0, true, 'canonically equal strings still get an order');
});

test('add, remove and replace (rename, resize) keep names, order and usage equal to a full scan', () => {
  const index = new VmIndex<Rt>();
  const all: Rt[] = [];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const gids = ['default', 'lab'];
  for (let step = 0; step < 3000; step++) {
    const op = rand(10);
    if (op < 5 || all.length === 0) {
      const r = vm(`n${rand(500)}`, gids[rand(2)], 1 + rand(4), rand(2) ? [rand(100)] : []);
      if (index.byName(r.def.gid, r.def.name)) continue; // the engine refuses it before it reaches the index
      index.add(r);
      all.push(r);
    } else if (op < 8) {
      const r = all.splice(rand(all.length), 1)[0];
      index.remove(r);
    } else {
      const r = all[rand(all.length)];
      const name = rand(2) ? `n${rand(500)}` : r.def.name;
      if (name !== r.def.name && index.byName(r.def.gid, name)) continue;
      index.replace(r, { ...r.def, name, cpus: 1 + rand(8), discs: [{ label: 'd0', size_mib: rand(1000), storage_grade: 'default' }] });
    }
    if (step % 100 === 0) assertAgrees(index, all, gids);
  }
  assertAgrees(index, all, gids);
});

test('a name is free again after its VM is removed, and taken after a rename to it', () => {
  const index = new VmIndex<Rt>();
  const a = vm('alpha');
  index.add(a);
  index.remove(a);
  assert.equal(index.byName('default', 'alpha'), undefined);
  assert.deepEqual(index.usage('default'), { vms: 0, cpus: 0, memory_mib: 0, disk_mib: 0 });
  const b = vm('beta');
  index.add(b);
  index.replace(b, { ...b.def, name: 'alpha' });
  assert.equal(index.byName('default', 'alpha'), b);
  assert.equal(index.byName('default', 'beta'), undefined);
  assert.throws(() => index.replace(b, { ...b.def, vmid: 'other1234567' }), /keeps its vmid/);
  // Removing something not indexed (a create that failed before it was added) changes nothing.
  index.remove(vm('ghost'));
  assert.equal(index.size, 1);
});

test('two definitions of one name from disk are both listed; the name finds the other once one goes', () => {
  const index = new VmIndex<Rt>();
  const first = vm('twin');
  const second = vm('twin');
  index.add(first);
  index.add(second);
  index.add(vm('a'));
  assert.deepEqual(index.list('default').map((r) => r.def.vmid), [index.byName('default', 'a')!.def.vmid, first.def.vmid, second.def.vmid]);
  assert.equal(index.byName('default', 'twin'), first);
  index.remove(first);
  assert.equal(index.byName('default', 'twin'), second);
  index.remove(second);
  assert.equal(index.byName('default', 'twin'), undefined);
  assert.equal(index.list('default').length, 1);
});

test('the highest numeric ids follow adds, and are recounted once the VM holding them goes', () => {
  const index = new VmIndex<Rt>();
  const numbered = (name: string, num: number, discNums: number[]) => {
    const r = vm(name, 'default', 1, discNums.map(() => 1));
    r.def = { ...r.def, num, discs: r.def.discs.map((d, i) => ({ ...d, num: discNums[i] })) };
    return r;
  };
  const a = numbered('a', 1, [1, 2]);
  const b = numbered('b', 7, [3]);
  index.add(a);
  index.add(b);
  assert.deepEqual(index.highestNums(), { vm: 7, disc: 3 });
  index.remove(b);
  assert.deepEqual(index.highestNums(), { vm: 1, disc: 2 }, 'as a scan of the VMs left would say');
  index.remove(numbered('ghost', 99, [99]));
  assert.deepEqual(index.highestNums(), { vm: 1, disc: 2 }, 'a VM never added changes nothing');
  index.replace(a, { ...a.def, discs: [...a.def.discs, { label: 'd9', size_mib: 1, storage_grade: 'default', num: 12 }] });
  assert.deepEqual(index.highestNums(), { vm: 1, disc: 12 });
});
