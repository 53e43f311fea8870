import type { EventName, EventPayload } from '../../shared/contract.js';

export type AnyEventListener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/** Core -> transports. Every subscription returns its own unsubscribe. */
export class EventBus {
  private readonly listeners = new Set<AnyEventListener>();
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const fn of this.listeners) {
      try {
        fn(event, payload);
      } catch {
        /* one broken subscriber must not starve the others */
      }
    }
  }
  subscribe(fn: AnyEventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
