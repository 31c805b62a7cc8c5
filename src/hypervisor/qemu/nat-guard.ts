/**
 * The frame guard process of one NAT nic (spawned by nat-link.ts): fd 3 is QEMU's end of the nic,
 * fd 4 is passt's. Frames from the guest pass only if guestFrameAllowed says so; frames to the
 * guest pass unchanged. It exits when either side closes, closing the other, so QEMU's exit ends
 * passt too. Its argv[2] names the VM and nic, to find it in a process list.
 */
import net from 'node:net';
import { FrameReader, guestFrameAllowed } from './frame-guard.js';

const guest = new net.Socket({ fd: 3, readable: true, writable: true });
const passt = new net.Socket({ fd: 4, readable: true, writable: true });
const reader = new FrameReader();

function end(): void {
  guest.destroy();
  passt.destroy();
}

guest.on('data', (chunk: Buffer) => {
  let records: Buffer[];
  try {
    records = reader.push(chunk);
  } catch {
    end();
    return;
  }
  // One writev for the chunk's records, not a write each.
  passt.cork();
  for (const r of records) if (guestFrameAllowed(r.subarray(4))) passt.write(r);
  passt.uncork();
  if (passt.writableNeedDrain) {
    guest.pause();
    passt.once('drain', () => guest.resume());
  }
});
passt.pipe(guest);
for (const s of [guest, passt]) {
  s.on('close', end);
  s.on('error', end);
}
