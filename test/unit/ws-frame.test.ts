import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame } from '../../src/core/ws-frame.js';

// Frames we build ourselves must read back exactly through a real ws client, at every length class.
test('textFrame: 7-bit, 16-bit and 64-bit lengths arrive intact, in order, between frames ws sends', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const texts = [0, 1, 125, 126, 65535, 65536, 300_000].map((n, i) => JSON.stringify({ i, pad: 'é'.repeat(Math.max(0, Math.floor((n - 20) / 2))) }));
  wss.on('connection', (ws) => {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    for (const t of texts) {
      socket.write(textFrame(Buffer.from(t)));
      ws.send('via ws');
    }
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    client.on('message', (data, binary) => {
      assert.equal(binary, false);
      got.push(data.toString());
      if (got.length === texts.length * 2) resolve();
    });
    client.on('error', reject);
  });
  client.close();
  wss.close();
  assert.deepEqual(got, texts.flatMap((t) => [t, 'via ws']));
});
