// The generated declarations (dist/requests.d.ts, from job-spec's OpenAPI schemas): one
// request type per operation, mapped by route in `Requests`, and no field that may be
// left out typed as required (`field: T | null` where `field?: T | null` is meant).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { operations, openapi } = require('..');

const dts = fs.readFileSync(path.join(__dirname, '..', 'dist', 'requests.d.ts'), 'utf8');

test('Requests maps every canonical route to its exported request type', () => {
  const doc = openapi();
  for (const op of operations()) {
    const ref = doc.paths[op.path].post.requestBody.content['application/json'].schema.$ref;
    const name = ref.split('/').pop();
    assert.match(dts, new RegExp(`^  "${op.path}": ${name};$`, 'm'), op.path);
    assert.match(dts, new RegExp(`^export (interface|type) ${name}\\b`, 'm'), name);
  }
});

test('fields the edge lets a body leave out are optional in the types', () => {
  const doc = openapi();
  const schemas = doc.components.schemas;
  for (const op of operations()) {
    const name = doc.paths[op.path].post.requestBody.content['application/json'].schema.$ref.split('/').pop();
    const block = dts.match(new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)^\\}`, 'm'));
    assert.ok(block, `${name} is an interface`);
    // Top-level members only (two-space indent).
    const members = [...block[1].matchAll(/^  ("?[\w/]+"?)(\??): /gm)].map((m) => [m[1], m[2] === '?']);
    const props = schemas[name].properties;
    for (const [field, optional] of members) {
      const nullable = JSON.stringify(props[field]).includes('"null"');
      if (nullable) assert.ok(optional, `${name}.${field} accepts null (absent) but is required in the types`);
    }
    assert.ok(members.length > 0, name);
  }
  assert.doesNotMatch(dts, /^\s+[\w"]+: [^\n]*\| null;$/m, 'a required field typed `T | null`');
});
