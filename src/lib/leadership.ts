/**
 * Singleton work (rotation scheduler, retention pruning, purge, lease expiry) runs on exactly
 * one node at a time. A single SQLite node is always the leader; with several nodes on
 * PostgreSQL a database lease decides (see storage/postgres leadership).
 */
export interface Leadership {
  /** True while this node holds the lease for singleton work. Check before each unit of work. */
  isLeader(): boolean;
  /** This node's id, recorded in audit details of singleton work. */
  readonly nodeId: string;
  close(): Promise<void>;
}

export function createSingleNodeLeadership(nodeId = 'node-1'): Leadership {
  return { isLeader: () => true, nodeId, close: async () => undefined };
}
