import { defineAction } from '../context.js';
import { notAcceptable } from '../../core/errors.js';

export default defineAction('events/subscribe', {
  permission: null,
  handler(args, { services, connection }) {
    if (!connection) throw notAcceptable('events need a WebSocket connection; the REST shim cannot push them');
    const types = typeof args === 'string' ? [args] : Array.isArray(args) ? args : args.events;
    const since = typeof args === 'object' && !Array.isArray(args) ? args.since : undefined;
    const { result, activate } = services.events.subscribe(connection.subscriber, types, since);
    // Replayed events follow the reply, so the client learns about a gap before it sees them.
    setImmediate(activate);
    return result;
  },
});
