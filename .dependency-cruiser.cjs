/**
 * Layering from docs/ARCHITECTURE.md, checked on the compiled output (dist/src):
 * adapters (cli, http, web) -> engines -> barrier/audit/policy -> storage; leaves
 * (errors, config, crypto, lib) depend on nothing inward. Data flows one way.
 * "Engines" are every capability folder: services/, engines/<name>/, auth/<method>/,
 * leases/, alerts/. scan/ is the client-side scanner: it reads files and talks to the
 * server through the SDK only.
 * agent/ (custos agent, on worker nodes) is a client too: SDK only.
 */
const layer = (name) => `^dist/src/${name}/`;
const ENGINES = '(services|engines|auth|leases|alerts)';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'services-are-not-adapters',
      comment: 'services never see HTTP, CLI or SDK objects',
      severity: 'error',
      from: { path: layer(`(${ENGINES.slice(1, -1)}|barrier|audit|policy|storage)`) },
      to: { path: layer('(http|cli|sdk|web|scan)') },
    },
    {
      name: 'storage-is-the-bottom',
      severity: 'error',
      from: { path: layer('storage') },
      to: { path: [layer(ENGINES), layer('(barrier|audit|policy|http|cli|scan)')] },
    },
    {
      name: 'policy-is-pure',
      comment: 'the policy evaluator is pure: no storage, no services, no I/O modules',
      severity: 'error',
      from: { path: layer('policy') },
      to: { path: [layer(ENGINES), layer('(storage|barrier|audit|http|cli|scan)'), '^(node:)?(fs|net|http|child_process)$'] },
    },
    {
      name: 'leaves-stay-leaves',
      severity: 'error',
      from: { path: layer('(errors|crypto|lib|config)') },
      to: { path: [layer(ENGINES), layer('(storage|barrier|audit|policy|http|cli|sdk|scan)')] },
    },
    {
      name: 'barrier-below-services',
      severity: 'error',
      from: { path: layer('(barrier|audit)') },
      to: { path: layer(ENGINES) },
    },
    {
      name: 'http-calls-services-not-storage',
      comment: 'adapters go through services; no SQL in routes',
      severity: 'error',
      from: { path: layer('(http|cli)') },
      to: { path: layer('storage'), pathNot: '\\.types\\.js$' },
    },
    {
      name: 'only-the-barrier-seals',
      comment: 'AES-GCM sealing and opening of stored data happens in the barrier alone',
      severity: 'error',
      from: { pathNot: layer('(barrier|crypto)') },
      to: { path: '^dist/src/crypto/aead\\.js$' },
    },
    {
      name: 'scanner-is-a-client',
      comment: 'custos scan runs on a developer machine or in CI: it reaches the server only through the SDK',
      severity: 'error',
      from: { path: layer('scan') },
      to: { path: [layer(ENGINES), layer('(storage|barrier|audit|policy|http)')] },
    },
    {
      name: 'agent-is-a-client',
      comment: 'custos agent runs on worker nodes: it reaches the server only through the SDK',
      severity: 'error',
      from: { path: layer('agent') },
      to: { path: [layer(ENGINES), layer('(storage|barrier|audit|policy|http)')] },
    },
    {
      name: 'sdk-is-standalone',
      comment: 'the SDK ships to pipelines: it depends on nothing of the server',
      severity: 'error',
      from: { path: layer('sdk') },
      to: { path: layer('(?!sdk)[^/]+') },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.js$' },
    moduleSystems: ['es6'],
  },
};
