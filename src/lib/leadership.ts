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
  /**
   * True only when it is certain that no running process of that node is connected (e.g. it
   * was killed): work it owned may be taken over before its lease ends. False when alive or
   * unknown. Absent where there is only one node.
   */
  isNodeGone?(nodeId: string): Promise<boolean>;
}

export function createSingleNodeLeadership(nodeId = 'node-1'): Leadership {
  return { isLeader: () => true, nodeId, close: async () => undefined };
}
