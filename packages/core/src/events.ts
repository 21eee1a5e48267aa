/**
 * Libraries never print: they emit events, and whoever drives them (the CLI, a user's trainer,
 * a test) decides how to show them.
 */
export interface GenviewEvents {
  log: { level: 'debug' | 'info' | 'warn'; source: string; message: string };
  progress: { task: string; done: number; total: number; unit?: string };
  metric: { step: number; epoch?: number; values: Record<string, number>; split?: string };
  backend: { chosen: string; tried: { name: string; ok: boolean; reason: string }[] };
  checkpoint: { step: number; path: string };
  eval: { evaluator: string; step?: number; values: Record<string, number>; description: string };
}

export type GenviewEventName = keyof GenviewEvents;
export type Listener<E extends GenviewEventName> = (payload: GenviewEvents[E]) => void;

export class EventBus {
  private listeners = new Map<GenviewEventName, Set<Listener<GenviewEventName>>>();

  on<E extends GenviewEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<GenviewEventName>);
    return () => set.delete(listener as Listener<GenviewEventName>);
  }

  emit<E extends GenviewEventName>(event: E, payload: GenviewEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of set) listener(payload);
  }

  /** Shorthand for a log event. */
  log(source: string, message: string, level: GenviewEvents['log']['level'] = 'info'): void {
    this.emit('log', { level, source, message });
  }
}
