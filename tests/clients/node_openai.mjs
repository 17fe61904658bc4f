#!/usr/bin/env node
// openai (npm) client for the mock LLM server (same modes as py_openai.py).
//
//   node node_openai.mjs [--mode MODE[,MODE...]] [--max-turns N]
//
// Modes (default "all" = chat,chat-stream,chat-tools,chat-tools-stream,responses,responses-stream,chat-loop):
//   chat, chat-tools        chat.completions.create (non-streaming)
//   chat-stream             chat.completions.create({stream: true, stream_options: {include_usage: true}})
//                           with tools, chunks merged by hand (tool_calls by index)
//   chat-tools-stream       chat.completions.stream helper with tools (finalChatCompletion())
//   chat-loop               tool loop with role=tool messages, at most --max-turns requests
//   responses               responses.create with tools (non-streaming)
//   responses-stream        responses.stream helper with tools (finalResponse())
//   responses-raw-stream    responses.create({stream: true}), typed events accumulated by hand
//   responses-loop          tool loop with function_call_output items
// Env: MOCK_BASE_URL (client uses MOCK_BASE_URL + "/v1"), MOCK_API_KEY, NODE_EXTRA_CA_CERTS.
// Prints one JSON line: {"client":"node_openai","ok":true,"sdk_version":...,"calls":[...],"loops":[...]}
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';
import * as M from './_mockenv.mjs';

const CLIENT = 'node_openai';
const ALL = ['chat', 'chat-stream', 'chat-tools', 'chat-tools-stream', 'responses', 'responses-stream', 'chat-loop'];
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;

async function main() {
  const a = M.parseArgs(process.argv.slice(2), { mode: 'all', 'max-turns': 4 });
  const modes = a.mode === 'all' ? ALL : a.mode.split(',').map((s) => s.trim()).filter(Boolean);
  const out = { client: CLIENT, ok: true, calls: [], loops: [], node_version: process.version };
  try {
    out.sdk_version = pkgVersion('openai');
    const client = new OpenAI({
      apiKey: M.apiKey(),
      baseURL: M.baseUrl() + '/v1',
      maxRetries: 0,
      timeout: 60_000,
      defaultHeaders: { 'x-mock-client': M.tag(CLIENT) },
    });
    const msgs = [{ role: 'user', content: M.PROMPT }];
    const model = M.MODEL_OPENAI;
    for (const mode of modes) {
      if (mode === 'chat' || mode === 'chat-tools') {
        const kw = mode === 'chat-tools' ? { tools: M.OPENAI_CHAT_TOOLS } : {};
        out.calls.push(M.summaryChat(await client.chat.completions.create({ model, messages: msgs, ...kw }), mode));
      } else if (mode === 'chat-stream') {
        const it = await client.chat.completions.create({
          model,
          messages: msgs,
          tools: M.OPENAI_CHAT_TOOLS,
          stream: true,
          stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const ch of it) chunks.push(ch);
        out.calls.push(M.mergeChatChunks(chunks, mode));
      } else if (mode === 'chat-tools-stream') {
        const st = client.chat.completions.stream({
          model,
          messages: msgs,
          tools: M.OPENAI_CHAT_TOOLS,
          stream_options: { include_usage: true },
        });
        const final = await st.finalChatCompletion();
        out.calls.push(M.summaryChat(final, mode, true));
      } else if (mode === 'chat-loop') {
        const conv = [...msgs];
        const results = [];
        let n = 0;
        let finalText = null;
        while (n < a['max-turns']) {
          n++;
          const r = await client.chat.completions.create({ model, messages: conv, tools: M.OPENAI_CHAT_TOOLS });
          out.calls.push(M.summaryChat(r, mode));
          const m = r.choices[0].message;
          conv.push(m);
          if (r.choices[0].finish_reason !== 'tool_calls' || !m.tool_calls?.length) {
            finalText = m.content;
            break;
          }
          for (const tc of m.tool_calls) {
            const args = JSON.parse(tc.function.arguments || '{}');
            const res = M.runTool(tc.function.name, args);
            results.push({ tool_call_id: tc.id, name: tc.function.name, input: args, result: res });
            conv.push({ role: 'tool', tool_call_id: tc.id, content: JSON.stringify(res) });
          }
        }
        out.loops.push({ mode, requests: n, tool_results: results, final_text: finalText });
      } else if (mode === 'responses') {
        const r = await client.responses.create({ model, input: M.PROMPT, tools: M.OPENAI_RESPONSES_TOOLS });
        const s = M.summaryResponses(r, mode);
        if (s.text !== (r.output_text || '')) throw new Error(`output_text ${r.output_text} != ${s.text}`);
        out.calls.push(s);
      } else if (mode === 'responses-stream') {
        let deltas = '';
        const st = client.responses.stream({ model, input: M.PROMPT, tools: M.OPENAI_RESPONSES_TOOLS });
        st.on('response.output_text.delta', (e) => (deltas += e.delta));
        const final = await st.finalResponse();
        const s = M.summaryResponses(final, mode, true);
        if (s.text !== deltas) throw new Error(`deltas ${deltas} != final ${s.text}`);
        out.calls.push(s);
      } else if (mode === 'responses-raw-stream') {
        const it = await client.responses.create({ model, input: M.PROMPT, tools: M.OPENAI_RESPONSES_TOOLS, stream: true });
        let final = null;
        let deltas = '';
        for await (const e of it) {
          if (e.type === 'response.output_text.delta') deltas += e.delta;
          else if (['response.completed', 'response.incomplete', 'response.failed'].includes(e.type)) final = e.response;
        }
        const s = M.summaryResponses(final, mode, true);
        if (s.text !== deltas) throw new Error(`deltas ${deltas} != final ${s.text}`);
        out.calls.push(s);
      } else if (mode === 'responses-loop') {
        const inp = [{ role: 'user', content: M.PROMPT }];
        const results = [];
        let n = 0;
        let finalText = null;
        while (n < a['max-turns']) {
          n++;
          const r = await client.responses.create({ model, input: inp, tools: M.OPENAI_RESPONSES_TOOLS });
          out.calls.push(M.summaryResponses(r, mode));
          const calls = r.output.filter((it) => it.type === 'function_call');
          if (!calls.length) {
            finalText = r.output_text;
            break;
          }
          inp.push(...r.output);
          for (const fc of calls) {
            const args = JSON.parse(fc.arguments || '{}');
            const res = M.runTool(fc.name, args);
            results.push({ call_id: fc.call_id, name: fc.name, input: args, result: res });
            inp.push({ type: 'function_call_output', call_id: fc.call_id, output: JSON.stringify(res) });
          }
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
