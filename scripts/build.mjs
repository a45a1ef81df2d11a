#!/usr/bin/env node
// Compiles the production form of every process into one directory (default dist/):
//   run.js          the entry point: `node dist/run.js PROCESS [ARGS…]` (services/run/src/run.ts)
//   healthcheck.js  `node dist/healthcheck.js PORT [PATH]`, a health check without curl
//   chunks/         the processes and the workspace code they share, loaded on demand
// with source maps beside them (run with --enable-source-maps) and meta.json (esbuild's metafile).
// The workspace's packages are compiled in; npm packages stay imports, resolved at run time from
// the production node_modules, which holds the dependencies of services/run (the build checks
// that every npm package the output imports is one of them, at the version the workspace uses,
// and that none of them is unused). The CLI's demo is left out: it runs the test kit's servers.
//   node scripts/build.mjs [--out DIR] [--manifest PACKAGE_JSON]
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string' }, manifest: { type: 'string' } } });
const out = resolve(values.out ?? join(root, 'dist'));
const manifestPath = resolve(values.manifest ?? join(root, 'services/run/package.json'));

/** Workspace packages imported by name that the build must not compile in (they stay out of production). */
const LEFT_OUT = new Set(['@breachwave/demo-service']);

const packageOf = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
const builtins = new Set(builtinModules);
const isBuiltin = (spec) => spec.startsWith('node:') || builtins.has(packageOf(spec));

const npmExternal = {
  name: 'npm-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const pkg = packageOf(args.path);
      if (pkg.startsWith('@breachwave/') && !LEFT_OUT.has(pkg)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { run: 'services/run/src/run.ts', healthcheck: 'services/run/src/healthcheck.ts' },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  plugins: [npmExternal],
});
writeFileSync(join(out, 'meta.json'), JSON.stringify(result.metafile));
// The output is ESM wherever the directory is copied to.
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);

// Every npm package the output imports must be a dependency of the production manifest, at the
// version the workspace package that imports it declares; and the manifest must hold nothing else.
const imported = new Set();
for (const output of Object.values(result.metafile.outputs)) {
  for (const imp of output.imports) {
    if (imp.external && !isBuiltin(imp.path)) imported.add(packageOf(imp.path));
  }
}
const declared = new Map();
for (const dir of ['packages', 'services']) {
  for (const name of readdirSync(join(root, dir))) {
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(join(root, dir, name, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (pkg.name === '@breachwave/run') continue;
    for (const [dep, version] of Object.entries(pkg.dependencies ?? {})) {
      if (!version.startsWith('workspace:')) (declared.get(dep) ?? declared.set(dep, new Set()).get(dep)).add(version);
    }
  }
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const runtime = manifest.dependencies ?? {};
const problems = [];
for (const pkg of [...imported].sort()) {
  if (LEFT_OUT.has(pkg)) continue;
  const want = declared.get(pkg);
  if (!(pkg in runtime)) problems.push(`${pkg} is imported by the build but is not a dependency of ${manifestPath}${want ? ` (the workspace uses ${[...want].join(', ')})` : ''}`);
  else if (want && !want.has(runtime[pkg])) problems.push(`${pkg}: ${manifestPath} pins ${runtime[pkg]}, the workspace uses ${[...want].join(', ')}`);
}
for (const pkg of Object.keys(runtime)) {
  if (!imported.has(pkg)) problems.push(`${pkg} is a dependency of ${manifestPath} but the build never imports it`);
}
if (problems.length) {
  process.stderr.write(`build: the production dependencies do not match what the build imports:\n${problems.map((p) => `  ${p}\n`).join('')}`);
  process.exit(1);
}
process.stderr.write(`build: ${out} (${Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.js')).length} files; imports ${Object.keys(runtime).length} npm packages, all production dependencies of ${manifest.name})\n`);
