#!/usr/bin/env node
// @anthropic-ai/sdk client for the mock LLM server (same modes as py_anthropic.py).
//
//   node node_anthropic.mjs [--mode MODE[,MODE...]] [--max-turns N]
//
// Modes (default "all" = basic,stream,tools,tools-stream,loop):
//   basic, tools                messages.create (non-streaming; tools offered for "tools")
//   stream, tools-stream        messages.stream helper (on('text') + finalMessage())
//   raw-stream                  messages.create({stream: true}), events accumulated by hand
//   loop, loop-stream           multi-turn tool use: while stop_reason == "tool_use", run the tool,
//                               send tool_result back; at most --max-turns requests
// Env: MOCK_BASE_URL, MOCK_API_KEY, NODE_EXTRA_CA_CERTS. Prints one JSON line:
//   {"client":"node_anthropic","ok":true,"sdk_version":...,"calls":[...],"loops":[...]}
import Anthropic from '@anthropic-ai/sdk';
import { readFileSync } from 'node:fs';
import * as M from './_mockenv.mjs';

const CLIENT = 'node_anthropic';
const ALL = ['basic', 'stream', 'tools', 'tools-stream', 'loop'];
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;

async function main() {
  const a = M.parseArgs(process.argv.slice(2), { mode: 'all', 'max-turns': 4, 'max-tokens': 512 });
  const modes = a.mode === 'all' ? ALL : a.mode.split(',').map((s) => s.trim()).filter(Boolean);
  const out = { client: CLIENT, ok: true, calls: [], loops: [], node_version: process.version };
  try {
    out.sdk_version = pkgVersion('@anthropic-ai/sdk');
    const client = new Anthropic({
      apiKey: M.apiKey(),
      baseURL: M.baseUrl(),
      maxRetries: 0,
      timeout: 60_000,
      defaultHeaders: { 'x-mock-client': M.tag(CLIENT) },
    });
    const user = [{ role: 'user', content: M.PROMPT }];
    for (const mode of modes) {
      const kw = { model: M.MODEL_ANTHROPIC, max_tokens: a['max-tokens'] };
      if (mode.startsWith('tools') || mode.startsWith('loop')) kw.tools = M.ANTHROPIC_TOOLS;
      if (mode === 'basic' || mode === 'tools') {
        out.calls.push(M.summaryAnthropic(await client.messages.create({ ...kw, messages: user }), mode, false));
      } else if (mode === 'stream' || mode === 'tools-stream') {
        let streamed = '';
        const st = client.messages.stream({ ...kw, messages: user });
        st.on('text', (t) => (streamed += t));
        const msg = await st.finalMessage();
        const s = M.summaryAnthropic(msg, mode, true);
        if (s.text !== streamed) throw new Error(`streamed text ${streamed} != final ${s.text}`);
        out.calls.push(s);
      } else if (mode === 'raw-stream') {
        const events = await client.messages.create({ ...kw, messages: user, stream: true });
        let msg = {};
        const blocks = new Map();
        const partial = new Map();
        for await (const e of events) {
          if (e.type === 'message_start') msg = e.message;
          else if (e.type === 'content_block_start') {
            blocks.set(e.index, { ...e.content_block });
            partial.set(e.index, '');
          } else if (e.type === 'content_block_delta') {
            const b = blocks.get(e.index);
            if (e.delta.type === 'text_delta') b.text = (b.text || '') + e.delta.text;
            else if (e.delta.type === 'input_json_delta') partial.set(e.index, partial.get(e.index) + e.delta.partial_json);
          } else if (e.type === 'content_block_stop') {
            const b = blocks.get(e.index);
            if (b.type === 'tool_use') b.input = JSON.parse(partial.get(e.index) || '{}');
          } else if (e.type === 'message_delta') {
            msg.stop_reason = e.delta.stop_reason;
            msg.usage = { ...msg.usage, output_tokens: e.usage.output_tokens };
          }
        }
        msg.content = [...blocks.keys()].sort((x, y) => x - y).map((k) => blocks.get(k));
        out.calls.push(M.summaryAnthropic(msg, mode, true));
      } else if (mode === 'loop' || mode === 'loop-stream') {
        const stream = mode === 'loop-stream';
        const messages = [...user];
        const results = [];
        let n = 0;
        let finalText = null;
        while (n < a['max-turns']) {
          n++;
          const msg = stream
            ? await client.messages.stream({ ...kw, messages }).finalMessage()
            : await client.messages.create({ ...kw, messages });
          out.calls.push(M.summaryAnthropic(msg, mode, stream));
          messages.push({ role: 'assistant', content: msg.content });
          if (msg.stop_reason !== 'tool_use') {
            finalText = msg.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
            break;
          }
          const tr = [];
          for (const b of msg.content) {
            if (b.type !== 'tool_use') continue;
            const r = M.runTool(b.name, b.input);
            results.push({ tool_use_id: b.id, name: b.name, input: b.input, result: r });
            tr.push({ type: 'tool_result', tool_use_id: b.id, content: JSON.stringify(r) });
          }
          messages.push({ role: 'user', content: tr });
        }
        out.loops.push({ mode, requests: n, tool_results: results, final_text: finalText });
      } else {
        throw new Error(`unknown mode ${mode}`);
      }
    }
  } catch (e) {
    M.fail(CLIENT, e, { calls: out.calls });
  }
  M.emit(out);
}

await main();
