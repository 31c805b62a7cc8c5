import { defineAction } from '../../core/action.js';
import { notAcceptable } from '../../core/errors.js';

export default defineAction<string[] | { events?: string[] }>({
  namespace: 'events',
  name: 'unsubscribe',
  permission: null,
  handler(args, { services, connection }) {
    if (!connection) throw notAcceptable('events need a WebSocket connection');
    const types = Array.isArray(args) ? args : args.events;
    return { subscribed: services.events.unsubscribe(connection.subscriber, types?.length ? types : undefined) };
  },
});
