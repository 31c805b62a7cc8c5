import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blacklist, networkOf } from '../../src/server/blacklist.js';

test('networkOf: 127/8 is one address, IPv6 counts by its prefix, IPv4 through a dual-stack socket is IPv4', () => {
  assert.equal(networkOf('127.0.0.1', 64), networkOf('127.200.3.7', 64));
  assert.equal(networkOf('::ffff:127.0.0.9', 64), networkOf('127.0.0.1', 64));
  assert.equal(networkOf('::ffff:192.0.2.7', 64), '192.0.2.7');
  assert.notEqual(networkOf('192.0.2.7', 64), networkOf('192.0.2.8', 64));
  assert.equal(networkOf('2001:db8:1:2:aaaa::1', 64), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(networkOf('2001:db8:1:2:ffff:ffff:ffff:ffff', 64), networkOf('2001:db8:1:2::', 64));
  assert.notEqual(networkOf('2001:db8:1:2::1', 64), networkOf('2001:db8:1:3::1', 64));
  assert.equal(networkOf('2001:db8:1:2::1', 48), networkOf('2001:db8:1:3::1', 48));
  assert.equal(networkOf('2001:db8:1:2::1', 56), '2001:db8:1:0:0:0:0:0/56');
  assert.equal(networkOf('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64');
  assert.equal(networkOf('::1', 128), '0:0:0:0:0:0:0:1/128');
});

test('Blacklist counts per account as well as per address, and a block ends the count', () => {
  let now = 0;
  const b = new Blacklist({ auth_fail_limit: 3, account_fail_limit: 2, block_minutes: 1, reset_minutes: 10, ipv6_prefix: 64 }, () => now);
  assert.equal(b.fail('192.0.2.1', 'admin'), false);
  assert.equal(b.fail('192.0.2.2', 'admin'), true, 'the second failure against admin from anywhere blocks admin');
  assert.equal(b.isAccountBlocked('admin'), true);
  assert.equal(b.isBlocked('192.0.2.1'), false);
  assert.equal(b.fail('2001:db8::1'), false);
  assert.equal(b.fail('2001:db8::2'), false);
  assert.equal(b.fail('2001:db8::ffff'), true, 'one /64');
  assert.equal(b.isBlocked('2001:db8::1234'), true);
  assert.equal(b.isBlocked('2001:db8:0:1::1'), false);
  now += 61_000;
  assert.equal(b.isAccountBlocked('admin'), false);
  assert.equal(b.fail('192.0.2.3', 'admin'), false, 'the count restarted when the block ended');
});
