import { bad, bool, replicaRegionsOf, strList } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';
import { replicationJson } from '../aws-shapes.js';

/**
 * Multi-region replicas: ReplicateSecretToRegions, RemoveRegionsFromReplication (sent to the
 * primary's region) and StopReplicationToReplica (sent to the replica's region).
 */
export function replicationOperations({ secrets, replication, resolve }: OperationContext): Operations {
  return {
    async ReplicateSecretToRegions(call, input) {
      const ref = await resolve(call, input);
      const regions = replicaRegionsOf(input, 'AddReplicaRegions');
      if (!regions) bad('AddReplicaRegions is required');
      if (regions.some((r) => r.region === (ref.region ?? call.region))) bad('Invalid replica region.');
      const result = await replication.replicate(call.identity, ref, regions, bool(input, 'ForceOverwriteReplicaSecret') ?? false);
      call.detail({ regions: regions.map((r) => r.region).join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async RemoveRegionsFromReplication(call, input) {
      const ref = await resolve(call, input);
      const regions = strList(input, 'RemoveReplicaRegions');
      if (!regions || regions.length === 0) bad('RemoveReplicaRegions is required');
      const result = await replication.removeRegions(call.identity, ref, regions);
      call.detail({ regions: regions.join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async StopReplicationToReplica(call, input) {
      const ref = await resolve(call, input);
      return { ARN: secrets.arnOf(await replication.promote(call.identity, ref)) };
    },
  };
}
