/**
 * The OVA check of an upload (ova.ts's ovaInspector: tar members, digests), run on a thread of its
 * own: it is told where each batch of the body is, in shared memory, copies it for the parser and
 * says when the batch is free; the outcome goes back as one message. See ova-check-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RpcError } from '../../core/errors.js';
import { collectYoung } from '../../core/collect-young.js';
import { drained } from '../../core/drained.js';
import { ovaInspector, type OvaLimits } from './ova.js';
import type { CheckReply, CheckRequest } from './ova-check-thread.js';

const port = parentPort!;
// The feeder's batches (server/upload-body.ts) keep the thread busy: the parser itself need hold no more than one.
const { input, result } = ovaInspector(workerData as OvaLimits, undefined, 1024 * 1024);
const reply = (m: CheckReply) => port.postMessage(m);

/** As on the main thread (collect-young.ts): the copies are external memory V8 would otherwise keep long after the check is done with them. */
const COLLECT_EVERY = 8 * 1024 * 1024;
let sinceCollect = 0;

result.then(
  (value) => reply({ kind: 'result', value }),
  (err: unknown) => {
    const e = err instanceof RpcError ? err : new RpcError(500, `OVA check failed: ${(err as Error)?.message ?? String(err)}`);
    reply({ kind: 'error', code: e.code, message: e.message, details: e.details, reason: e.reason });
  },
);

port.on('message', (m: CheckRequest) => {
  if (m.kind === 'end') return void input.end(undefined);
  if (input.destroyed) return;
  sinceCollect += m.length;
  if (sinceCollect >= COLLECT_EVERY) {
    sinceCollect = 0;
    collectYoung();
  }
  const copy = Buffer.allocUnsafeSlow(m.length);
  copy.set(new Uint8Array(m.memory, m.offset, m.length));
  // The feeder's batch is free once the parser has room for more.
  const recycle = () => reply({ kind: 'recycle', offset: m.offset });
  if (input.write(copy)) recycle();
  else void drained(input).then(recycle);
});
