import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
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
