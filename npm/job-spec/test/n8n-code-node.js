// Runs examples/n8n-code-node.js (the README's Code node, "Run Once for Each Item") the
// way n8n runs it: a function body with `$json` in scope and a `require` that lets only
// the modules of NODE_FUNCTION_ALLOW_EXTERNAL through, resolved from where the package
// was installed (the current directory: scripts/test-npm.sh installs the packed tarball
// there, as into n8n's node_modules).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const vm = require('node:vm');

const allowed = new Set(['@api-gpu/job-spec']); // NODE_FUNCTION_ALLOW_EXTERNAL=@api-gpu/job-spec
const installed = createRequire(path.join(process.cwd(), 'n8n.js'));
const sandboxRequire = (name) => {
  if (!allowed.has(name)) throw new Error(`Cannot find module '${name}' [not in NODE_FUNCTION_ALLOW_EXTERNAL]`);
  return installed(name);
};
const code = fs.readFileSync(path.join(__dirname, '..', 'examples', 'n8n-code-node.js'), 'utf8');
const run = ($json) => vm.runInNewContext(`(function () {\n${code}\n})()`, { require: sandboxRequire, $json });

assert.ok(installed.resolve('@api-gpu/job-spec').startsWith(process.cwd()), 'the installed copy, not the source tree');
const good = run({ images: [{ image_url: 'https://cdn.example.com/a.jpg', duracao: 3 }] });
assert.equal(good.json.valid, true);
assert.equal(good.json.problems.length, 0);
const bad = run({ images: [{ image_url: 'http://cdn.example.com/a.jpg', duracao: 0 }] });
assert.equal(bad.json.valid, false);
assert.deepEqual(bad.json.problems.map((p) => [p.field, p.code]), [
  ['images[0].image_url', 'insecure-url'],
  ['images[0].duracao', 'out-of-range'],
]);
console.log('n8n Code node example: ok');
