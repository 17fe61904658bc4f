// Shared helpers for the Node test clients (mirror of _mockenv.py).
//
// Env: MOCK_BASE_URL (required, e.g. https://localhost:PORT), MOCK_API_KEY,
//      NODE_EXTRA_CA_CERTS (cert.pem from the server's --cert-dir; read by node at startup),
//      MOCK_CLIENT_TAG (x-mock-client header value; default: the client's name).
// Every client prints exactly one JSON line on stdout; LLM calls are summarised as
//   {api, mode, stream, id, model, text, tool_calls:[{id,name,arguments}],
//    usage:{input_tokens,output_tokens,cache_read_input_tokens}, stop_reason}

export const DEFAULT_KEY = 'sk-mock-test-key-0123456789abcdef';
export const MODEL_ANTHROPIC = 'claude-mock-1';
export const MODEL_OPENAI = 'gpt-mock-1';
export const PROMPT = 'What is the weather in Paris right now? Use the tool if you need it.';

export function baseUrl() {
  const u = process.env.MOCK_BASE_URL;
  if (!u) {
    process.stderr.write('MOCK_BASE_URL is not set (e.g. https://localhost:PORT)\n');
    process.exit(2);
  }
  return u.replace(/\/+$/, '');
}
export const apiKey = () => process.env.MOCK_API_KEY || DEFAULT_KEY;
export const tag = (d) => process.env.MOCK_CLIENT_TAG || d;

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
    return o;
  }
  return v;
}

export function emit(obj) {
  if (obj.pid === undefined) obj.pid = process.pid;
  process.stdout.write(JSON.stringify(sortKeys(obj)) + '\n');
}

export function fail(client, err, extra = {}) {
  emit({ client, ok: false, error: `${err && err.name}: ${err && err.message}`, ...extra });
  process.exit(1);
}

// Parse CLI flags of the form --name value / --name=value / --flag.
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [k, v] = a.slice(2).split(/=(.*)/s, 2);
    if (v === undefined) {
      if (typeof defaults[k] === 'boolean') v = true;
      else v = argv[++i];
    }
    if (!(k in defaults)) throw new Error(`unknown flag --${k}`);
    out[k] = typeof defaults[k] === 'number' ? Number(v) : v;
  }
  return out;
}

export function runTool(name, args) {
  if (name === 'get_weather') {
    const unit = args.unit || 'celsius';
    return { city: args.city, unit, temperature: unit === 'celsius' ? 18 : 64, conditions: 'sunny' };
  }
  return { error: `unknown tool ${name}` };
}

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city'],
};
export const ANTHROPIC_TOOLS = [
  { name: 'get_weather', description: 'Get the current weather for a city.', input_schema: SCHEMA },
];
export const OPENAI_CHAT_TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Get the current weather for a city.', parameters: SCHEMA } },
];
export const OPENAI_RESPONSES_TOOLS = [
  { type: 'function', name: 'get_weather', description: 'Get the current weather for a city.', parameters: SCHEMA, strict: false },
];

function parseArgsJson(s) {
  if (s && typeof s === 'object') return s;
  try {
    return s ? JSON.parse(s) : {};
  } catch {
    return { _unparsed: s };
  }
}

export function parseSSE(text) {
  const out = [];
  let ev = null;
  let data = [];
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line === '') {
      if (data.length || ev) out.push([ev, data.join('\n')]);
      ev = null;
      data = [];
    } else if (line.startsWith(':')) {
      continue;
    } else {
      const i = line.indexOf(':');
      const k = i < 0 ? line : line.slice(0, i);
      let v = i < 0 ? '' : line.slice(i + 1);
      if (v.startsWith(' ')) v = v.slice(1);
      if (k === 'event') ev = v;
      else if (k === 'data') data.push(v);
    }
  }
  if (data.length || ev) out.push([ev, data.join('\n')]);
  return out;
}

export function summaryAnthropic(m, mode, stream = false) {
  const u = m.usage || {};
  const content = m.content || [];
  return {
    api: 'anthropic',
    mode,
    stream,
    id: m.id ?? null,
    model: m.model ?? null,
    text: content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    tool_calls: content.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, name: b.name, arguments: b.input ?? {} })),
    usage: {
      input_tokens: u.input_tokens ?? null,
      output_tokens: u.output_tokens ?? null,
      cache_read_input_tokens: u.cache_read_input_tokens ?? null,
    },
    stop_reason: m.stop_reason ?? null,
  };
}

export function accumulateAnthropicSSE(text, mode) {
  let msg = {};
  const blocks = new Map();
  const partial = new Map();
  for (const [, data] of parseSSE(text)) {
    const d = JSON.parse(data);
    if (d.type === 'message_start') msg = d.message;
    else if (d.type === 'content_block_start') {
      blocks.set(d.index, { ...d.content_block });
      partial.set(d.index, '');
    } else if (d.type === 'content_block_delta') {
      const b = blocks.get(d.index);
      if (d.delta.type === 'text_delta') b.text = (b.text || '') + d.delta.text;
      else if (d.delta.type === 'input_json_delta') partial.set(d.index, partial.get(d.index) + d.delta.partial_json);
    } else if (d.type === 'content_block_stop') {
      const b = blocks.get(d.index);
      if (b.type === 'tool_use') b.input = parseArgsJson(partial.get(d.index));
    } else if (d.type === 'message_delta') {
      msg.stop_reason = d.delta.stop_reason;
      msg.usage = { ...(msg.usage || {}), ...(d.usage || {}) };
    } else if (d.type === 'error') throw new Error(`stream error ${data}`);
  }
  msg.content = [...blocks.keys()].sort((a, b) => a - b).map((k) => blocks.get(k));
  return summaryAnthropic(msg, mode, true);
}

export function summaryChat(c, mode, stream = false) {
  const ch = (c.choices || [{}])[0] || {};
  const m = ch.message || {};
  const u = c.usage || {};
  return {
    api: 'openai_chat',
    mode,
    stream,
    id: c.id ?? null,
    model: c.model ?? null,
    text: m.content || '',
    tool_calls: (m.tool_calls || []).map((t) => ({ id: t.id, name: t.function.name, arguments: parseArgsJson(t.function.arguments) })),
    usage: {
      input_tokens: u.prompt_tokens ?? null,
      output_tokens: u.completion_tokens ?? null,
      cache_read_input_tokens: (u.prompt_tokens_details || {}).cached_tokens ?? null,
    },
    stop_reason: ch.finish_reason ?? null,
  };
}

// Merge chat.completion.chunk objects (tool_calls merged by index).
export function mergeChatChunks(chunks, mode) {
  let id = null, model = null, usage = null, finish = null, text = '';
  const tcs = new Map();
  for (const d of chunks) {
    id = d.id;
    model = d.model;
    if (d.usage) usage = d.usage;
    for (const ch of d.choices || []) {
      const dl = ch.delta || {};
      if (dl.content) text += dl.content;
      for (const tc of dl.tool_calls || []) {
        if (!tcs.has(tc.index)) tcs.set(tc.index, { id: null, function: { name: '', arguments: '' } });
        const cur = tcs.get(tc.index);
        if (tc.id) cur.id = tc.id;
        if (tc.function?.name) cur.function.name += tc.function.name;
        if (tc.function?.arguments) cur.function.arguments += tc.function.arguments;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  const tool_calls = [...tcs.keys()].sort((a, b) => a - b).map((k) => tcs.get(k));
  return summaryChat({ id, model, usage, choices: [{ message: { content: text, tool_calls }, finish_reason: finish }] }, mode, true);
}

export function accumulateChatSSE(text, mode) {
  const chunks = [];
  for (const [, data] of parseSSE(text)) {
    if (data.trim() === '[DONE]') break;
    chunks.push(JSON.parse(data));
  }
  return mergeChatChunks(chunks, mode);
}

export function summaryResponses(r, mode, stream = false) {
  const u = r.usage || {};
  let text = '';
  const calls = [];
  for (const it of r.output || []) {
    if (it.type === 'message') text += (it.content || []).filter((p) => p.type === 'output_text').map((p) => p.text).join('');
    else if (it.type === 'function_call') calls.push({ id: it.call_id, name: it.name, arguments: parseArgsJson(it.arguments) });
  }
  return {
    api: 'openai_responses',
    mode,
    stream,
    id: r.id ?? null,
    model: r.model ?? null,
    text,
    tool_calls: calls,
    usage: {
      input_tokens: u.input_tokens ?? null,
      output_tokens: u.output_tokens ?? null,
      cache_read_input_tokens: (u.input_tokens_details || {}).cached_tokens ?? null,
    },
    stop_reason: r.status ?? null,
  };
}

export function accumulateResponsesSSE(text, mode) {
  let final = null;
  let deltas = '';
  for (const [ev, data] of parseSSE(text)) {
    const d = JSON.parse(data);
    const t = d.type || ev;
    if (t === 'response.output_text.delta') deltas += d.delta;
    else if (t === 'response.completed' || t === 'response.incomplete' || t === 'response.failed') final = d.response;
  }
  if (!final) throw new Error('responses stream ended without response.completed');
  const s = summaryResponses(final, mode, true);
  if (s.text !== deltas) throw new Error(`delta text ${deltas} != final ${s.text}`);
  return s;
}
