// The official `openai` npm client, unchanged, pointed at `sleeptime serve`.
//
//   node tests/openai_compat/compat.mjs BASE_URL [API_KEY]
//
// BASE_URL is the server's root (http://127.0.0.1:PORT); API_KEY defaults to
// "test-key". Checks the chat-completions shape (plain and streamed, with the
// final usage chunk), the usage fields including cached tokens and the
// `sleeptime` object once a context is ready, the context API (through plain
// fetch: it is an extension the client does not know), and that errors arrive
// as the client's typed exceptions. Prints one line per check; exits 1 on the
// first failure, 0 when all pass. Run by tests/openai_compat_test.cpp.
import OpenAI from 'openai';

const root = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const apiKey = process.argv[3] || 'test-key';
const READY_TIMEOUT_MS = Number(process.env.COMPAT_READY_TIMEOUT_MS || 180000);

// What an application would write: only the base URL and key differ from OpenAI's.
const client = new OpenAI({ baseURL: `${root}/v1`, apiKey });

class CheckFailed extends Error {}
function check(cond, what, detail) {
  if (!cond) {
    throw new CheckFailed(`${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}
const isCount = (n) => Number.isInteger(n) && n >= 0;

function checkUsage(u, maxCompletion, where) {
  check(u && typeof u === 'object', `${where}: usage present`, u);
  check(isCount(u.prompt_tokens) && u.prompt_tokens > 0, `${where}: usage.prompt_tokens > 0`, u);
  check(isCount(u.completion_tokens) && u.completion_tokens > 0, `${where}: usage.completion_tokens > 0`, u);
  check(u.completion_tokens <= maxCompletion, `${where}: usage.completion_tokens <= ${maxCompletion}`, u);
  check(u.total_tokens === u.prompt_tokens + u.completion_tokens, `${where}: total = prompt + completion`, u);
  const cached = u.prompt_tokens_details?.cached_tokens;
  check(isCount(cached) && cached <= u.prompt_tokens, `${where}: prompt_tokens_details.cached_tokens`, u);
}

// Non-OpenAI endpoints, through fetch with the same bearer key.
async function api(method, path, body) {
  const res = await fetch(`${root}${path}`, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

// Reads a streamed completion; returns the chunks, the text and the usage chunk.
async function collectStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  const finish = chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f);
  const withUsage = chunks.filter((c) => c.usage);
  return { chunks, text, finish, withUsage };
}

function checkStream(s, where) {
  check(s.chunks.length >= 3, `${where}: at least 3 chunks`, s.chunks.length);
  for (const c of s.chunks) {
    check(c.object === 'chat.completion.chunk', `${where}: chunk.object`, c);
    check(c.id === s.chunks[0].id, `${where}: one id for all chunks`, c);
  }
  check(s.chunks[0].choices[0].delta.role === 'assistant', `${where}: first delta has the role`, s.chunks[0]);
  check(s.finish.length === 1 && ['stop', 'length'].includes(s.finish[0]), `${where}: one finish_reason`, s.finish);
  check(s.withUsage.length === 1, `${where}: exactly one chunk carries usage`, s.withUsage.length);
  const last = s.chunks[s.chunks.length - 1];
  check(last === s.withUsage[0], `${where}: the usage chunk comes last`, last);
  check(Array.isArray(last.choices) && last.choices.length === 0, `${where}: the usage chunk has no choices`, last);
}

const checks = [];
const step = (name, fn) => checks.push({ name, fn });

step('models.list', async () => {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  check(ids.length >= 1 && ids.every((id) => typeof id === 'string'), 'model ids', ids);
});

// The same request without a context, plain and streamed: their answers must agree.
const hello = {
  model: 'sleeptime',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello.' },
  ],
  max_tokens: 12,
  temperature: 0,
};

let plain;
step('chat.completions.create (no context)', async () => {
  plain = await client.chat.completions.create(hello);
  check(plain.object === 'chat.completion', 'object', plain.object);
  check(typeof plain.id === 'string' && plain.id.length > 0, 'id', plain.id);
  check(Number.isInteger(plain.created), 'created', plain.created);
  check(plain.choices.length === 1, 'one choice', plain.choices);
  const c = plain.choices[0];
  check(c.index === 0 && c.message.role === 'assistant', 'choice index and role', c);
  check(typeof c.message.content === 'string' && c.message.content.length > 0, 'content', c);
  check(['stop', 'length'].includes(c.finish_reason), 'finish_reason', c.finish_reason);
  checkUsage(plain.usage, 12, 'plain');
  check(plain.usage.sleeptime === undefined, 'no sleeptime usage without a context', plain.usage);
});

step('chat.completions.create stream + include_usage (no context)', async () => {
  const stream = await client.chat.completions.create({
    ...hello,
    stream: true,
    stream_options: { include_usage: true },
  });
  const s = await collectStream(stream);
  checkStream(s, 'stream');
  check(s.text.length > 0, 'streamed text is not empty', s.text);
  checkUsage(s.withUsage[0].usage, 12, 'stream');
  // Greedy both times: the same number of tokens, ending for the same reason.
  check(s.withUsage[0].usage.completion_tokens === plain.usage.completion_tokens, 'same completion_tokens as plain',
    [s.withUsage[0].usage, plain.usage]);
  check(s.finish[0] === plain.choices[0].finish_reason, 'same finish_reason as plain', [s.finish, plain.choices]);
});

step('stream without include_usage has no usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model: 'sleeptime',
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 4,
    stream: true,
  });
  const s = await collectStream(stream);
  check(s.withUsage.length === 0, 'no usage chunk', s.withUsage);
  check(s.finish.length === 1, 'one finish_reason', s.finish);
});

const contextId = `compat-${process.pid}`;
const doc = 'Ann has 12 apples. Bob has 5 more than Ann. Cid has twice as many as Bob. Dee has 3 fewer than Cid.';

step('POST /v1/contexts then wait for /learned to be ready', async () => {
  const created = await api('POST', '/v1/contexts', { id: contextId, text: doc });
  check(created.status === 201, 'POST /v1/contexts -> 201', created.text);
  check(created.json.id === contextId && created.json.version === 1, 'created context', created.json);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let learned;
  for (;;) {
    learned = await api('GET', `/v1/contexts/${contextId}/learned`);
    check(learned.status === 200, 'GET /learned -> 200', learned.text);
    const st = learned.json.status;
    check(['none', 'queued', 'sleeping', 'ready'].includes(st), 'learned status', learned.json);
    if (st === 'ready') break;
    check(Date.now() < deadline, `ready within ${READY_TIMEOUT_MS} ms`, learned.json);
    await new Promise((r) => setTimeout(r, 100));
  }
  check(learned.json.learned && typeof learned.json.learned.text === 'string', 'learned.text', learned.json);
  check(learned.json.learned.version === 1, 'learned.version', learned.json);
  check(learned.json.learned.sleep_tokens > 0, 'learned.sleep_tokens > 0', learned.json);
});

function checkSleeptimeUsage(u, where) {
  const st = u.sleeptime;
  check(st && typeof st === 'object', `${where}: usage.sleeptime present`, u);
  check(st.context_id === contextId, `${where}: sleeptime.context_id`, st);
  check(st.used_learned_context === true, `${where}: sleeptime.used_learned_context`, st);
  check(st.learned_version === 1, `${where}: sleeptime.learned_version`, st);
  check(['memory', 'disk', 'resident'].includes(st.kv_state), `${where}: sleeptime.kv_state`, st);
  check(st.sleep_tokens > 0, `${where}: sleeptime.sleep_tokens > 0`, st);
  check(isCount(st.queries_served_by_learned_context) && st.queries_served_by_learned_context >= 1,
    `${where}: sleeptime.queries_served_by_learned_context`, st);
  check(typeof st.amortized_sleep_tokens === 'number' && st.amortized_sleep_tokens > 0 &&
    st.amortized_sleep_tokens <= st.sleep_tokens, `${where}: sleeptime.amortized_sleep_tokens`, st);
  check(typeof st.forced_answer === 'boolean', `${where}: sleeptime.forced_answer`, st);
  // The context and c′ came from a saved KV state, not a new prefill.
  check(u.prompt_tokens_details.cached_tokens > 0, `${where}: cached_tokens > 0`, u);
}

const question = [{ role: 'user', content: 'How many apples does Dee have?' }];

step('chat with the context (sleeptime extension) uses c′ and its KV state', async () => {
  const r = await client.chat.completions.create({
    model: 'sleeptime',
    messages: question,
    max_tokens: 16,
    sleeptime: { context_id: contextId, budget: 16 },
  });
  check(r.choices[0].message.role === 'assistant', 'role', r.choices[0]);
  checkUsage(r.usage, 16, 'context');
  checkSleeptimeUsage(r.usage, 'context');
});

step('streamed chat with the context reports the sleeptime usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'sleeptime',
    messages: question,
    max_tokens: 16,
    stream: true,
    stream_options: { include_usage: true },
    sleeptime: { context_id: contextId, budget: 16 },
  });
  const s = await collectStream(stream);
  checkStream(s, 'context stream');
  checkUsage(s.withUsage[0].usage, 16, 'context stream');
  checkSleeptimeUsage(s.withUsage[0].usage, 'context stream');
  check(s.withUsage[0].usage.sleeptime.queries_served_by_learned_context >= 2, 'second query counted',
    s.withUsage[0].usage.sleeptime);
});

step('unknown context -> NotFoundError 404', async () => {
  let err;
  try {
    await client.chat.completions.create({
      model: 'sleeptime',
      messages: question,
      sleeptime: { context_id: `no-such-context-${process.pid}` },
    });
  } catch (e) {
    err = e;
  }
  check(err instanceof OpenAI.NotFoundError, 'throws OpenAI.NotFoundError', String(err));
  check(err.status === 404, 'status 404', err.status);
  check(/not found/.test(err.message), 'message says not found', err.message);
  check(err.type === 'not_found_error', 'error.type', err.type);
});

step('bad request -> BadRequestError 400 naming the parameter', async () => {
  let err;
  try {
    await client.chat.completions.create({ model: 'sleeptime', messages: [] });
  } catch (e) {
    err = e;
  }
  check(err instanceof OpenAI.BadRequestError, 'throws OpenAI.BadRequestError', String(err));
  check(err.status === 400 && err.param === 'messages', 'status 400, param messages', [err.status, err.param]);
});

step('wrong API key -> AuthenticationError 401', async () => {
  const stranger = new OpenAI({ baseURL: `${root}/v1`, apiKey: 'not-a-key' });
  let err;
  try {
    await stranger.chat.completions.create({ model: 'sleeptime', messages: question, max_tokens: 4 });
  } catch (e) {
    err = e;
  }
  check(err instanceof OpenAI.AuthenticationError, 'throws OpenAI.AuthenticationError', String(err));
  check(err.status === 401, 'status 401', err.status);
});

step('DELETE /v1/contexts/{id}', async () => {
  const del = await api('DELETE', `/v1/contexts/${contextId}`);
  check(del.status === 200 && del.json.deleted === true, 'deleted', del.text);
  const gone = await api('GET', `/v1/contexts/${contextId}`);
  check(gone.status === 404, 'then 404', gone.text);
});

let failed = false;
for (const { name, fn } of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
    failed = true;
    break;
  }
}
console.log(failed ? 'openai compat: FAILED' : `openai compat: all ${checks.length} checks passed`);
process.exit(failed ? 1 : 0);
