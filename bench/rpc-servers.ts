/**
 * The comparison servers for bench/rpc.ts, each run as its own process:
 *
 *   node dist/bench/rpc-servers.js bare <args.json>   a bare `ws` server: parses each frame and
 *       answers with hyved's nic-list reply bytes (the captured args, this request's id): the ceiling
 *       for anything that speaks this envelope over `ws` in Node.
 *   node dist/bench/rpc-servers.js peer <args.json>   an rpc-websockets (JSON-RPC 2.0) Server with
 *       the method 'nic.list' returning the same object.
 *
 * Prints "listening <port>" on stdout once bound, and exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Server } from 'rpc-websockets';

const [kind, argsFile] = process.argv.slice(2);
const argsJson = readFileSync(argsFile, 'utf8').trim();
const argsObj = JSON.parse(argsJson) as object;

function ready(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}

if (kind === 'bare') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('listening', () => ready((wss.address() as AddressInfo).port));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const req = JSON.parse(data.toString()) as { namespace: string; id: string | number };
      ws.send(`{"namespace":${JSON.stringify(req.namespace)},"name":"response","id":${JSON.stringify(req.id)},"args":${argsJson}}`);
    });
  });
} else if (kind === 'peer') {
  const server = new Server({ host: '127.0.0.1', port: 0 });
  server.register('nic.list', () => argsObj);
  server.on('listening', () => ready((server.wss.address() as AddressInfo).port));
} else {
  throw new Error(`unknown server kind '${kind}'`);
}

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
