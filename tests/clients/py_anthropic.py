#!/usr/bin/env python3
"""Anthropic Python SDK client for the mock LLM server.

  python3 py_anthropic.py [--mode MODE[,MODE...]] [--max-turns N]

Modes (comma-separated, run in order; default "all" = basic,stream,tools,tools-stream,loop):
  basic         messages.create (non-streaming, no tools)
  stream        messages.stream helper (text_stream + get_final_message)
  raw-stream    messages.create(stream=True), events accumulated by hand
  tools         messages.create with tools
  tools-stream  messages.stream with tools
  loop          multi-turn tool-use loop: while stop_reason == "tool_use", run the tool and
                send a tool_result back (non-streaming), at most --max-turns requests
  loop-stream   the same loop with streaming requests
Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE (the SDK's httpx transport honours it).
Prints one JSON line: {"client":"py_anthropic","ok":true,"sdk_version":...,"calls":[...],
"loops":[{"mode","requests","tool_results":[...],"final_text"}]}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "py_anthropic"
ALL = ["basic", "stream", "tools", "tools-stream", "loop"]


def summarize(msg, mode: str, stream: bool) -> dict:
    d = msg.model_dump() if hasattr(msg, "model_dump") else dict(msg)
    s = M.summary_anthropic_json(d, mode)
    s["stream"] = stream
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="all")
    ap.add_argument("--max-turns", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=512)
    a = ap.parse_args()
    modes = ALL if a.mode == "all" else [m.strip() for m in a.mode.split(",") if m.strip()]
    out = {"client": CLIENT, "ok": True, "calls": [], "loops": []}
    try:
        import anthropic

        out["sdk_version"] = anthropic.__version__
        client = anthropic.Anthropic(
            api_key=M.api_key(),
            base_url=M.base_url(),
            max_retries=0,
            timeout=60,
            default_headers={"x-mock-client": M.tag(CLIENT)},
        )
        user = [{"role": "user", "content": M.PROMPT}]
        for mode in modes:
            tools = {"tools": M.ANTHROPIC_TOOLS} if mode.startswith(("tools", "loop")) else {}
            kw = dict(model=M.MODEL_ANTHROPIC, max_tokens=a.max_tokens, **tools)
            if mode in ("basic", "tools"):
                out["calls"].append(summarize(client.messages.create(messages=user, **kw), mode, False))
            elif mode in ("stream", "tools-stream"):
                with client.messages.stream(messages=user, **kw) as st:
                    streamed = "".join(st.text_stream)
                    msg = st.get_final_message()
                s = summarize(msg, mode, True)
                if streamed != s["text"]:
                    raise RuntimeError(f"text_stream {streamed!r} != final {s['text']!r}")
                out["calls"].append(s)
            elif mode == "raw-stream":
                body = []
                events = client.messages.create(messages=user, stream=True, **kw)
                for ev in events:
                    body.append(ev.model_dump())
                msg, blocks, partial = {}, {}, {}
                for e in body:
                    t = e["type"]
                    if t == "message_start":
                        msg = e["message"]
                    elif t == "content_block_start":
                        blocks[e["index"]] = e["content_block"]
                        partial[e["index"]] = ""
                    elif t == "content_block_delta":
                        dl = e["delta"]
                        if dl["type"] == "text_delta":
                            blocks[e["index"]]["text"] = blocks[e["index"]].get("text", "") + dl["text"]
                        elif dl["type"] == "input_json_delta":
                            partial[e["index"]] += dl["partial_json"]
                    elif t == "content_block_stop" and blocks[e["index"]]["type"] == "tool_use":
                        blocks[e["index"]]["input"] = json.loads(partial[e["index"]] or "{}")
                    elif t == "message_delta":
                        msg["stop_reason"] = e["delta"]["stop_reason"]
                        msg["usage"]["output_tokens"] = e["usage"]["output_tokens"]
                msg["content"] = [blocks[i] for i in sorted(blocks)]
                s = M.summary_anthropic_json(msg, mode)
                s["stream"] = True
                out["calls"].append(s)
            elif mode in ("loop", "loop-stream"):
                stream = mode == "loop-stream"
                messages = list(user)
                results = []
                n = 0
                final_text = None
                while n < a.max_turns:
                    n += 1
                    if stream:
                        with client.messages.stream(messages=messages, **kw) as st:
                            msg = st.get_final_message()
                    else:
                        msg = client.messages.create(messages=messages, **kw)
                    out["calls"].append(summarize(msg, mode, stream))
                    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]})
                    if msg.stop_reason != "tool_use":
                        final_text = "".join(b.text for b in msg.content if b.type == "text")
                        break
                    tr = []
                    for b in msg.content:
                        if b.type == "tool_use":
                            r = M.run_tool(b.name, b.input)
                            results.append({"tool_use_id": b.id, "name": b.name, "input": b.input, "result": r})
                            tr.append({"type": "tool_result", "tool_use_id": b.id, "content": json.dumps(r)})
                    messages.append({"role": "user", "content": tr})
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
