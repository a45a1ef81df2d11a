#!/usr/bin/env node
// Checks every workspace package's declared dependencies against what its sources import:
//  - a `dependencies` entry that no production source imports is unused (or belongs in devDependencies);
//  - a package a production source imports must be in `dependencies`;
//  - a package a test imports must be in `dependencies` or `devDependencies`.
// Production sources are src/**/*.ts except *.test.ts and test-support.ts; tests are the rest.
// Node's built-ins and the package's own name are not dependencies. A type-only import or a
// dynamic import() may name a devDependency: an optional part, loaded only where it is installed.
// services/run is left out: it bundles the workspace, and its build checks its own list against
// what the bundle imports. Run by `pnpm lint`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const workspaces = ['packages', 'services'].flatMap((d) => readdirSync(join(root, d)).map((n) => join(root, d, n)))
  .filter((d) => statSync(join(d, 'package.json'), { throwIfNoEntry: false }) && d !== join(root, 'services', 'run'));
workspaces.push(join(root, 'test'));
const builtins = new Set(builtinModules);
// Type packages are read by the compiler, never imported by name.
const typesOnly = (name) => name.startsWith('@types/');

const IMPORT = /(?:^|\s)(?:import|export)\s([^'";]*?)from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]|\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]/gm;

function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return builtins.has(name) ? undefined : name;
}

function sources(dir) {
  const out = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      if (n === 'node_modules' || n === 'dist' || n.startsWith('.')) continue;
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs|js)$/.test(n)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const problems = [];
for (const ws of workspaces) {
  const pkg = JSON.parse(readFileSync(join(ws, 'package.json'), 'utf8'));
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const devDeps = new Set(Object.keys(pkg.devDependencies ?? {}));
  const isTestWorkspace = ws === join(root, 'test');
  const srcDir = isTestWorkspace ? ws : join(ws, 'src');
  const usedInProd = new Set();
  const usedInTests = new Set();
  for (const file of sources(srcDir)) {
    const test = isTestWorkspace || /\.test\.ts$|test-support\.ts$/.test(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const name = packageOf(m[2] ?? m[3] ?? m[4] ?? m[5]);
      if (!name || name === pkg.name) continue;
      const optional = m[3] !== undefined || /^type\s/.test(m[1] ?? '');
      (test ? usedInTests : usedInProd).add(name);
      const declared = test || optional ? deps.has(name) || devDeps.has(name) : deps.has(name);
      if (!declared) problems.push(`${relative(root, file)}: imports ${name}, which ${relative(root, ws)}/package.json does not declare${!test && devDeps.has(name) ? ' in dependencies (only in devDependencies)' : ''}`);
    }
  }
  for (const d of deps) {
    if (typesOnly(d)) continue;
    if (isTestWorkspace ? !usedInTests.has(d) : !usedInProd.has(d)) {
      problems.push(`${relative(root, ws)}/package.json: dependency ${d} is not imported by ${isTestWorkspace ? 'any test' : 'any production source'}${!isTestWorkspace && usedInTests.has(d) ? ' (only by tests: a devDependency)' : ''}`);
    }
  }
  for (const d of devDeps) {
    if (typesOnly(d)) continue;
    if (!usedInTests.has(d) && !usedInProd.has(d)) problems.push(`${relative(root, ws)}/package.json: devDependency ${d} is not imported anywhere`);
  }
}
const unique = [...new Set(problems)];
if (unique.length > 0) {
  console.error(`dependency check: ${unique.length} problem${unique.length === 1 ? '' : 's'}`);
  for (const p of unique) console.error(`  ${p}`);
  process.exit(1);
}
console.error(`dependency check: ${workspaces.length} workspaces, every declared dependency imported and every import declared`);
