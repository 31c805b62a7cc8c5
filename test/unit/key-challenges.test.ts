import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyChallenges } from '../../src/server/key-challenges.js';

test('a test string is answerable by the caller that asked, until spent or 30 s old', () => {
  let now = 0;
  const ch = new KeyChallenges({ ttlMs: 30_000, perAddress: 64, total: 10_000 }, () => now);
  const conn = {};
  const s = ch.issue('10.0.0.1', conn);
  assert.match(s, /^[0-9a-f]{40}$/);
  assert.notEqual(ch.issue('10.0.0.1', conn), s, 'each is new');
  assert.equal(ch.answerable(s, '10.0.0.1', conn), true);
  assert.equal(ch.answerable(s, '10.0.0.1', {}), false, 'another connection from the same address');
  assert.equal(ch.answerable(s, '10.0.0.2', conn), false, 'another address');
  assert.equal(ch.answerable(s, '10.0.0.1', null), false, 'REST from the same address');
  assert.equal(ch.answerable('f'.repeat(40), '10.0.0.1', conn), false, 'never issued');
  ch.spend(s);
  assert.equal(ch.answerable(s, '10.0.0.1', conn), false, 'spent');

  const t = ch.issue('10.0.0.1', null);
  now = 29_999;
  assert.equal(ch.answerable(t, '10.0.0.1', null), true, 'REST: bound to the address');
  now = 30_000;
  assert.equal(ch.answerable(t, '10.0.0.1', null), false, 'expired at 30 s');
  assert.equal(ch.size, 0, 'the expired ones are gone: all were issued at 0');
});

test('outstanding test strings are bounded per address and in all, the oldest going first', () => {
  let now = 0;
  const ch = new KeyChallenges({ ttlMs: 30_000, perAddress: 3, total: 5 }, () => now);
  const a = [1, 2, 3, 4].map(() => ch.issue('a', null));
  assert.equal(ch.answerable(a[0], 'a', null), false, "the address's oldest went");
  assert.ok(a.slice(1).every((s) => ch.answerable(s, 'a', null)));
  const b = [1, 2, 3].map(() => ch.issue('b', null));
  assert.equal(ch.size, 5);
  assert.equal(ch.answerable(a[1], 'a', null), false, 'the oldest anywhere went');
  assert.ok([a[2], a[3], ...b].every((s) => ch.answerable(s, s === a[2] || s === a[3] ? 'a' : 'b', null)));
  now = 30_000;
  ch.issue('c', null);
  assert.equal(ch.size, 1, 'all others expired and were swept');
});
