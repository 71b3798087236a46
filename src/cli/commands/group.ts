import { createAuthClient, type GroupResponse } from '../../sdk/auth-client.js';
import { apiClient, printJson, printTable } from '../context.js';

const groupsApi = () => createAuthClient(apiClient());

function printGroup(g: GroupResponse): void {
  printTable(['KEY', 'VALUE'], [['name', g.name], ['policies', g.policies.join(', ')], ['description', g.description], ['updated', g.updated_at]]);
  if (g.members.length > 0) {
    process.stdout.write('\n');
    printTable(['MEMBER KIND', 'MEMBER', 'ADDED BY', 'ADDED'], g.members.map((m) => [m.kind, m.value, m.added_by, m.added_at]));
  }
}

function member(o: { role?: string; accessor?: string; awsKey?: string }): ['role' | 'accessor' | 'aws_key', string] {
  const given = [o.role && ['role', o.role], o.accessor && ['accessor', o.accessor], o.awsKey && ['aws_key', o.awsKey]].filter(Boolean) as ['role' | 'accessor' | 'aws_key', string][];
  if (given.length !== 1) throw new Error('give exactly one of --role <mount>/<role>, --accessor <acc_…> or --aws-key <AKCU…>');
  return given[0]!;
}

export async function createCommand(name: string, o: { policy: string[]; description?: string; json?: boolean }): Promise<void> {
  const g = await groupsApi().writeGroup(name, { policies: o.policy, description: o.description });
  if (o.json) return printJson(g);
  printGroup(g);
}
export async function readCommand(name: string, o: { json?: boolean }): Promise<void> {
  const g = await groupsApi().readGroup(name);
  if (o.json) return printJson(g);
  printGroup(g);
}
export async function listCommand(o: { json?: boolean }): Promise<void> {
  const { groups } = await groupsApi().listGroups();
  if (o.json) return printJson(groups);
  printTable(['GROUP', 'POLICIES', 'MEMBERS'], groups.map((g) => [g.name, g.policies.join(','), g.members.length]));
}
export async function deleteCommand(name: string, options: { json?: boolean } = {}): Promise<void> {
  await groupsApi().deleteGroup(name);
  if (options.json) return printJson({ deleted: name });
  process.stdout.write(`deleted group ${name}\n`);
}
export async function addMemberCommand(name: string, o: { role?: string; accessor?: string; awsKey?: string; json?: boolean }): Promise<void> {
  const g = await groupsApi().addGroupMember(name, ...member(o));
  if (o.json) return printJson(g);
  printGroup(g);
}
export async function removeMemberCommand(name: string, o: { role?: string; accessor?: string; awsKey?: string; json?: boolean }): Promise<void> {
  const g = await groupsApi().removeGroupMember(name, ...member(o));
  if (o.json) return printJson(g);
  printGroup(g);
}
