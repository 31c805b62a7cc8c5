import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, MAX_FRAME, guestFrameAllowed } from '../../src/hypervisor/qemu/frame-guard.js';
import { arpFrame, record, synFrame, vlanTagged } from '../helpers/frames.js';

const G4 = '10.0.2.15';
const G6 = 'fd00::15';

test('frames aimed at the host loopback (or what the host takes for it) are dropped', () => {
  for (const dst of ['127.0.0.1', '127.1.2.3', '0.0.0.0', '0.1.2.3']) assert.equal(guestFrameAllowed(synFrame(G4, dst, 80)), false, dst);
  for (const dst of ['::1', '::', '::127.0.0.1', '::ffff:127.0.0.1', '::ffff:10.0.2.2', '::ffff:0.0.0.0']) {
    assert.equal(guestFrameAllowed(synFrame(G6, dst, 80)), false, dst);
  }
});

test('everything else a guest sends passes: the gateway, the host\'s addresses, the world, ARP', () => {
  for (const dst of ['10.0.2.2', '10.0.2.3', '192.0.2.2', '8.8.8.8', '128.0.0.1', '255.255.255.255']) assert.equal(guestFrameAllowed(synFrame(G4, dst, 80)), true, dst);
  for (const dst of ['fe80::1', 'fd00::2', '2001:db8::1', '::2:0:0:1', '64:ff9b::7f00:1']) assert.equal(guestFrameAllowed(synFrame(G6, dst, 80)), true, dst);
  assert.equal(guestFrameAllowed(arpFrame()), true);
});

test('what the check cannot read is dropped: VLAN tags, other EtherTypes, truncated or mislabelled headers', () => {
  assert.equal(guestFrameAllowed(vlanTagged(synFrame(G4, '10.0.2.2', 80))), false);
  const other = synFrame(G4, '10.0.2.2', 80);
  other.writeUInt16BE(0x88cc, 12); // LLDP
  assert.equal(guestFrameAllowed(other), false);
  assert.equal(guestFrameAllowed(synFrame(G4, '10.0.2.2', 80).subarray(0, 30)), false);
  assert.equal(guestFrameAllowed(synFrame(G6, 'fd00::2', 80).subarray(0, 50)), false);
  const v6in4 = synFrame(G4, '10.0.2.2', 80);
  v6in4[14] = 0x65; // says IPv6 inside an IPv4 EtherType
  assert.equal(guestFrameAllowed(v6in4), false);
  assert.equal(guestFrameAllowed(Buffer.alloc(10)), false);
});

test('the reader cuts a QEMU stream into whole records however it is split, and refuses absurd lengths', () => {
  const frames = [synFrame(G4, '10.0.2.2', 1), arpFrame(), synFrame(G6, 'fd00::2', 2)];
  const stream = Buffer.concat(frames.map(record));
  for (const step of [1, 3, 7, 64, stream.length]) {
    const r = new FrameReader();
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i += step) got.push(...r.push(stream.subarray(i, i + step)));
    assert.deepEqual(got.map((g) => g.subarray(4)), frames, `chunks of ${step}`);
    assert.deepEqual(got, frames.map(record));
  }
  const bad = Buffer.alloc(8);
  bad.writeUInt32BE(MAX_FRAME + 1);
  assert.throws(() => new FrameReader().push(bad), /not a QEMU stream/);
});
