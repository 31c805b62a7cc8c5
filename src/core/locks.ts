import { conflict } from './errors.js';

/**
 * Per-resource locks, the one mechanism behind every "one at a time" in the daemon. `run` waits
 * its turn (tasks on one ISO, changes to one store); `claim` refuses at once with 409 naming what
 * holds the lock (a VM takes one change at a time: nobody waits behind a graceful stop they did
 * not ask for). Holders are kept only while held, so the map never outgrows the work in progress.
 */
export class Locks {
  private readonly held = new Map<string, { what: string; tail: Promise<void> }>();

  /** What holds `key` now, or null. */
  holder(key: string): string | null {
    return this.held.get(key)?.what ?? null;
  }

  /** Runs `fn` once every earlier holder of `key` has finished. */
  run<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.held.get(key)?.tail ?? Promise.resolve();
    const result = prev.then(() => {
      entry.what = what;
      return fn();
    });
    const tail = result.then(
      () => {},
      () => {},
    );
    const entry = { what: this.holder(key) ?? what, tail };
    this.held.set(key, entry);
    void tail.then(() => {
      if (this.held.get(key) === entry) this.held.delete(key);
    });
    return result;
  }

  /** Runs `fn` holding `key`, or throws 409 `busy` (e.g. "VM 'web1' is busy") when it is held. */
  claim<T>(key: string, what: string, busy: string, fn: () => Promise<T>): Promise<T> {
    const holder = this.holder(key);
    if (holder !== null) return Promise.reject(conflict(`${busy}: ${holder}`, 'busy'));
    return this.run(key, what, fn);
  }
}
