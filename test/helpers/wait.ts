import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` every `everyMs` until it returns something truthy, and resolves with that;
 * rejects naming `what` (or what it returns then) once `ms` have passed. One place for the tests' waiting on events.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, what: string | (() => string), ms = 5000, everyMs = 20): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(everyMs);
  }
}
