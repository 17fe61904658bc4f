#!/usr/bin/env python3
"""OpenAI Python SDK client for the mock LLM server.

  python3 py_openai.py [--mode MODE[,MODE...]] [--max-turns N]

Modes (comma-separated, run in order; default "all" =
chat,chat-stream,chat-tools,chat-tools-stream,responses,responses-stream,chat-loop):
  chat               chat.completions.create (non-streaming, no tools)
  chat-stream        chat.completions.create(stream=True, stream_options={"include_usage": True}),
                     chunks accumulated by hand (tool_calls merged by index)
  chat-tools         chat.completions.create with tools
  chat-tools-stream  chat.completions.stream helper with tools (get_final_completion)
  chat-loop          tool loop: while finish_reason == "tool_calls", run the tool and send a
                     role=tool message back; at most --max-turns requests
  responses          responses.create with tools (non-streaming)
  responses-stream   responses.stream helper with tools (get_final_response)
  responses-raw-stream  responses.create(stream=True), typed events accumulated by hand
  responses-loop     tool loop over the Responses API (function_call_output items)
Env: MOCK_BASE_URL (the client uses MOCK_BASE_URL + "/v1"), MOCK_API_KEY, SSL_CERT_FILE.
Prints one JSON line: {"client":"py_openai","ok":true,"sdk_version":...,"calls":[...],"loops":[...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "py_openai"
ALL = ["chat", "chat-stream", "chat-tools", "chat-tools-stream", "responses", "responses-stream", "chat-loop"]


def dump(o):
    return o.model_dump() if hasattr(o, "model_dump") else o


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="all")
    ap.add_argument("--max-turns", type=int, default=4)
    a = ap.parse_args()
    modes = ALL if a.mode == "all" else [m.strip() for m in a.mode.split(",") if m.strip()]
    out = {"client": CLIENT, "ok": True, "calls": [], "loops": []}
    try:
        import openai

        out["sdk_version"] = openai.__version__
        client = openai.OpenAI(
            api_key=M.api_key(),
            base_url=M.base_url() + "/v1",
            max_retries=0,
            timeout=60,
            default_headers={"x-mock-client": M.tag(CLIENT)},
        )
        msgs = [{"role": "user", "content": M.PROMPT}]
        for mode in modes:
            if mode in ("chat", "chat-tools"):
                kw = {"tools": M.OPENAI_CHAT_TOOLS} if mode == "chat-tools" else {}
                r = client.chat.completions.create(model=M.MODEL_OPENAI, messages=msgs, **kw)
                out["calls"].append(M.summary_chat_json(dump(r), mode))
            elif mode == "chat-stream":
                it = client.chat.completions.create(
                    model=M.MODEL_OPENAI,
                    messages=msgs,
                    tools=M.OPENAI_CHAT_TOOLS,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                text, tcs, usage, finish, cid, model = "", {}, None, None, None, None
                for ch in it:
                    cid, model = ch.id, ch.model
                    if ch.usage:
                        usage = dump(ch.usage)
                    for c in ch.choices:
                        d = c.delta
                        if d.content:
                            text += d.content
                        for tc in d.tool_calls or []:
                            cur = tcs.setdefault(tc.index, {"id": None, "function": {"name": "", "arguments": ""}})
                            if tc.id:
                                cur["id"] = tc.id
                            if tc.function and tc.function.name:
                                cur["function"]["name"] += tc.function.name
                            if tc.function and tc.function.arguments:
                                cur["function"]["arguments"] += tc.function.arguments
                        if c.finish_reason:
                            finish = c.finish_reason
                s = M.summary_chat_json(
                    {
                        "id": cid,
                        "model": model,
                        "usage": usage,
                        "choices": [{"message": {"content": text, "tool_calls": [tcs[i] for i in sorted(tcs)]}, "finish_reason": finish}],
                    },
                    mode,
                )
                s["stream"] = True
                out["calls"].append(s)
            elif mode == "chat-tools-stream":
                with client.chat.completions.stream(
                    model=M.MODEL_OPENAI, messages=msgs, tools=M.OPENAI_CHAT_TOOLS, stream_options={"include_usage": True}
                ) as st:
                    for _ in st:
                        pass
                    final = st.get_final_completion()
                s = M.summary_chat_json(dump(final), mode)
                s["stream"] = True
                out["calls"].append(s)
            elif mode == "chat-loop":
                conv = list(msgs)
                results, n, final_text = [], 0, None
                while n < a.max_turns:
                    n += 1
                    r = client.chat.completions.create(model=M.MODEL_OPENAI, messages=conv, tools=M.OPENAI_CHAT_TOOLS)
                    out["calls"].append(M.summary_chat_json(dump(r), mode))
                    m = r.choices[0].message
                    conv.append(m.model_dump(exclude_none=True))
                    if r.choices[0].finish_reason != "tool_calls" or not m.tool_calls:
                        final_text = m.content
                        break
                    for tc in m.tool_calls:
                        args = json.loads(tc.function.arguments or "{}")
                        res = M.run_tool(tc.function.name, args)
                        results.append({"tool_call_id": tc.id, "name": tc.function.name, "input": args, "result": res})
                        conv.append({"role": "tool", "tool_call_id": tc.id, "content": json.dumps(res)})
                out["loops"].append({"mode": mode, "requests": n, "tool_results": results, "final_text": final_text})
            elif mode == "responses":
                r = client.responses.create(model=M.MODEL_OPENAI, input=M.PROMPT, tools=M.OPENAI_RESPONSES_TOOLS)
                s = M.summary_responses_json(dump(r), mode)
                if s["text"] != (r.output_text or ""):
                    raise RuntimeError(f"output_text {r.output_text!r} != {s['text']!r}")
                out["calls"].append(s)
            elif mode == "responses-stream":
                deltas = ""
                with client.responses.stream(model=M.MODEL_OPENAI, input=M.PROMPT, tools=M.OPENAI_RESPONSES_TOOLS) as st:
                    for ev in st:
                        if ev.type == "response.output_text.delta":
                            deltas += ev.delta
                    final = st.get_final_response()
                s = M.summary_responses_json(dump(final), mode)
                s["stream"] = True
                if s["text"] != deltas:
                    raise RuntimeError(f"deltas {deltas!r} != final {s['text']!r}")
                out["calls"].append(s)
            elif mode == "responses-raw-stream":
                final, deltas, args = None, "", {}
                for ev in client.responses.create(model=M.MODEL_OPENAI, input=M.PROMPT, tools=M.OPENAI_RESPONSES_TOOLS, stream=True):
                    if ev.type == "response.output_text.delta":
                        deltas += ev.delta
                    elif ev.type == "response.function_call_arguments.delta":
                        args[ev.item_id] = args.get(ev.item_id, "") + ev.delta
                    elif ev.type in ("response.completed", "response.incomplete", "response.failed"):
                        final = dump(ev.response)
                s = M.summary_responses_json(final, mode)
                s["stream"] = True
                fc = [json.loads(v) for v in args.values()]
                if s["text"] != deltas or fc != [c["arguments"] for c in s["tool_calls"]]:
                    raise RuntimeError("streamed deltas differ from response.completed")
                out["calls"].append(s)
            elif mode == "responses-loop":
                inp = [{"role": "user", "content": M.PROMPT}]
                results, n, final_text = [], 0, None
                while n < a.max_turns:
                    n += 1
                    r = client.responses.create(model=M.MODEL_OPENAI, input=inp, tools=M.OPENAI_RESPONSES_TOOLS)
                    out["calls"].append(M.summary_responses_json(dump(r), mode))
                    calls = [it for it in r.output if it.type == "function_call"]
                    if not calls:
                        final_text = r.output_text
                        break
                    for it in r.output:
                        inp.append(it.model_dump(exclude_none=True))
                    for fc in calls:
                        args = json.loads(fc.arguments or "{}")
                        res = M.run_tool(fc.name, args)
                        results.append({"call_id": fc.call_id, "name": fc.name, "input": args, "result": res})
                        inp.append({"type": "function_call_output", "call_id": fc.call_id, "output": json.dumps(res)})
                out["loops"].append({"mode": mode, "requests": n, "tool_results": results, "final_text": final_text})
            else:
                raise SystemExit(f"unknown mode {mode!r}")
    except SystemExit:
        raise
    except Exception as e:
        M.fail(CLIENT, e, calls=out["calls"])
    M.emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
