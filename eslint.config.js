// Lint for what bites in async queue code: floating and misused promises, throwing non-errors,
// and import cycles between packages. And the layout's rules, enforced rather than remembered:
// who may import a vendor SDK, that packages never import a service, that production code never
// imports the test kit.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

// `no-restricted-imports` takes one option set per file: a later config block that sets it
// replaces, not extends, an earlier one. So every block below gets its whole list from here.
const RESTRICTED = {
  twilio: {
    regex: '^twilio(/|$)',
    message: 'Only packages/adapter-twilio imports the twilio SDK: it maps every vendor error to the catalog. Use its SmsSender.',
  },
  nodemailer: {
    regex: '^nodemailer(/|$)',
    message: 'Only packages/adapter-smtp imports nodemailer: it maps every vendor error to the catalog. Use its EmailSender.',
  },
  services: {
    regex: '^@breachwave/[a-z0-9-]+-service(/|$)|(^|/)services/',
    message: 'A package never imports a service: services are composition roots over packages, not the other way round.',
  },
  testkit: {
    regex: '^@breachwave/testkit(/|$)',
    message: 'Production code never imports the test kit (test containers, fake providers): only tests, test/ and the test kit itself do.',
  },
};

/**
 * The import restrictions for one kind of file.
 * @param {{ vendor?: 'twilio' | 'nodemailer', inPackages?: boolean, testCode?: boolean }} allowed
 */
function restrictImports({ vendor, inPackages = false, testCode = false }) {
  const patterns = [];
  if (vendor !== 'twilio') patterns.push(RESTRICTED.twilio);
  if (vendor !== 'nodemailer') patterns.push(RESTRICTED.nodemailer);
  if (inPackages) patterns.push(RESTRICTED.services);
  if (!testCode) patterns.push(RESTRICTED.testkit);
  return { 'no-restricted-imports': ['error', { patterns }] };
}

const TESTS = ['**/*.test.ts'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.breachwave/**', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      // One program for the whole workspace: a program per package tsconfig (projectService) ran
      // out of heap on the full tree.
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner awaits itself.
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': 'error',
      'no-console': 'off',
    },
    settings: { 'import-x/resolver': { node: true } },
  },
  // Later blocks win for the files they match: from the general to the particular.
  { files: ['**/*.ts'], rules: restrictImports({}) },
  { files: ['test/**/*.ts', ...TESTS], rules: restrictImports({ testCode: true }) },
  { files: ['packages/**/*.ts'], rules: restrictImports({ inPackages: true }) },
  { files: TESTS.map((t) => `packages/${t}`), rules: restrictImports({ inPackages: true, testCode: true }) },
  { files: ['packages/testkit/**/*.ts'], rules: restrictImports({ inPackages: true, testCode: true }) },
  { files: ['packages/adapter-twilio/**/*.ts'], rules: restrictImports({ vendor: 'twilio', inPackages: true }) },
  { files: TESTS.map((t) => `packages/adapter-twilio/${t}`), rules: restrictImports({ vendor: 'twilio', inPackages: true, testCode: true }) },
  { files: ['packages/adapter-smtp/**/*.ts'], rules: restrictImports({ vendor: 'nodemailer', inPackages: true }) },
  { files: TESTS.map((t) => `packages/adapter-smtp/${t}`), rules: restrictImports({ vendor: 'nodemailer', inPackages: true, testCode: true }) },
  {
    // The demo starts a Redis container, an SMTP sink and a Twilio-compatible server from the test
    // kit so that it runs on a bare machine. It is the one service allowed to: it is a
    // demonstration, not part of a wave, and no production install or build carries it (the CLI
    // has it as a development dependency and loads it only when `demo` runs).
    files: ['services/demo/src/**/*.ts'],
    rules: restrictImports({ testCode: true }),
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
