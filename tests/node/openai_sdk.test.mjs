// ringserve's HTTP gateway driven by the official `openai` npm SDK, every body checked against
// OpenAI's published schemas (shared/fixtures/openai/openapi-schemas.json).
//
// Env: RINGSERVE_HTTP (base URL, e.g. http://127.0.0.1:PORT), RINGSERVE_API_KEY, RINGSERVE_MODEL,
// RINGSERVE_FIXTURES (default: ../shared/fixtures relative to the repo root).
// tests/node/run_sdk_tests.sh starts `ringserve up` and sets them.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { assertSchema } from './schemas.mjs';

const HTTP = (process.env.RINGSERVE_HTTP ?? '').replace(/\/+$/, '');
const API_KEY = process.env.RINGSERVE_API_KEY ?? '';
const MODEL = process.env.RINGSERVE_MODEL ?? 'synth';
if (!HTTP || !API_KEY) {
  throw new Error('set RINGSERVE_HTTP and RINGSERVE_API_KEY (tests/node/run_sdk_tests.sh does)');
}

const client = new OpenAI({ baseURL: `${HTTP}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });

const PROMPT = 'Once upon a time';

async function complete(params) {
  const { data, response } = await client.completions
    .create({ model: MODEL, prompt: PROMPT, max_tokens: 24, ...params })
    .withResponse();
  assertSchema('CreateCompletionResponse', data);
  return { data, response };
}

async function text(params) {
  const { data } = await complete(params);
  assert.equal(data.choices.length, 1);
  return data.choices[0];
}

// Raw HTTP for what the SDK would not send.
async function raw(body, { key = API_KEY, contentType = 'application/json', route = '/v1/completions' } = {}) {
  const headers = { 'Content-Type': contentType };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${HTTP}${route}`, { method: 'POST', headers, body });
  const textBody = await res.text();
  let json;
  try {
    json = JSON.parse(textBody);
  } catch {
    assert.fail(`HTTP ${res.status}: body is not JSON: ${textBody.slice(0, 300)}`);
  }
  return { status: res.status, headers: res.headers, json };
}

async function expectError(body, status, { param, ...opts } = {}) {
  const res = await raw(body, opts);
  assert.equal(res.status, status, `want HTTP ${status}, got ${res.status}: ${JSON.stringify(res.json)}`);
  assertSchema('ErrorResponse', res.json);
  if (param !== undefined) assert.equal(res.json.error.param, param, JSON.stringify(res.json));
  return res.json.error;
}

const req = (fields) => JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: 8, ...fields });

test('models.list contains the model; the raw list validates against ListModelsResponse', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL), `models: ${ids.join(', ')}`);
  const res = await client.models.list().asResponse();
  assert.equal(res.status, 200);
  assertSchema('ListModelsResponse', await res.json());
});

test('completions: a plain completion is schema-valid, has usage and x-ringserve-job', async () => {
  const { data, response } = await complete({ seed: 1, temperature: 0.8 });
  assert.equal(data.object, 'text_completion');
  assert.equal(data.model, MODEL);
  assert.equal(data.choices.length, 1);
  const c = data.choices[0];
  assert.equal(c.index, 0);
  assert.equal(typeof c.text, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  assert.ok(data.usage, 'usage present');
  assert.ok(data.usage.prompt_tokens > 0);
  assert.ok(data.usage.completion_tokens > 0 && data.usage.completion_tokens <= 24);
  assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
  const job = response.headers.get('x-ringserve-job');
  assert.ok(job && job.length > 0, 'x-ringserve-job header');
  assert.ok(!job.includes(','), job);
  // The id names the job: GET /v1/jobs/{id} knows it.
  const res = await fetch(`${HTTP}/v1/jobs/${encodeURIComponent(job)}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).id, job);
});

test('streaming with include_usage: chunks validate, usage last, text equals the non-streamed text', async () => {
  const params = { seed: 4242, temperature: 0.8, max_tokens: 24 };
  const { data: plainData } = await complete(params);
  const plain = plainData.choices[0];

  const stream = await client.completions.create({
    model: MODEL, prompt: PROMPT, ...params, stream: true, stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 2, `${chunks.length} chunks`);

  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, [], 'the last chunk has choices []');
  assert.ok(usageChunk.usage, 'the last chunk carries usage');
  assertSchema('CreateCompletionResponse', usageChunk);

  const textChunks = chunks.slice(0, -1);
  let streamed = '';
  let finish = null;
  textChunks.forEach((chunk, i) => {
    assert.equal(chunk.usage ?? null, null, `chunk ${i} carries no usage`);
    assert.equal(chunk.choices.length, 1, `chunk ${i}`);
    const c = chunk.choices[0];
    assert.equal(c.index, 0);
    streamed += c.text;
    const last = i === textChunks.length - 1;
    if (last) {
      assert.ok(['stop', 'length'].includes(c.finish_reason), `final finish_reason ${c.finish_reason}`);
      finish = c.finish_reason;
      assertSchema('CreateCompletionResponse', chunk);
    } else {
      // OpenAI's own streams send finish_reason: null before the end, which the schema does not
      // allow (see the fixtures' README): validate a copy with it filled in.
      assert.equal(c.finish_reason, null, `chunk ${i} finish_reason`);
      const copy = structuredClone(chunk);
      copy.choices[0].finish_reason = 'length';
      assertSchema('CreateCompletionResponse', copy);
    }
  });
  assert.equal(streamed, plain.text);
  assert.equal(finish, plain.finish_reason);
  assert.deepEqual(usageChunk.usage, plainData.usage);
  assert.equal(usageChunk.usage.total_tokens, usageChunk.usage.prompt_tokens + usageChunk.usage.completion_tokens);
});

test('n=2: two choices, two job ids, each choice reproducible with a seed', async () => {
  const params = { n: 2, seed: 99, temperature: 1, max_tokens: 16 };
  const a = await complete(params);
  assert.equal(a.data.choices.length, 2);
  assert.deepEqual(a.data.choices.map((c) => c.index).sort(), [0, 1]);
  const ids = a.response.headers.get('x-ringserve-job').split(',');
  assert.equal(ids.length, 2, ids.join(','));
  for (const id of ids) assert.ok(id.trim().length > 0);
  assert.notEqual(ids[0].trim(), ids[1].trim());

  const b = await complete(params);
  const byIndex = (r) => Object.fromEntries(r.data.choices.map((c) => [c.index, c.text]));
  assert.deepEqual(byIndex(b), byIndex(a));
});

test('stop: a string from the middle of a seeded output ends the output before it', async () => {
  // Find a seeded output with a plain-ASCII substring in its middle whose first occurrence is
  // past the start (so the stopped output is non-empty).
  let found = null;
  for (let seed = 10; seed < 40 && !found; seed++) {
    const params = { seed, temperature: 1, max_tokens: 32 };
    const full = (await text(params)).text;
    for (let at = Math.floor(full.length / 3); at + 3 <= full.length - 2 && !found; at++) {
      const stop = full.slice(at, at + 3);
      if (/^[\x21-\x7e]{3}$/.test(stop) && full.indexOf(stop) > 0) found = { params, full, stop };
    }
  }
  assert.ok(found, 'no seeded output with a usable stop string');
  const { params, full, stop } = found;
  const stopped = await text({ ...params, stop });
  assert.equal(stopped.finish_reason, 'stop');
  assert.ok(!stopped.text.includes(stop), `output ${JSON.stringify(stopped.text)} contains stop ${JSON.stringify(stop)}`);
  assert.equal(stopped.text, full.slice(0, full.indexOf(stop)));
});

test('seed: the same seed repeats the text at temperature 1; different seeds differ', async () => {
  const a = await text({ seed: 123, temperature: 1 });
  const b = await text({ seed: 123, temperature: 1 });
  assert.equal(b.text, a.text);
  const c = await text({ seed: 124, temperature: 1 });
  const d = await text({ seed: 125, temperature: 1 });
  assert.ok(c.text !== a.text || d.text !== a.text, 'three seeds gave the same text');
});

test('logprobs: 0 gives the chosen tokens and their logprobs', async () => {
  const { data } = await complete({ seed: 5, temperature: 1, logprobs: 0, max_tokens: 12 });
  const lp = data.choices[0].logprobs;
  assert.ok(lp, 'logprobs present');
  const n = data.usage.completion_tokens;
  assert.ok(Array.isArray(lp.tokens) && lp.tokens.length === n, `tokens ${lp.tokens?.length} vs ${n}`);
  assert.ok(Array.isArray(lp.token_logprobs) && lp.token_logprobs.length === n);
  for (const x of lp.token_logprobs) assert.ok(typeof x === 'number' && x <= 0 && Number.isFinite(x), String(x));
  for (const t of lp.tokens) assert.equal(typeof t, 'string');
});

test('logprobs: 3 gives each position its 3 most likely tokens (a {text: logprob} map)', async () => {
  const { data } = await complete({ seed: 5, temperature: 1, logprobs: 3, max_tokens: 12 });
  const lp = data.choices[0].logprobs;
  const n = data.usage.completion_tokens;
  assert.equal(lp.top_logprobs.length, n);
  lp.top_logprobs.forEach((top, i) => {
    const values = Object.values(top);
    assert.ok(values.length >= 1 && values.length <= 3, JSON.stringify(top));
    for (const v of values) assert.ok(Number.isFinite(v) && v <= 0);
    assert.ok(Math.max(...values) >= lp.token_logprobs[i] - 1e-6, `position ${i}: the best alternative is below the token`);
  });
});

test('echo: true with max_tokens: 0 scores the prompt (the first logprob null), as harnesses ask', async () => {
  const res = await raw(JSON.stringify({ model: MODEL, prompt: PROMPT, echo: true, max_tokens: 0, logprobs: 2 }));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const choice = res.json.choices[0];
  const lp = choice.logprobs;
  assert.equal(choice.finish_reason, 'length');
  assert.equal(res.json.usage.completion_tokens, 0);
  assert.equal(lp.tokens.length, res.json.usage.prompt_tokens);
  assert.equal(lp.tokens.join(''), choice.text);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  for (const x of lp.token_logprobs.slice(1)) assert.ok(Number.isFinite(x) && x <= 0, String(x));
  // The same prompt echoed before a completion: the same prompt logprobs, then the tokens.
  const withCompletion = await raw(JSON.stringify({ model: MODEL, prompt: PROMPT, echo: true, max_tokens: 4, logprobs: 2, seed: 3 }));
  assert.equal(withCompletion.status, 200);
  const w = withCompletion.json.choices[0];
  assert.ok(w.text.startsWith(choice.text));
  assert.deepEqual(w.logprobs.token_logprobs.slice(0, lp.tokens.length), lp.token_logprobs);
  assert.equal(w.logprobs.tokens.length, lp.tokens.length + withCompletion.json.usage.completion_tokens);
});

test('a prompt of token ids (as lm-eval sends it) is scored as given, one choice per id array', async () => {
  const ids = [1, 50, 100, 150, 200];
  // (not checked against the published schema, which has no null for the first echoed
  // position's logprob: OpenAI's own answers do, as the echo test above shows)
  const score = (prompt, logprobs) =>
    client.completions.create({ model: MODEL, prompt, echo: true, max_tokens: 0, logprobs });
  const data = await score(ids, 1);
  assert.equal(data.usage.prompt_tokens, ids.length, 'no BOS is added to token ids');
  const lp = data.choices[0].logprobs;
  assert.equal(lp.tokens.length, ids.length);
  assert.equal(lp.tokens.join(''), data.choices[0].text);
  assert.equal(lp.token_logprobs[0], null);
  for (const x of lp.token_logprobs.slice(1)) assert.ok(Number.isFinite(x) && x <= 0, String(x));
  const two = await score([ids, ids.slice(2)], 0);
  assert.equal(two.choices.length, 2);
  const byIndex = [...two.choices].sort((a, b) => a.index - b.index);
  assert.deepEqual(byIndex[0].logprobs.token_logprobs, lp.token_logprobs);
  assert.equal(byIndex[1].logprobs.tokens.length, ids.length - 2);
  assert.equal(two.usage.prompt_tokens, 2 * ids.length - 2);
});

test('errors: status and OpenAI ErrorResponse bodies', async (t) => {
  await t.test('malformed JSON -> 400', async () => {
    await expectError('{"model": "synth", "prompt": ', 400);
  });
  await t.test('max_tokens: "10" -> 400 naming max_tokens', async () => {
    await expectError(req({ max_tokens: '10' }), 400, { param: 'max_tokens' });
  });
  await t.test('a 10 MB body -> 413', async () => {
    const body = `{"model":"${MODEL}","prompt":"${'a'.repeat(10 * 1024 * 1024)}"}`;
    await expectError(body, 413);
  });
  await t.test('100000-deep nesting -> 400', async () => {
    await expectError('['.repeat(100000) + ']'.repeat(100000), 400);
    await expectError(`{"model":"${MODEL}","prompt":"x","x":${'['.repeat(100000)}`, 400);
  });
  await t.test('invalid UTF-8 bytes -> 400', async () => {
    const body = Buffer.concat([
      Buffer.from(`{"model":"${MODEL}","prompt":"abc`), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}'),
    ]);
    await expectError(body, 400);
  });
  await t.test('n: 1000000 -> 400 naming n', async () => {
    await expectError(req({ n: 1000000 }), 400, { param: 'n' });
  });
  await t.test('max_tokens: -5 -> 400 naming max_tokens', async () => {
    await expectError(req({ max_tokens: -5 }), 400, { param: 'max_tokens' });
  });
  await t.test('unknown model -> 404', async () => {
    await expectError(JSON.stringify({ model: 'no-such-model', prompt: 'x', max_tokens: 4 }), 404);
  });
  await t.test('missing key -> 401', async () => {
    await expectError(req({}), 401, { key: null });
  });
  await t.test('wrong key -> 401', async () => {
    await expectError(req({}), 401, { key: 'rs-not-a-real-key' });
  });
  const refused = {
    logprobs: 6,
    max_tokens: 0,
    logit_bias: { 50256: -100 },
    response_format: { type: 'json_object' },
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    suffix: 'the end',
    best_of: 2,
    presence_penalty: 0.5,
    frequency_penalty: -0.5,
  };
  for (const [field, value] of Object.entries(refused)) {
    await t.test(`refused field ${field}=${JSON.stringify(value)} -> 400 naming it`, async () => {
      await expectError(req({ [field]: value }), 400, { param: field });
    });
  }
  await t.test('the gateway still answers afterwards', async () => {
    const c = await text({ seed: 2, max_tokens: 8 });
    assert.equal(typeof c.text, 'string');
  });
});

test('SDK errors: unknown model -> NotFoundError, bad key -> AuthenticationError', async () => {
  await assert.rejects(
    client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 4 }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
  );
  const bad = new OpenAI({ baseURL: `${HTTP}/v1`, apiKey: 'rs-not-a-real-key', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(
    bad.completions.create({ model: MODEL, prompt: 'x', max_tokens: 4 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401,
  );
});
