#!/usr/bin/env -S npx tsx
/**
 * Writes the README's configuration table (between its config-table markers) and `.env.example`
 * from the schema and documentation in packages/config. Run: `pnpm config:docs`. A test in
 * packages/config fails while either file differs from what this would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderEnvExample, withConfigTable } from '../packages/config/src/render.js';

const root = resolve(import.meta.dirname, '..');
const readme = resolve(root, 'README.md');
writeFileSync(readme, withConfigTable(readFileSync(readme, 'utf8')));
writeFileSync(resolve(root, '.env.example'), renderEnvExample());
console.log('wrote README.md (configuration table) and .env.example');
