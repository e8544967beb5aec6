// The official `openai` SDK over TLS: a gateway started with --tls-cert/--tls-key (a
// self-signed certificate the node process trusts through NODE_EXTRA_CA_CERTS), a whole
// completion and a streamed chat completion, bodies checked against OpenAI's schemas.
//
// Env: RINGSERVE_TLS_HTTP (https://127.0.0.1:PORT), RINGSERVE_TLS_API_KEY, RINGSERVE_MODEL,
// NODE_EXTRA_CA_CERTS (the certificate). tests/node/run_sdk_tests.sh sets them.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { assertSchema } from './schemas.mjs';

const HTTP = (process.env.RINGSERVE_TLS_HTTP ?? '').replace(/\/+$/, '');
const API_KEY = process.env.RINGSERVE_TLS_API_KEY ?? '';
const MODEL = process.env.RINGSERVE_MODEL ?? 'synth';

test('a completion and a streamed chat completion over verified TLS', { skip: !HTTP && 'no RINGSERVE_TLS_HTTP' }, async () => {
  assert.ok(HTTP.startsWith('https://'), HTTP);
  const client = new OpenAI({ baseURL: `${HTTP}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60_000 });
  const whole = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 12 });
  assertSchema('CreateCompletionResponse', whole);
  assert.equal(whole.choices[0].finish_reason === 'length' || whole.choices[0].finish_reason === 'stop', true);

  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 12,
    stream: true,
  });
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    assertSchema('CreateChatCompletionStreamResponse', chunk);
    chunks += 1;
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(chunks >= 2, `${chunks} chunks`);
  assert.ok(finish === 'length' || finish === 'stop', String(finish));
});
