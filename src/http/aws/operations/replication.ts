import { bad, bool, replicaRegionsOf, strList } from '../aws-input.js';
import type { OperationContext, Operations } from '../aws-operations.js';
import { replicationJson } from '../aws-shapes.js';

/**
 * Multi-region replicas: ReplicateSecretToRegions, RemoveRegionsFromReplication (sent to the
 * primary's region) and StopReplicationToReplica (sent to the replica's region).
 */
export function replicationOperations({ secrets, replication, resolve, holdIfNeeded }: OperationContext): Operations {
  return {
    async ReplicateSecretToRegions(call, input) {
      const ref = await resolve(call, input);
      const regions = replicaRegionsOf(input, 'AddReplicaRegions');
      if (!regions) bad('AddReplicaRegions is required');
      if (regions.some((r) => r.region === (ref.region ?? call.region))) bad('Invalid replica region.');
      const overwrite = bool(input, 'ForceOverwriteReplicaSecret') ?? false;
      await holdIfNeeded(call, { kind: 'replication.add', name: ref.name, region: ref.region, regions, overwrite });
      const result = await replication.replicate(call.identity, ref, regions, overwrite);
      call.detail({ regions: regions.map((r) => r.region).join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async RemoveRegionsFromReplication(call, input) {
      const ref = await resolve(call, input);
      const regions = strList(input, 'RemoveReplicaRegions');
      if (!regions || regions.length === 0) bad('RemoveReplicaRegions is required');
      await holdIfNeeded(call, { kind: 'replication.remove', name: ref.name, region: ref.region, regions });
      const result = await replication.removeRegions(call.identity, ref, regions);
      call.detail({ regions: regions.join(',') });
      return { ARN: secrets.arnOf(result.arnRow), ReplicationStatus: replicationJson(result.statuses) };
    },

    async StopReplicationToReplica(call, input) {
      const ref = await resolve(call, input);
      await holdIfNeeded(call, { kind: 'replication.promote', name: ref.name, region: ref.region });
      return { ARN: secrets.arnOf(await replication.promote(call.identity, ref)) };
    },
  };
}
