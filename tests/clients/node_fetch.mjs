#!/usr/bin/env node
// Node global fetch (undici, node's own OpenSSL) client for the mock LLM server.
//
//   node node_fetch.mjs [--do keepalive,upload,blob,chunked-upload] [--keepalive N]
//                       [--upload-bytes N] [--blob-bytes N] [--seed S]
//
//   keepalive       N sequential requests (default 5) that reuse one pooled connection:
//                   GET /echo-headers, Anthropic JSON, chat SSE (include_usage), Responses SSE,
//                   GET /echo-headers ... ; the server-reported conn_id of every /echo-headers
//                   must be identical
//   upload          POST /upload with a deterministic 5 MiB body (Content-Length)
//   chunked-upload  the same via a ReadableStream body (Transfer-Encoding: chunked)
//   blob            GET /blob (50 MiB) read as a stream and hashed; compared with /blob-sha
// Default --do: keepalive,upload,blob.
// Env: MOCK_BASE_URL, MOCK_API_KEY, NODE_EXTRA_CA_CERTS. Prints one JSON line.
import { createHash } from 'node:crypto';
import * as M from './_mockenv.mjs';

const CLIENT = 'node_fetch';

function uploadBody(n, seed) {
  const out = Buffer.alloc(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    const b = createHash('shake256', { outputLength: 65536 }).update(`node_fetch-upload:${seed}:${i}`).digest();
    off += b.copy(out, off, 0, Math.min(b.length, n - off));
  }
  return out;
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function keepalive(n) {
  const base = M.baseUrl();
  const key = M.apiKey();
  const common = { 'x-mock-client': M.tag(CLIENT) };
  const json = { 'content-type': 'application/json' };
  const plan = [
    { method: 'GET', path: '/echo-headers', headers: { authorization: `Bearer ${key}` } },
    {
      method: 'POST',
      path: '/v1/messages',
      headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', ...json },
      body: { model: M.MODEL_ANTHROPIC, max_tokens: 256, messages: [{ role: 'user', content: M.PROMPT }], tools: M.ANTHROPIC_TOOLS },
      summarize: (t) => M.summaryAnthropic(JSON.parse(t), 'keepalive'),
    },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${key}`, ...json },
      body: {
        model: M.MODEL_OPENAI,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: M.PROMPT }],
        tools: M.OPENAI_CHAT_TOOLS,
      },
      summarize: (t) => M.accumulateChatSSE(t, 'keepalive'),
    },
    {
      method: 'POST',
      path: '/v1/responses',
      headers: { authorization: `Bearer ${key}`, ...json },
      body: { model: M.MODEL_OPENAI, stream: true, input: M.PROMPT, tools: M.OPENAI_RESPONSES_TOOLS },
      summarize: (t) => M.accumulateResponsesSSE(t, 'keepalive'),
    },
  ];
  const requests = [];
  const calls = [];
  const connIds = new Set();
  for (let i = 0; i < n; i++) {
    const p = plan[i % plan.length];
    const r = await fetch(base + p.path, {
      method: p.method,
      headers: { ...p.headers, ...common },
      body: p.body ? JSON.stringify(p.body) : undefined,
    });
    const text = await r.text(); // fetch decompresses gzip transparently
    requests.push({ method: p.method, path: p.path, status: r.status, content_encoding: r.headers.get('content-encoding'), body_sha256: sha256(text) });
    if (r.status !== 200) throw new Error(`${p.method} ${p.path} -> ${r.status}: ${text.slice(0, 200)}`);
    if (p.path === '/echo-headers') connIds.add(JSON.parse(text).conn_id);
    if (p.summarize) calls.push(p.summarize(text));
    // undici releases the socket to its pool a tick after the body completes; without this
    // yield the next request may be dispatched on a second, new connection.
    await new Promise((res) => setTimeout(res, 10));
  }
  if (n > plan.length) {
    // make sure we end with an /echo-headers to prove the same connection was used throughout
    const r = await fetch(base + '/echo-headers', { headers: common });
    connIds.add(JSON.parse(await r.text()).conn_id);
  }
  if (connIds.size !== 1) throw new Error(`keep-alive broken: server saw conn ids ${[...connIds]}`);
  return { result: { requests, conn_id: [...connIds][0], same_connection: true }, calls };
}

async function upload(n, seed, chunked) {
  const body = uploadBody(n, seed);
  const sha = sha256(body);
  const opts = {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-mock-client': M.tag(CLIENT), authorization: `Bearer ${M.apiKey()}` },
  };
  if (chunked) {
    let off = 0;
    opts.body = new ReadableStream({
      pull(ctrl) {
        if (off >= body.length) return ctrl.close();
        ctrl.enqueue(new Uint8Array(body.subarray(off, off + 262144)));
        off += 262144;
      },
    });
    opts.duplex = 'half';
  } else {
    opts.body = body;
  }
  const r = await fetch(M.baseUrl() + '/upload', opts);
  const j = await r.json();
  const match = j.sha256 === sha && j.length === n;
  if (!match) throw new Error(`upload mismatch: sent ${n} ${sha}, server ${JSON.stringify(j)}`);
  return { length: n, sha256: sha, server: j, match, chunked };
}

async function blob(n, seed) {
  const base = M.baseUrl();
  const hdr = { 'x-mock-client': M.tag(CLIENT) };
  const expected = (await (await fetch(`${base}/blob-sha?size=${n}&seed=${encodeURIComponent(seed)}`, { headers: hdr })).json()).sha256;
  const r = await fetch(`${base}/blob?size=${n}&seed=${encodeURIComponent(seed)}`, { headers: hdr });
  const h = createHash('sha256');
  let got = 0;
  for await (const chunk of r.body) {
    h.update(chunk);
    got += chunk.length;
  }
  const sha = h.digest('hex');
  const match = got === n && sha === expected;
  if (!match) throw new Error(`blob mismatch: got ${got} ${sha}, expected ${n} ${expected}`);
  return { size: n, seed, sha256: sha, expected_sha256: expected, match };
}

async function main() {
  const a = M.parseArgs(process.argv.slice(2), {
    do: 'keepalive,upload,blob',
    keepalive: 5,
    'upload-bytes': 5 * 1024 * 1024,
    'blob-bytes': 50 * 1024 * 1024,
    seed: 'node_fetch',
  });
  const out = { client: CLIENT, ok: true, node_version: process.version, results: {}, calls: [] };
  try {
    for (const t of a.do.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (t === 'keepalive') {
        const { result, calls } = await keepalive(a.keepalive);
        out.results[t] = result;
        out.calls.push(...calls);
      } else if (t === 'upload') out.results[t] = await upload(a['upload-bytes'], a.seed, false);
      else if (t === 'chunked-upload') out.results[t] = await upload(a['upload-bytes'], a.seed + '-chunked', true);
      else if (t === 'blob') out.results[t] = await blob(a['blob-bytes'], a.seed);
      else throw new Error(`unknown --do item ${t}`);
    }
  } catch (e) {
    M.fail(CLIENT, e, { results: out.results, calls: out.calls });
  }
  M.emit(out);
}

await main();
