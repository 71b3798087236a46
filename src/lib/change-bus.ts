import { EventEmitter } from 'node:events';

/**
 * Announces changes that invalidate in-memory caches (token revoked, policy written,
 * keyring rotated). In one process this is an EventEmitter; with several nodes on
 * PostgreSQL the same interface is carried across nodes (LISTEN/NOTIFY).
 */
export type ChangeTopic = 'token' | 'policy' | 'keyring' | 'secret' | 'auth' | 'group';

export interface ChangeBus {
  /**
   * Tells every node (this one included) that `key` under `topic` changed. Subscribers must
   * treat the key `*` as "anything under this topic may have changed" (sent after a
   * cross-node bus reconnects, when notifications may have been missed).
   */
  publish(topic: ChangeTopic, key: string): void;
  subscribe(listener: (topic: ChangeTopic, key: string) => void): void;
  close(): Promise<void>;
}

export function createLocalChangeBus(): ChangeBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  return {
    publish: (topic, key) => void emitter.emit('change', topic, key),
    subscribe: (listener) => void emitter.on('change', listener),
    close: async () => void emitter.removeAllListeners(),
  };
}
