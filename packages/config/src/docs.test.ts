import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadAuditWriterSettings, loadCliConfig, loadConfig, sections, variableDocs, variables } from './index.js';
import { README_END, README_START, REGENERATE, renderEnvExample, withConfigTable } from './render.js';

const root = resolve(import.meta.dirname, '../../..');

test('every schema variable has a doc entry and every doc entry names a schema variable', () => {
  const schema = Object.keys(variables).sort();
  const docs = Object.keys(variableDocs).sort();
  assert.deepEqual(docs.filter((name) => !schema.includes(name)), [], 'doc entries without a variable');
  assert.deepEqual(schema.filter((name) => !docs.includes(name)), [], 'variables without a doc entry');
});

test('a variable belongs to exactly one section', () => {
  const names = Object.values(sections).flatMap((table) => Object.keys(table));
  assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), []);
  assert.equal(names.length, Object.keys(variables).length);
});

test('every doc entry says what the variable does, gives an example and names a reader', () => {
  for (const [name, doc] of Object.entries(variableDocs)) {
    assert.ok(doc.description.length > 10, `${name}: description`);
    assert.ok(doc.example.length > 0, `${name}: example`);
    assert.ok(doc.services.length > 0, `${name}: services`);
  }
});

test('no secret variable\'s bad value appears in the error, whichever loader reports it', () => {
  const loaders = [loadConfig, loadAuditWriterSettings, loadCliConfig];
  for (const [name, doc] of Object.entries(variableDocs)) {
    if (!doc.secret) continue;
    // Short enough to break every length rule, with characters no format accepts.
    const bad = `x|${name.toLowerCase()}|!`;
    for (const load of loaders) {
      try {
        load({ [name]: bad });
      } catch (err) {
        assert.ok(!(err as Error).message.includes(bad), `${name}'s value was echoed by ${load.name}`);
      }
    }
  }
});

test('the README table and .env.example are generated from the schema and up to date', () => {
  const hint = `regenerate with \`${REGENERATE}\` and commit the result`;
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  assert.ok(readme.includes(README_START) && readme.includes(README_END), `README.md lacks the config-table markers; ${hint}`);
  assert.ok(readme === withConfigTable(readme), `README.md's configuration table is out of date: ${hint}`);
  let envExample = '';
  try {
    envExample = readFileSync(resolve(root, '.env.example'), 'utf8');
  } catch {
    assert.fail(`.env.example is missing: ${hint}`);
  }
  assert.ok(envExample === renderEnvExample(), `.env.example is out of date: ${hint}`);
});

test('.env.example leaves every secret empty and every variable in it', () => {
  const text = renderEnvExample();
  for (const [name, doc] of Object.entries(variableDocs)) {
    const line = text.split('\n').find((l) => l === `${name}=` || l.startsWith(`${name}=`) || l.startsWith(`# ${name}=`));
    assert.ok(line, `${name} missing from .env.example`);
    if (doc.secret) assert.match(line, new RegExp(`^(# )?${name}=$`), `${name} is a secret and must be empty`);
  }
});
