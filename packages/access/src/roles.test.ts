import assert from 'node:assert/strict';
import { test } from 'node:test';
import { API_ROLES, roleAllows } from './index.js';

test('each role allows what the ones before it allow, but only an approver approves', () => {
  const table = Object.fromEntries(API_ROLES.map((held) => [held, API_ROLES.filter((needed) => roleAllows(held, needed))]));
  assert.deepEqual(table, {
    viewer: ['viewer'],
    operator: ['viewer', 'operator'],
    approver: ['viewer', 'operator', 'approver'],
    admin: ['viewer', 'operator', 'admin'],
  });
});
