import { EventEmitter } from 'node:events';

/**
 * Announces changes that invalidate in-memory caches (token revoked, policy written,
 * keyring rotated). In one process this is an EventEmitter; with several nodes on
 * PostgreSQL the same interface is carried across nodes (LISTEN/NOTIFY).
 */
export type ChangeTopic = 'token' | 'policy' | 'keyring' | 'secret' | 'transit' | 'audit' | 'rotation' | 'auth' | 'group';

/**
 * What a secret change was, for subscribers that report changes by name (the change feed):
 * names and version ids only, never values. Optional: most topics carry only a key.
 */
export interface ChangeDetail {
  name: string;
  kind: 'written' | 'label_moved' | 'rotated' | 'deleted' | 'restored' | 'metadata';
  versionId?: string | null;
  region?: string;
}

export interface ChangeBus {
  /**
   * Tells every node (this one included) that `key` under `topic` changed. Subscribers must
   * treat the key `*` as "anything under this topic may have changed" (sent after a
   * cross-node bus reconnects, when notifications may have been missed). Resolves once the
   * other nodes have been sent the change (at once in one process); callers may ignore it.
   */
  publish(topic: ChangeTopic, key: string, detail?: ChangeDetail): Promise<void>;
  subscribe(listener: (topic: ChangeTopic, key: string, detail?: ChangeDetail) => void): void;
  close(): Promise<void>;
}

export function createLocalChangeBus(): ChangeBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  return {
    publish: async (topic, key, detail) => void emitter.emit('change', topic, key, detail),
    subscribe: (listener) => void emitter.on('change', listener),
    close: async () => void emitter.removeAllListeners(),
  };
}
