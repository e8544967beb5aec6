// OpenAI's published schemas (shared/fixtures/openai/openapi-schemas.json) compiled with ajv's
// JSON Schema 2020-12 build, and assertSchema(name, body) for the SDK tests.
//
// Env: RINGSERVE_FIXTURES (default: ../shared/fixtures relative to the repo root).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = process.env.RINGSERVE_FIXTURES || path.resolve(repoRoot, '..', 'shared', 'fixtures');
const schemaDoc = JSON.parse(fs.readFileSync(path.join(fixtures, 'openai', 'openapi-schemas.json'), 'utf8'));

// The document is OpenAPI 3.1 (JSON Schema 2020-12) but still carries OpenAPI 3.0's
// `nullable: true` in places (e.g. the chat stream's `usage`, a `$ref` that ajv cannot
// compile with it). Rewritten as 2020-12 says it: null is one more allowed type (and enum
// value); a schema without a type becomes anyOf [itself, null].
function rewriteNullable(node) {
  if (Array.isArray(node)) return node.map(rewriteNullable);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'nullable' ? v : rewriteNullable(v);
  if (out.nullable !== true) return out;
  delete out.nullable;
  if (out.type !== undefined) {
    const types = Array.isArray(out.type) ? out.type : [out.type];
    if (!types.includes('null')) out.type = [...types, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  const { description, ...rest } = out;
  return { ...(description === undefined ? {} : { description }), anyOf: [rest, { type: 'null' }] };
}

// OpenAI's document uses two formats of its own: `unixtime` (integer seconds) and `int64`.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('unixtime', { type: 'number', validate: (x) => Number.isInteger(x) && x >= 0 });
ajv.addFormat('int64', { type: 'number', validate: (x) => Number.isInteger(x) });
ajv.addSchema({ $id: 'openai', components: rewriteNullable(schemaDoc.components) });

export function assertSchema(name, body) {
  const validate = ajv.getSchema(`openai#/components/schemas/${name}`);
  assert.ok(validate, `schema ${name} not in the fixtures`);
  if (!validate(body)) {
    assert.fail(`${name} does not validate: ${ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body).slice(0, 2000)}`);
  }
}
