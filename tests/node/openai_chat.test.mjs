// POST /v1/chat/completions driven by the official `openai` npm SDK, every body, chunk and
// error checked against OpenAI's published schemas (CreateChatCompletionResponse,
// CreateChatCompletionStreamResponse, ErrorResponse).
//
// Env: RINGSERVE_HTTP, RINGSERVE_API_KEY, RINGSERVE_MODEL: a pool whose model has a chat
// template (`ringserve up`'s synthetic model carries ChatML);
// RINGSERVE_STORIES_HTTP, RINGSERVE_STORIES_API_KEY, RINGSERVE_STORIES_MODEL: a pool serving
// stories260K with examples/chat/chatml.jinja (the chat == plain-completion test; skipped
// without them, failed under CI=true); `ringserve-model` on PATH.
// tests/node/run_sdk_tests.sh starts both pools and sets them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import OpenAI from 'openai';

import { assertSchema, repoRoot } from './schemas.mjs';

const HTTP = (process.env.RINGSERVE_HTTP ?? '').replace(/\/+$/, '');
const API_KEY = process.env.RINGSERVE_API_KEY ?? '';
const MODEL = process.env.RINGSERVE_MODEL ?? 'synth';
if (!HTTP || !API_KEY) {
  throw new Error('set RINGSERVE_HTTP and RINGSERVE_API_KEY (tests/node/run_sdk_tests.sh does)');
}
const STORIES_HTTP = (process.env.RINGSERVE_STORIES_HTTP ?? '').replace(/\/+$/, '');
const STORIES_KEY = process.env.RINGSERVE_STORIES_API_KEY ?? '';
const STORIES_MODEL = process.env.RINGSERVE_STORIES_MODEL ?? 'stories';
const CHATML = path.join(repoRoot, 'examples', 'chat', 'chatml.jinja');

const client = new OpenAI({ baseURL: `${HTTP}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });

const USER = [{ role: 'user', content: 'Tell me a story about a ring.' }];
const CONVERSATION = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' },
  { role: 'assistant', content: 'Once upon a time there was a cat.' },
  { role: 'user', content: [{ type: 'text', text: 'And then?' }, { type: 'text', text: 'Go on.' }] },
];

async function chat(params, c = client, model = MODEL) {
  const { data, response } = await c.chat.completions
    .create({ model, messages: USER, max_tokens: 24, ...params })
    .withResponse();
  assertSchema('CreateChatCompletionResponse', data);
  return { data, response };
}

async function message(params) {
  const { data } = await chat(params);
  assert.equal(data.choices.length, 1);
  return data.choices[0];
}

// Validates a chunk (its finish_reason is nullable in this schema, unlike completions').
function assertChunk(chunk) {
  assertSchema('CreateChatCompletionStreamResponse', chunk);
  assert.equal(chunk.object, 'chat.completion.chunk');
}

async function streamed(params, c = client, model = MODEL) {
  const stream = await c.chat.completions.create({ model, messages: USER, max_tokens: 24, ...params, stream: true });
  const chunks = [];
  for await (const chunk of stream) {
    assertChunk(chunk);
    chunks.push(chunk);
  }
  return chunks;
}

// Per choice index: the role seen, the content, the finish_reason.
function collect(chunks) {
  const by = {};
  for (const chunk of chunks) {
    for (const ch of chunk.choices) {
      const c = (by[ch.index] ??= { role: null, content: '', finish: null, deltas: 0 });
      if (ch.delta.role) {
        assert.equal(c.deltas, 0, 'the role comes in the first chunk of a choice');
        c.role = ch.delta.role;
      }
      if (typeof ch.delta.content === 'string') c.content += ch.delta.content;
      if (ch.finish_reason) c.finish = ch.finish_reason;
      c.deltas += 1;
    }
  }
  return by;
}

// Raw HTTP for what the SDK would not send.
async function raw(body, { key = API_KEY } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${HTTP}/v1/chat/completions`, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`HTTP ${res.status} (${res.headers.get('content-type')}): body is not JSON: ${text.slice(0, 300)}`);
  }
  return { status: res.status, headers: res.headers, json };
}

async function expectError(body, status, { param, code } = {}) {
  const res = await raw(typeof body === 'string' ? body : JSON.stringify({ model: MODEL, max_tokens: 8, ...body }));
  assert.equal(res.status, status, `want HTTP ${status}, got ${res.status}: ${JSON.stringify(res.json)}`);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assertSchema('ErrorResponse', res.json);
  if (param !== undefined) assert.equal(res.json.error.param, param, JSON.stringify(res.json));
  if (code !== undefined) assert.equal(res.json.error.code, code, JSON.stringify(res.json));
  return res.json.error;
}

test('chat: a plain chat completion is schema-valid, has usage, x-ringserve-job and its job', async () => {
  const { data, response } = await chat({ seed: 1, temperature: 0.8 });
  assert.equal(data.object, 'chat.completion');
  assert.match(data.id, /^chatcmpl-[0-9a-f]{24}$/);
  assert.equal(data.model, MODEL);
  const c = data.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.equal(c.message.refusal, null);
  assert.equal(c.logprobs, null);
  assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  assert.ok(data.usage.prompt_tokens > 0);
  assert.ok(data.usage.completion_tokens > 0 && data.usage.completion_tokens <= 24);
  assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
  const job = response.headers.get('x-ringserve-job');
  assert.ok(job && !job.includes(','), job);
  const res = await fetch(`${HTTP}/v1/jobs/${encodeURIComponent(job)}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  const record = await res.json();
  assert.equal(record.id, job);
  assert.deepEqual(record.response, { object: 'chat.completion', id: data.id, model: MODEL, index: 0 });
});

test('chat streaming with include_usage: role first, chunks valid, content equals the whole answer', async () => {
  const params = { seed: 4242, temperature: 0.8, max_tokens: 24 };
  const { data: whole } = await chat(params);
  const chunks = await streamed({ ...params, stream_options: { include_usage: true } });
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, whole.usage);
  for (const chunk of chunks.slice(0, -1)) {
    assert.equal(chunk.usage ?? null, null, 'only the last chunk carries usage');
    assert.equal(chunk.id, chunks[0].id);
  }
  const finals = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
  assert.equal(finals.length, 1, 'one final chunk');
  assert.deepEqual(finals[0].choices[0].delta, {});
  const got = collect(chunks)[0];
  assert.equal(got.role, 'assistant');
  assert.equal(got.content, whole.choices[0].message.content);
  assert.equal(got.finish, whole.choices[0].finish_reason);
  // Without include_usage: no usage chunk.
  const plain = await streamed(params);
  assert.ok(plain.every((c) => c.choices.length === 1 && (c.usage ?? null) === null));
  assert.equal(collect(plain)[0].content, whole.choices[0].message.content);
});

test('chat: multi-turn conversations with system and developer messages and text parts', async () => {
  const single = await chat({ seed: 3, temperature: 0.8, messages: [CONVERSATION[1]] });
  const multi = await chat({ seed: 3, temperature: 0.8, messages: CONVERSATION });
  assert.ok(multi.data.usage.prompt_tokens > single.data.usage.prompt_tokens,
    `${multi.data.usage.prompt_tokens} vs ${single.data.usage.prompt_tokens}`);
  // developer is shown to the template as system: the same prompt.
  const asDeveloper = CONVERSATION.map((m) => (m.role === 'system' ? { ...m, role: 'developer' } : m));
  const dev = await chat({ seed: 3, temperature: 0.8, messages: asDeveloper });
  assert.equal(dev.data.choices[0].message.content, multi.data.choices[0].message.content);
  assert.deepEqual(dev.data.usage, multi.data.usage);
  // A system message adds to the prompt.
  const withSystem = await chat({ seed: 3, messages: [{ role: 'system', content: 'Be brief.' }, ...USER] });
  const without = await chat({ seed: 3, messages: USER });
  assert.ok(withSystem.data.usage.prompt_tokens > without.data.usage.prompt_tokens);
  // Tools go to the template; tool_choice "auto" is accepted (calls are not parsed out).
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
  const withTools = await chat({ seed: 3, tools, tool_choice: 'auto' });
  assert.ok(['stop', 'length'].includes(withTools.data.choices[0].finish_reason));
});

test('chat n=2: two choices, two job ids, each reproducible with a seed, streamed too', async () => {
  const params = { n: 2, seed: 99, temperature: 1, max_tokens: 16 };
  const a = await chat(params);
  assert.deepEqual(a.data.choices.map((c) => c.index).sort(), [0, 1]);
  const ids = a.response.headers.get('x-ringserve-job').split(',');
  assert.equal(ids.length, 2);
  assert.notEqual(ids[0], ids[1]);
  const b = await chat(params);
  const byIndex = (r) => Object.fromEntries(r.data.choices.map((c) => [c.index, c.message.content]));
  assert.deepEqual(byIndex(b), byIndex(a));
  const chunks = await streamed(params);
  const got = collect(chunks);
  assert.deepEqual(Object.keys(got).sort(), ['0', '1']);
  for (const i of [0, 1]) {
    assert.equal(got[i].role, 'assistant');
    assert.equal(got[i].content, byIndex(a)[i]);
  }
});

test('chat stop: a string from the middle of a seeded output ends the output before it', async () => {
  let found = null;
  for (let seed = 10; seed < 40 && !found; seed++) {
    const params = { seed, temperature: 1, max_tokens: 32 };
    const full = (await message(params)).message.content;
    for (let at = Math.floor(full.length / 3); at + 3 <= full.length - 2 && !found; at++) {
      const stop = full.slice(at, at + 3);
      if (/^[\x21-\x7e]{3}$/.test(stop) && full.indexOf(stop) > 0) found = { params, full, stop };
    }
  }
  assert.ok(found, 'no seeded output with a usable stop string');
  const { params, full, stop } = found;
  const stopped = await message({ ...params, stop: [stop] });
  assert.equal(stopped.finish_reason, 'stop');
  assert.equal(stopped.message.content, full.slice(0, full.indexOf(stop)));
});

test('chat seed: the same seed repeats the answer at temperature 1; different seeds differ', async () => {
  const a = await message({ seed: 123, temperature: 1 });
  const b = await message({ seed: 123, temperature: 1 });
  assert.equal(b.message.content, a.message.content);
  const c = await message({ seed: 124, temperature: 1 });
  const d = await message({ seed: 125, temperature: 1 });
  assert.ok(c.message.content !== a.message.content || d.message.content !== a.message.content);
});

test('chat logprobs: true gives each token, its logprob and bytes', async () => {
  const { data } = await chat({ seed: 5, temperature: 1, logprobs: true, max_tokens: 12 });
  const content = data.choices[0].logprobs.content;
  assert.equal(content.length, data.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(Number.isFinite(t.logprob) && t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.deepEqual(t.top_logprobs, []);
  }
  const chunks = await streamed({ seed: 5, temperature: 1, logprobs: true, max_tokens: 12 });
  const streamedTokens = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
  assert.deepEqual(streamedTokens, content);
});

test('chat top_logprobs: 5 lists 5 alternatives per token, streamed as whole', async () => {
  const { data } = await chat({ seed: 6, temperature: 1, logprobs: true, top_logprobs: 5, max_tokens: 10 });
  const content = data.choices[0].logprobs.content;
  assert.equal(content.length, data.usage.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 5);
    for (const a of t.top_logprobs) {
      assert.equal(typeof a.token, 'string');
      assert.ok(Number.isFinite(a.logprob) && a.logprob <= 0);
      assert.ok(Array.isArray(a.bytes));
    }
    for (let k = 1; k < 5; ++k) assert.ok(t.top_logprobs[k - 1].logprob >= t.top_logprobs[k].logprob);
    assert.ok(t.top_logprobs[0].logprob >= t.logprob - 1e-6);
  }
  const chunks = await streamed({ seed: 6, temperature: 1, logprobs: true, top_logprobs: 5, max_tokens: 10 });
  const streamedTokens = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
  assert.deepEqual(streamedTokens, content);
});

test('chat resume: GET /v1/jobs/{id}/events replays the stream as chat chunks, the role first', async () => {
  const { response, data } = await chat({ seed: 8, max_tokens: 10 });
  const job = response.headers.get('x-ringserve-job');
  const res = await fetch(`${HTTP}/v1/jobs/${job}/events`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  const events = (await res.text()).split('\n\n').filter((e) => e.includes('data: '));
  assert.equal(events.at(-1).trim(), 'data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
  chunks.forEach(assertChunk);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks[0].id, data.id);
  assert.equal(collect(chunks)[0].content, data.choices[0].message.content);
});

test('chat errors: status and OpenAI ErrorResponse bodies, and the gateway serves on', async (t) => {
  const cases = [
    ['malformed JSON', '{"model": "synth", "messages": ', 400, {}],
    ['no messages', { }, 400, { param: 'messages' }],
    ['empty messages', { messages: [] }, 400, { param: 'messages' }],
    ['a role we do not know', { messages: [{ role: 'wizard', content: 'x' }] }, 400, { param: 'messages[0].role' }],
    ['content of a number', { messages: [{ role: 'user', content: 5 }] }, 400, { param: 'messages[0].content' }],
    ['an image part', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] },
      400, { param: 'messages[0].content[0].type', code: 'unsupported_parameter' }],
    ['top_logprobs 21', { messages: USER, logprobs: true, top_logprobs: 21 }, 400, { param: 'top_logprobs' }],
    ['top_logprobs without logprobs', { messages: USER, top_logprobs: 2 }, 400, { param: 'top_logprobs' }],
    ['tool_choice required', { messages: USER, tool_choice: 'required' }, 400, { param: 'tool_choice' }],
    ['response_format json', { messages: USER, response_format: { type: 'json_object' } }, 400, { param: 'response_format' }],
    ['logit_bias', { messages: USER, logit_bias: { 5: 1 } }, 400, { param: 'logit_bias' }],
    ['n 1e6', { messages: USER, n: 1000000 }, 400, { param: 'n' }],
    ['max_tokens -1', { messages: USER, max_tokens: -1 }, 400, { param: 'max_tokens' }],
    ['a template variable that breaks the template', { messages: USER, chat_template_kwargs: { messages: [{ content: 'no role' }] } },
      400, { param: 'messages', code: 'invalid_argument' }],
    ['a conversation longer than the context', { messages: [{ role: 'user', content: 'word '.repeat(20000) }], stream: true },
      400, { param: 'messages', code: 'context_length_exceeded' }],
    ['unknown model', { model: 'no-such-model', messages: USER }, 404, {}],
  ];
  for (const [name, body, status, opts] of cases) {
    await t.test(`${name} -> ${status}`, async () => {
      await expectError(body, status, opts);
    });
  }
  await t.test('SDK error classes', async () => {
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [] }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: USER, stream: true, top_logprobs: 3 }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
    const bad = new OpenAI({ baseURL: `${HTTP}/v1`, apiKey: 'rs-not-a-real-key', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: MODEL, messages: USER }),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  });
  await t.test('the gateway still answers afterwards', async () => {
    const c = await message({ seed: 2, max_tokens: 8 });
    assert.equal(typeof c.message.content, 'string');
  });
});

test('stories260K with ChatML: a chat completion equals a plain completion of the rendered prompt', async (t) => {
  if (!STORIES_HTTP || !STORIES_KEY) {
    if (process.env.CI === 'true') assert.fail('no stories260K pool under CI=true (RINGSERVE_STORIES_HTTP)');
    t.skip('no stories260K pool (RINGSERVE_STORIES_HTTP)');
    return;
  }
  const stories = new OpenAI({ baseURL: `${STORIES_HTTP}/v1`, apiKey: STORIES_KEY, maxRetries: 0, timeout: 60_000 });
  // A system message and a user's; then the multi-turn conversation (its text parts reach
  // the template joined with "\n", so that is what `ringserve-model chat` renders).
  const joined = (m) => (Array.isArray(m.content) ? { ...m, content: m.content.map((p) => p.text).join('\n') } : m);
  for (const messages of [CONVERSATION.slice(0, 2), CONVERSATION]) {
    const rendered = execFileSync('ringserve-model',
      ['chat', '--template', CHATML, '--messages', JSON.stringify(messages.map(joined)), '--add-generation-prompt'],
      { encoding: 'utf8' });
    assert.ok(rendered.startsWith('<|im_start|>system\nYou tell short stories.<|im_end|>\n'), rendered);
    for (const seed of [7, 8]) {
      const params = { max_tokens: 32, seed, temperature: 0.8 };
      const { data: c } = await chat({ ...params, messages }, stories, STORIES_MODEL);
      const p = await stories.completions.create({ model: STORIES_MODEL, prompt: rendered, ...params });
      assertSchema('CreateCompletionResponse', p);
      assert.equal(c.choices[0].message.content, p.choices[0].text, `seed ${seed}, ${messages.length} messages`);
      assert.equal(c.choices[0].finish_reason, p.choices[0].finish_reason);
      assert.deepEqual(c.usage, p.usage, `seed ${seed}`);
      assert.ok(c.usage.completion_tokens > 0);
      const chunks = await streamed({ ...params, messages }, stories, STORIES_MODEL);
      assert.equal(collect(chunks)[0].role, 'assistant');
      assert.equal(collect(chunks)[0].content, p.choices[0].text);
    }
  }
  // Without max_tokens a chat completion runs to the end of the context (stories260K: 2048).
  const { data: long } = await chat({ messages: CONVERSATION.slice(0, 2), seed: 1, ignore_eos: true, max_tokens: undefined }, stories, STORIES_MODEL);
  assert.equal(long.choices[0].finish_reason, 'length');
  assert.equal(long.usage.total_tokens, 2048, JSON.stringify(long.usage));
});
