/**
 * The per-request oracle: exactly one well-formed reply with the right id, within the timeout,
 * "response" or "error"; an error's args hold a known numeric code, a string message and an
 * array of details; no 500 "internal error" (an exception the daemon did not handle); and where
 * the outcome follows from the frame alone (predict.ts), the code it must have.
 */
import type { Outcome } from './conn.js';
import type { Expectation } from './predict.js';

// 429 and 503: too many password checks at once from one address, or in all.
export const ALLOWED_CODES = new Set([400, 401, 403, 404, 405, 406, 409, 413, 429, 500, 503]);

export type FailureKind =
  | 'timeout'
  | 'connection-closed'
  | 'malformed-reply'
  | 'wrong-id'
  | 'wrong-namespace'
  | 'bad-error-args'
  | 'internal-error'
  | 'unexpected-code'
  | 'schema-mismatch'
  | 'unexpected-frame'
  | 'bad-event'
  | 'daemon-exited'
  | 'final-check'
  | 'fuzzer-error';

export interface Problem { kind: FailureKind; message: string }

export interface Verdict {
  problems: Problem[];
  /** 200 for a response, the error code otherwise; null without a usable reply. */
  code: number | null;
  message?: string;
  args?: unknown;
}

export function judge(outcome: Outcome, exp: Expectation, timeoutMs: number, predict = true): Verdict {
  if (outcome.kind === 'timeout') return { code: null, problems: [{ kind: 'timeout', message: `no reply with id ${JSON.stringify(exp.id)} within ${timeoutMs} ms` }] };
  if (outcome.kind === 'closed') {
    return { code: null, problems: [{ kind: 'connection-closed', message: `connection closed before the reply: ${outcome.code} ${outcome.reason}` }] };
  }
  const f = outcome.reply.frame;
  const problems: Problem[] = [];
  if (!f) return { code: null, problems: [{ kind: 'malformed-reply', message: 'reply is not a JSON object' }] };
  if (f.name !== 'response' && f.name !== 'error') problems.push({ kind: 'malformed-reply', message: `reply name ${JSON.stringify(f.name)}` });
  if (typeof f.namespace !== 'string') problems.push({ kind: 'malformed-reply', message: 'reply without a string namespace' });
  if (!Object.hasOwn(f, 'args')) problems.push({ kind: 'malformed-reply', message: 'reply without args' });
  if (f.id !== exp.id) problems.push({ kind: 'wrong-id', message: `reply id ${JSON.stringify(f.id)}, expected ${JSON.stringify(exp.id)}` });
  if (exp.namespace !== undefined && f.namespace !== exp.namespace) {
    problems.push({ kind: 'wrong-namespace', message: `reply namespace ${JSON.stringify(f.namespace)}, expected ${JSON.stringify(exp.namespace)}` });
  }
  let code: number | null = null;
  let message: string | undefined;
  if (f.name === 'response') code = 200;
  if (f.name === 'error') {
    const a = f.args as Record<string, unknown> | null;
    if (!a || typeof a !== 'object' || Array.isArray(a)) {
      problems.push({ kind: 'bad-error-args', message: 'error args are not an object' });
    } else {
      if (typeof a.code !== 'number' || !ALLOWED_CODES.has(a.code)) problems.push({ kind: 'bad-error-args', message: `error code ${JSON.stringify(a.code)} is not one of ${[...ALLOWED_CODES].join(', ')}` });
      else code = a.code;
      if (typeof a.message !== 'string') problems.push({ kind: 'bad-error-args', message: 'error message is not a string' });
      else message = a.message;
      if (!Array.isArray(a.details)) problems.push({ kind: 'bad-error-args', message: 'error details is not an array' });
      if (a.code === 500 && typeof a.message === 'string' && a.message.startsWith('internal error')) {
        problems.push({ kind: 'internal-error', message: `500: ${a.message}` });
      }
    }
  }
  if (predict && code !== null) {
    if (exp.codes && !exp.codes.includes(code)) {
      problems.push({ kind: 'unexpected-code', message: `code ${code}${message ? ` (${message.slice(0, 200)})` : ''}, expected ${exp.codes.join('/')} (${exp.reason})` });
    }
    if (exp.argsValid === true && code === 400 && message?.startsWith('invalid args for')) {
      problems.push({ kind: 'schema-mismatch', message: `args valid by the schema here but refused: ${message}` });
    }
  }
  return { code, message, args: f.args, problems };
}
