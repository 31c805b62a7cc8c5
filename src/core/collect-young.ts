import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options: { type: 'minor' | 'major' }) => void;
let gc: Gc | null = null;

/**
 * A young-generation collection, now. Socket reads arrive in 64 KiB buffers kept outside V8's heap;
 * a download drops thousands of them a second, and V8 frees them only once their total passes its
 * external-memory trigger (about 64 MiB): a 1 GiB fetch held 30-40 MiB of dead buffers. Copiers call
 * this every few MiB; a scavenge of the young generation takes well under a millisecond.
 * (`gc` is V8's own, made reachable from a fresh context once the flag that exposes it is set.)
 */
export function collectYoung(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as Gc;
  }
  gc({ type: 'minor' });
}
