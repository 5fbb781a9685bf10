// @api-gpu/job-spec: the edge's request validation (job-spec, Rust) for JavaScript.
// CommonJS for Node >= 18 (n8n's Code node `require`s it). The wasm module is built by
// `make npm` into dist/ (wasm-bindgen --target nodejs: loaded synchronously here).
'use strict';

const wasm = require('./dist/job_spec_js.js');

function canonicalPath(operation) {
  if (typeof operation !== 'string') {
    throw new TypeError(`operation must be a route string such as "/video/img2vid", got ${typeof operation}`);
  }
  const path = wasm.operationPath(operation);
  if (path === undefined) {
    const e = new TypeError(`unknown operation "${operation}": operations() lists the routes`);
    e.code = 'unknown-operation';
    throw e;
  }
  return path;
}

/**
 * Validates `text`, a request body as JSON text (the bytes the edge would receive):
 * `null` when the edge would accept it, else the edge's 400 body
 * `{error, code: "validation-failed", message, details: [{field, code, message}]}`.
 */
function validateJson(operation, text) {
  canonicalPath(operation);
  if (typeof text !== 'string') throw new TypeError('text must be a string of JSON');
  const answer = wasm.validateJson(operation, text);
  return answer === undefined ? null : JSON.parse(answer);
}

/**
 * Validates `body`, any JavaScript value, as the JSON it becomes (`JSON.stringify`);
 * `undefined` is an empty body. `null` when valid, else the edge's 400 body.
 */
function validate(operation, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  return validateJson(operation, text === undefined ? '' : text);
}

/** Every operation: `[{path, name, aliases}]`. */
function operations() {
  return JSON.parse(wasm.operationsJson());
}

/** The canonical route of `operation` (a route, an alias or a job's `operation` name). */
function operationPath(operation) {
  return canonicalPath(operation);
}

/** The OpenAPI 3.1 document the edge serves at `/openapi.json` (without `servers`). */
function openapi() {
  return JSON.parse(wasm.openapiJson());
}

module.exports = { validate, validateJson, operations, operationPath, openapi };
