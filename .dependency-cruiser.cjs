/**
 * Layering from docs/ARCHITECTURE.md, checked on the compiled output (dist/src):
 * adapters (cli, http, web) -> services -> barrier/audit/policy -> storage; leaves
 * (errors, config, crypto, lib) depend on nothing inward. Data flows one way.
 */
const layer = (name) => `^dist/src/${name}/`;
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'services-are-not-adapters',
      comment: 'services never see HTTP, CLI or SDK objects',
      severity: 'error',
      from: { path: layer('(services|barrier|audit|policy|storage)') },
      to: { path: layer('(http|cli|sdk|web)') },
    },
    {
      name: 'storage-is-the-bottom',
      severity: 'error',
      from: { path: layer('storage') },
      to: { path: layer('(services|barrier|audit|policy|http|cli)') },
    },
    {
      name: 'policy-is-pure',
      comment: 'the policy evaluator is pure: no storage, no services, no I/O modules',
      severity: 'error',
      from: { path: layer('policy') },
      to: { path: [layer('(storage|services|barrier|audit|http|cli)'), '^(node:)?(fs|net|http|child_process)$'] },
    },
    {
      name: 'leaves-stay-leaves',
      severity: 'error',
      from: { path: layer('(errors|crypto|lib|config)') },
      to: { path: layer('(storage|services|barrier|audit|policy|http|cli|sdk)') },
    },
    {
      name: 'barrier-below-services',
      severity: 'error',
      from: { path: layer('(barrier|audit)') },
      to: { path: layer('services') },
    },
    {
      name: 'http-calls-services-not-storage',
      comment: 'adapters go through services; no SQL in routes',
      severity: 'error',
      from: { path: layer('(http|cli)') },
      to: { path: layer('storage/(?!audit-store)'), pathNot: '\\.types\\.js$' },
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
