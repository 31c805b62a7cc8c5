import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
import { definitionFor, imageIdOf, imagesOf } from '../../src/facades/deltacloud/catalog.js';
import { RpcError } from '../../src/core/errors.js';
import { negotiate } from '../../src/facades/deltacloud/negotiate.js';
import { el, toXml } from '../../src/facades/deltacloud/xml.js';
import { instanceStates, STATE } from '../../src/facades/deltacloud/states.js';
import { VM_TRANSITIONS, actionsIn } from '../../src/hypervisor/states.js';
import { VM_STATES } from '../../src/core/api.gen.js';

test('negotiation: format decides alone, then the most specific range by q; wildcards and no Accept get XML', () => {
  assert.equal(negotiate(undefined, undefined), 'xml');
  assert.equal(negotiate(undefined, ''), 'xml');
  assert.equal(negotiate('json', 'application/xml'), 'json');
  assert.equal(negotiate('html', '*/*'), null);
  assert.equal(negotiate(undefined, 'application/json, */*'), 'json');
  assert.equal(negotiate(undefined, '*/*;q=0.5, application/xml'), 'xml');
  assert.equal(negotiate(undefined, 'application/*'), 'xml');
  assert.equal(negotiate(undefined, 'text/html, application/json;q=0.1'), 'json');
  assert.equal(negotiate(undefined, 'text/html'), null);
  assert.equal(negotiate(undefined, 'application/xml;q=0, */*'), null, 'an explicit q=0 is a refusal');
});

test('the XML writer escapes text and attributes and drops what XML 1.0 cannot carry', () => {
  const nasty = `a<b>&"c'\u0001d\u001be`;
  const xml = toXml(el('root', { v: nasty }, el('t', {}, nasty)));
  const doc = new DOMParser({ onError: (level: string, m: string) => { if (level !== 'warning') throw new Error(m); } }).parseFromString(xml, 'application/xml');
  const root = doc.documentElement!;
  assert.equal(root.getAttribute('v'), `a<b>&"c'\ufffdd\ufffde`);
  assert.equal(root.getElementsByTagName('t')[0].textContent, `a<b>&"c'\ufffdd\ufffde`);
});

test('every hyved state shows as RUNNING, STOPPED or PENDING, and the graph names only those', () => {
  for (const s of VM_STATES) assert.ok(['RUNNING', 'STOPPED', 'PENDING'].includes(STATE[s]), s);
  const names = instanceStates().map((n) => n.name);
  assert.deepEqual(names, ['start', 'pending', 'running', 'stopped', 'finish']);
  for (const n of instanceStates()) for (const t of n.transitions) assert.ok(names.includes(t.to));
});

test('the engine offers exactly the actions of its table', () => {
  assert.deepEqual(actionsIn('RUNNING', { pause: true }), ['stop', 'reboot', 'pause']);
  assert.deepEqual(actionsIn('RUNNING', { pause: false }), ['stop', 'reboot']);
  assert.deepEqual(actionsIn('STOPPED', { pause: true }), ['start', 'delete']);
  assert.deepEqual(actionsIn('PAUSED', { pause: true }), ['resume', 'stop']);
  assert.deepEqual(actionsIn('STARTING', { pause: true }), []);
  assert.ok(VM_TRANSITIONS.every((t) => VM_STATES.includes(t.from)));
});

test('images: distributions first, then kernels and ISOs; an id taken or not URL-safe is not offered twice', () => {
  const t = '2026-01-01T00:00:00.000Z';
  const dist = (name: string, extra = {}) => ({ name, description: `d ${name}`, os: 'linux', min_disc_mib: 100, format: 'qcow2' as const, size: 1 << 20, ...extra });
  const images = imagesOf(
    { kernels: [{ name: 'deb', kernel: 'deb-vmlinuz', modified: t }, { name: 'k', kernel: 'k-vmlinuz', modified: t }], isos: [{ name: 'k', size: 1, modified: t }, { name: 'i.iso', size: 1, modified: t }] },
    [dist('deb'), dist('c++'), dist('big', { format: 'raw', size: 300 * 1048576 + 1 })],
  );
  assert.deepEqual(images.map((i) => [i.kind, i.id]), [['dist', 'deb'], ['dist', 'big'], ['kernel', 'k'], ['iso', 'i.iso']]);
  // A raw image is as large as its file: its disc must hold all of it.
  assert.deepEqual(images.slice(0, 2).map((i) => i.kind === 'dist' && i.disc_mib), [100, 301]);
});

test('definitionFor: a distribution is one transactional create with the guest setup in reimage; other images refuse a setup, naming the field', () => {
  const [deb, k] = imagesOf({ kernels: [{ name: 'k', kernel: 'k-vmlinuz', modified: '' }], isos: [] }, [{ name: 'deb', description: '', os: 'linux', min_disc_mib: 2048, format: 'qcow2', size: 1 }]);
  const size = { cpus: 1, memory_mib: 256, storage_gb: 0 };
  const setup = { key: { name: 'me', public_key: 'ssh-ed25519 AAAA me' }, password: 'pw', script: '#!/bin/sh\n' };
  assert.deepEqual(definitionFor(deb, size, setup), {
    type: 'BIOS', cpus: 1, memory_mib: 256, nics: [{ type: 'NAT' }],
    discs: [{ label: 'disk0', size_mib: 2048 }],
    reimage: { distribution: 'deb', root_password: 'pw', ssh_public_key: 'ssh-ed25519 AAAA me', firstboot_script: '#!/bin/sh\n' },
    power_on: true,
  });
  assert.deepEqual((definitionFor(deb, { ...size, storage_gb: 3 }) as { discs: unknown }).discs, [{ label: 'disk0', size_mib: 3072 }]);
  assert.throws(() => definitionFor(deb, { ...size, storage_gb: 1 }), (e: RpcError) => e.code === 400 && /^hwp_storage: /.test(e.message));
  for (const [part, field] of [[{ key: setup.key }, 'keyname'], [{ password: 'pw' }, 'password'], [{ script: '' }, 'user_data']] as const) {
    assert.throws(() => definitionFor(k, size, part), (e: RpcError) => e.code === 400 && e.message.startsWith(`${field}: image 'k' is a direct-boot kernel`));
  }
  assert.equal('power_on' in definitionFor(k, size), false, 'a kernel image is started by the facade, as before');
  assert.equal(imageIdOf({ distribution: 'deb', kernel: 'deb.vmlinuz', media: [] }), 'deb');
});
