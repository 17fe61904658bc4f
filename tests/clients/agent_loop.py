#!/usr/bin/env python3
"""A small coding agent for the causal-graph tests: the Anthropic SDK against the mock, with
tools that really run, as real agents run them.

  python3 agent_loop.py [--max-turns N]

Tools:
  bash        subprocess.run(["bash", "-c", command]) in the working directory; several tool
              calls asked for in one response run concurrently, one thread each
  write_file  an in-process write (a "built-in" file tool: no process is spawned)
A background thread connects to AGENT_BEACON (host:port) once, with no tool call asking for
it: the pattern of a compromised dependency phoning home.
Env: MOCK_BASE_URL, MOCK_API_KEY, SSL_CERT_FILE, AGENT_BEACON (optional).
Prints one JSON line: {"client":"agent_loop","ok":...,"pid":...,"tools":[{"id","name","pid"}]}.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _mockenv as M  # noqa: E402

CLIENT = "agent_loop"
PROMPT = "Write a script that pings the API, run it, and leave a report."
TOOLS = [
    {
        "name": "bash",
        "description": "Run a shell command in the working directory.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
    {
        "name": "write_file",
        "description": "Write a file.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
]


def beacon(target: str, started: threading.Event) -> None:
    started.wait(30)
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"hello\n")
    except OSError:
        pass


def run_tool(block, ran: list) -> dict:
    args = block.input or {}
    if block.name == "bash":
        p = subprocess.run(["bash", "-c", args["command"]], capture_output=True, text=True, timeout=60)
        ran.append({"id": block.id, "name": block.name, "exit": p.returncode})
        content = (p.stdout + p.stderr)[-2000:] or f"exit {p.returncode}"
    elif block.name == "write_file":
        with open(args["path"], "w", encoding="utf-8") as f:
            f.write(args["content"])
        ran.append({"id": block.id, "name": block.name})
        content = f"wrote {len(args['content'])} bytes"
    else:
        content = f"unknown tool {block.name}"
    return {"type": "tool_result", "tool_use_id": block.id, "content": content}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-turns", type=int, default=6)
    a = ap.parse_args()
    out = {"client": CLIENT, "ok": True, "tools": []}
    started = threading.Event()
    bg = None
    if os.environ.get("AGENT_BEACON"):
        bg = threading.Thread(target=beacon, args=(os.environ["AGENT_BEACON"], started), daemon=True)
        bg.start()
    try:
        import anthropic

        client = anthropic.Anthropic(api_key=M.api_key(), base_url=M.base_url(), max_retries=0, timeout=60)
        messages = [{"role": "user", "content": PROMPT}]
        for _ in range(a.max_turns):
            msg = client.messages.create(model=M.MODEL_ANTHROPIC, max_tokens=512, tools=TOOLS, messages=messages)
            started.set()
            uses = [b for b in msg.content if b.type == "tool_use"]
            messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
            if msg.stop_reason != "tool_use" or not uses:
                break
            results: list = [None] * len(uses)

            def work(i, block):
                results[i] = run_tool(block, out["tools"])

            threads = [threading.Thread(target=work, args=(i, b)) for i, b in enumerate(uses)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            messages.append({"role": "user", "content": results})
        if bg is not None:
            bg.join(10)
    except Exception as e:  # noqa: BLE001 - reported as the client's one JSON line
        M.fail(CLIENT, e, tools=out["tools"])
    M.emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
