"""Shared helpers for the Python test clients (stdlib only; deliberately does NOT import ssl,
so late_tls.py can delay loading libssl until after its sleep).

Environment:
  MOCK_BASE_URL   server base URL, e.g. https://localhost:PORT   (required)
  MOCK_API_KEY    API key to send (default: sk-mock-test-key-0123456789abcdef)
  SSL_CERT_FILE   CA bundle that trusts the mock server (cert.pem from --cert-dir)
  MOCK_CLIENT_TAG value for the x-mock-client header (default: the client's name)

Every client prints exactly one JSON line on stdout: {"client":..., "ok":..., "pid":..., ...}.
Calls to LLM endpoints are summarised in a provider-neutral form:
  {"api": "anthropic"|"openai_chat"|"openai_responses", "mode": ..., "stream": bool,
   "id": ..., "model": ..., "text": ..., "tool_calls": [{"id","name","arguments"}],
   "usage": {"input_tokens","output_tokens","cache_read_input_tokens"}, "stop_reason": ...}
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse

DEFAULT_KEY = "sk-mock-test-key-0123456789abcdef"
MODEL_ANTHROPIC = "claude-mock-1"
MODEL_OPENAI = "gpt-mock-1"
PROMPT = "What is the weather in Paris right now? Use the tool if you need it."


def base_url() -> str:
    u = os.environ.get("MOCK_BASE_URL")
    if not u:
        sys.stderr.write("MOCK_BASE_URL is not set (e.g. https://localhost:PORT)\n")
        sys.exit(2)
    return u.rstrip("/")


def host_port() -> tuple[str, int]:
    u = urllib.parse.urlsplit(base_url())
    return u.hostname or "localhost", u.port or 443


def api_key() -> str:
    return os.environ.get("MOCK_API_KEY", DEFAULT_KEY)


def tag(default: str) -> str:
    return os.environ.get("MOCK_CLIENT_TAG", default)


def emit(obj: dict) -> None:
    obj.setdefault("pid", os.getpid())
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(client: str, err: BaseException, **extra) -> None:
    emit(dict({"client": client, "ok": False, "error": f"{type(err).__name__}: {err}"}, **extra))
    sys.exit(1)


# ---- the fake tool the loops execute ------------------------------------------------------


def run_tool(name: str, args: dict) -> dict:
    if name == "get_weather":
        return {
            "city": args.get("city"),
            "unit": args.get("unit", "celsius"),
            "temperature": 18 if args.get("unit", "celsius") == "celsius" else 64,
            "conditions": "sunny",
        }
    return {"error": f"unknown tool {name}"}


ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    }
]
OPENAI_CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": ANTHROPIC_TOOLS[0]["input_schema"],
        },
    }
]
OPENAI_RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": ANTHROPIC_TOOLS[0]["input_schema"],
        "strict": False,
    }
]


# ---- SSE parsing and accumulation (used by the raw-HTTP clients) ---------------------------


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """Return [(event, data)] from an SSE body (data lines joined with \\n)."""
    out = []
    ev, data = None, []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data or ev:
                out.append((ev, "\n".join(data)))
            ev, data = None, []
        elif line.startswith(":"):
            continue
        else:
            k, _, v = line.partition(":")
            if v.startswith(" "):
                v = v[1:]
            if k == "event":
                ev = v
            elif k == "data":
                data.append(v)
    if data or ev:
        out.append((ev, "\n".join(data)))
    return out


def _args(s):
    if isinstance(s, dict):
        return s
    try:
        return json.loads(s) if s else {}
    except ValueError:
        return {"_unparsed": s}


def summary_anthropic_json(m: dict, mode: str) -> dict:
    u = m.get("usage") or {}
    return {
        "api": "anthropic",
        "mode": mode,
        "stream": False,
        "id": m.get("id"),
        "model": m.get("model"),
        "text": "".join(b.get("text", "") for b in m.get("content", []) if b.get("type") == "text"),
        "tool_calls": [
            {"id": b["id"], "name": b["name"], "arguments": b.get("input", {})}
            for b in m.get("content", [])
            if b.get("type") == "tool_use"
        ],
        "usage": {
            "input_tokens": u.get("input_tokens"),
            "output_tokens": u.get("output_tokens"),
            "cache_read_input_tokens": u.get("cache_read_input_tokens"),
        },
        "stop_reason": m.get("stop_reason"),
    }


def accumulate_anthropic_sse(text: str, mode: str) -> dict:
    msg, blocks, partial = {}, {}, {}
    for _ev, data in parse_sse(text):
        d = json.loads(data)
        t = d.get("type")
        if t == "message_start":
            msg = d["message"]
        elif t == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"])
            partial[d["index"]] = ""
        elif t == "content_block_delta":
            b, dl = blocks[d["index"]], d["delta"]
            if dl["type"] == "text_delta":
                b["text"] = b.get("text", "") + dl["text"]
            elif dl["type"] == "input_json_delta":
                partial[d["index"]] += dl["partial_json"]
            elif dl["type"] == "thinking_delta":
                b["thinking"] = b.get("thinking", "") + dl["thinking"]
        elif t == "content_block_stop":
            b = blocks[d["index"]]
            if b.get("type") == "tool_use":
                b["input"] = _args(partial[d["index"]])
        elif t == "message_delta":
            msg["stop_reason"] = d["delta"].get("stop_reason")
            msg.setdefault("usage", {}).update({k: v for k, v in d.get("usage", {}).items() if v is not None})
        elif t == "error":
            raise RuntimeError(f"stream error: {d}")
    msg["content"] = [blocks[i] for i in sorted(blocks)]
    s = summary_anthropic_json(msg, mode)
    s["stream"] = True
    return s


def summary_chat_json(c: dict, mode: str) -> dict:
    ch = (c.get("choices") or [{}])[0]
    m = ch.get("message") or {}
    u = c.get("usage") or {}
    return {
        "api": "openai_chat",
        "mode": mode,
        "stream": False,
        "id": c.get("id"),
        "model": c.get("model"),
        "text": m.get("content") or "",
        "tool_calls": [
            {"id": t["id"], "name": t["function"]["name"], "arguments": _args(t["function"]["arguments"])}
            for t in (m.get("tool_calls") or [])
        ],
        "usage": {
            "input_tokens": u.get("prompt_tokens"),
            "output_tokens": u.get("completion_tokens"),
            "cache_read_input_tokens": (u.get("prompt_tokens_details") or {}).get("cached_tokens"),
        },
        "stop_reason": ch.get("finish_reason"),
    }


def accumulate_chat_sse(text: str, mode: str) -> dict:
    out = {"id": None, "model": None, "choices": [{"message": {"content": "", "tool_calls": []}}], "usage": None}
    tcs: dict[int, dict] = {}
    finish = None
    for _ev, data in parse_sse(text):
        if data.strip() == "[DONE]":
            break
        d = json.loads(data)
        out["id"], out["model"] = d.get("id"), d.get("model")
        if d.get("usage"):
            out["usage"] = d["usage"]
        for ch in d.get("choices") or []:
            dl = ch.get("delta") or {}
            if dl.get("content"):
                out["choices"][0]["message"]["content"] += dl["content"]
            for tc in dl.get("tool_calls") or []:
                cur = tcs.setdefault(tc["index"], {"id": None, "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    cur["id"] = tc["id"]
                f = tc.get("function") or {}
                if f.get("name"):
                    cur["function"]["name"] += f["name"]
                if f.get("arguments"):
                    cur["function"]["arguments"] += f["arguments"]
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
    out["choices"][0]["message"]["tool_calls"] = [tcs[i] for i in sorted(tcs)]
    out["choices"][0]["finish_reason"] = finish
    s = summary_chat_json(out, mode)
    s["stream"] = True
    return s


def summary_responses_json(r: dict, mode: str) -> dict:
    u = r.get("usage") or {}
    text, calls = "", []
    for it in r.get("output") or []:
        if it.get("type") == "message":
            text += "".join(p.get("text", "") for p in it.get("content", []) if p.get("type") == "output_text")
        elif it.get("type") == "function_call":
            calls.append({"id": it.get("call_id"), "name": it.get("name"), "arguments": _args(it.get("arguments"))})
    return {
        "api": "openai_responses",
        "mode": mode,
        "stream": False,
        "id": r.get("id"),
        "model": r.get("model"),
        "text": text,
        "tool_calls": calls,
        "usage": {
            "input_tokens": u.get("input_tokens"),
            "output_tokens": u.get("output_tokens"),
            "cache_read_input_tokens": (u.get("input_tokens_details") or {}).get("cached_tokens"),
        },
        "stop_reason": r.get("status"),
    }


def accumulate_responses_sse(text: str, mode: str) -> dict:
    final = None
    deltas = ""
    for ev, data in parse_sse(text):
        d = json.loads(data)
        t = d.get("type") or ev
        if t == "response.output_text.delta":
            deltas += d["delta"]
        elif t in ("response.completed", "response.incomplete", "response.failed"):
            final = d["response"]
    if final is None:
        raise RuntimeError("responses stream ended without response.completed")
    s = summary_responses_json(final, mode)
    s["stream"] = True
    if s["text"] != deltas:
        raise RuntimeError(f"delta text {deltas!r} != final text {s['text']!r}")
    return s
