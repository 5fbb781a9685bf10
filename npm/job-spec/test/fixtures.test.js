// The validation fixtures of job-spec's Rust test (job-spec/tests/validation_fixtures.rs)
// through the package: each body gets exactly the fixture's problems, in the edge's 400
// body, and a valid one gets null. Run by scripts/test-npm.sh (`node --test`).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const jobSpec = require('..');

const dir = path.join(__dirname, '..', '..', '..', 'job-spec', 'tests', 'fixtures', 'validation');
const fixtures = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))]);

// The edge's answer for these problems (edge/src/api_error.rs, `ApiError::validation`;
// job-spec/js's `validation_body` is tested against it).
function edgeAnswer(problems) {
  if (problems.length === 0) return null;
  const n = problems.length;
  return { code: 'validation-failed', details: problems, error: 'Bad Request', message: `the request has ${n} problem${n === 1 ? '' : 's'}` };
}

test('there are fixtures to run', () => {
  assert.ok(fixtures.length >= 40, `${fixtures.length} fixtures in ${dir}`);
});

for (const [file, fx] of fixtures) {
  test(`fixture ${file}`, () => {
    const got = 'text' in fx ? jobSpec.validateJson(fx.operation, fx.text) : jobSpec.validate(fx.operation, fx.body);
    assert.deepStrictEqual(got, edgeAnswer(fx.problems));
  });
}

test('validate(op, body) is validateJson(op, JSON.stringify(body))', () => {
  const body = { url_video: 'https://x.test/v.mp4' };
  assert.deepStrictEqual(jobSpec.validate('/video/caption', body), jobSpec.validateJson('/video/caption', JSON.stringify(body)));
  // `undefined` is an empty body, as a POST without one.
  assert.equal(jobSpec.validate('/video/caption', undefined).details[0].code, 'invalid-json');
});

test('operations() lists every route the edge accepts, with the seed aliases', () => {
  const ops = jobSpec.operations();
  assert.equal(ops.length, 19);
  assert.deepStrictEqual(ops[0], { path: '/video/img2vid', name: 'video/img2vid', aliases: ['/runpod/video/img2vid', '/vps/video/img2vid'] });
  const byPath = Object.fromEntries(ops.map((o) => [o.path, o]));
  assert.ok(byPath['/audio/transcribe'].aliases.includes('/runpod/audio/transcribe-whisper'));
  assert.ok(byPath['/image/generate'].aliases.includes('/vps/imagem/gerarImagens'));
  // Every path and alias names its operation, in any of the accepted spellings.
  for (const op of ops) {
    for (const route of [op.path, op.name, `${op.path}/`, ...op.aliases]) {
      assert.equal(jobSpec.operationPath(route), op.path, route);
    }
  }
});

test('an unknown operation throws a TypeError', () => {
  assert.throws(() => jobSpec.validate('/video/nope', {}), (e) => e instanceof TypeError && e.code === 'unknown-operation');
  assert.throws(() => jobSpec.validate('img2vid', {}), TypeError);
  assert.throws(() => jobSpec.validate(undefined, {}), TypeError);
  assert.throws(() => jobSpec.validateJson('/video/caption', {}), TypeError);
});

test('the OpenAPI document is the edge\'s', () => {
  const doc = jobSpec.openapi();
  assert.equal(doc.openapi, '3.1.0');
  for (const op of jobSpec.operations()) assert.ok(doc.paths[op.path].post, op.path);
});
