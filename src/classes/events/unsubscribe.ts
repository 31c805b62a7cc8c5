import { defineAction } from '../context.js';
import { notAcceptable } from '../../core/errors.js';

export default defineAction('events/unsubscribe', {
  permission: null,
  handler(args, { services, connection }) {
    if (!connection) throw notAcceptable('events need a WebSocket connection');
    const types = typeof args === 'string' ? [args] : Array.isArray(args) ? args : args.events;
    return { subscribed: services.events.unsubscribe(connection.subscriber, types?.length ? types : undefined) };
  },
});
