#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from the decoder's byte-exact fixtures.

Each target reads its own input layout (see the comment at the top of each
fuzz_targets/*.rs); this wraps the fixtures in those layouts. Re-running is
harmless: seeds are named by content hash. Usage: python3 fuzz/make_corpus.py
"""

import gzip
import hashlib
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
FIX = FUZZ.parent / "decode" / "src" / "fixtures"
CORPUS = FUZZ / "corpus"


def fx(name):
    return (FIX / name).read_bytes()


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def u16(n):
    return struct.pack("<H", n)


CONNECTIONS = [
    "mock_anthropic_stream",
    "mock_anthropic_json",
    "mock_chat_stream",
    "mock_chat_json",
    "mock_responses_stream",
    "mock_responses_json",
    "http_edge",
]

# (llm target path index, request fixture, response fixture)
BODIES = [
    (0, "anthropic_thinking_tool.req.json", "anthropic_thinking_tool.sse"),
    (0, "anthropic_thinking_tool.req.json", "anthropic_error.sse"),
    (1, "chat_parallel_tools.req.json", "chat_parallel_tools.sse"),
    (2, "responses_incomplete.req.json", "responses_incomplete.sse"),
    (3, "gemini.req.json", "gemini_stream.sse"),
    (4, "gemini.req.json", "gemini_stream.json"),
]


def zstd(data):
    if shutil.which("zstd") is None:
        return None
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data,
                          capture_output=True, check=True).stdout


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def main():
    every = [p.read_bytes() for p in sorted(FIX.iterdir()) if p.suffix != ".md"]

    for name in CONNECTIONS:
        rq, rs = fx(name + ".in"), fx(name + ".out")
        assert len(rq) < 65536
        # Whole streams, then one cut per direction with a small gap after it.
        put("http1", b"\x00" + u16(len(rq)) + rq + rs)
        ctl = u16(len(rq) // 2) + b"\x00" + u16(len(rs) // 3) + b"\x05"
        put("http1", b"\x09" + u16(len(rq)) + ctl + rq + rs)
        put("http1", b"\x00" + u16(0) + rs)

    for name in CONNECTIONS:
        # redact: [flags][cut count] then one direction; one cut mid-way.
        for side in (fx(name + ".in"), fx(name + ".out")):
            put("redact", b"\x00\x00" + side)
            put("redact", b"\x00\x01" + u16(len(side) // 2) + side)

    for _, rq, rs in BODIES:
        put("sse", b"\x00" + fx(rs))
        put("sse", b"\x01" + u16(len(fx(rs)) // 2) + fx(rs))
    for name in CONNECTIONS:
        put("sse", b"\x00" + fx(name + ".out"))

    for path, rq, rs in BODIES:
        req, resp = fx(rq), fx(rs)
        sse = 1 if rs.endswith(".sse") else 0
        put("llm", bytes([path | sse << 3]) + u16(len(req)) + req + resp)
        put("llm", bytes([path]) + u16(len(req)) + req + resp)

    for data in every:
        put("all", data)
        # Encoding picks: 0 gzip, 2 deflate, 3 br, 4 zstd (see NAMES).
        put("encoding", b"\x01\x00" + gzip.compress(data))
        put("encoding", b"\x01\x02" + zlib.compress(data))
        put("encoding", b"\x01\x02" + raw_deflate(data))
        put("encoding", b"\x02\x00\x02" + gzip.compress(zlib.compress(data)))
        z = zstd(data)
        if z is not None:
            put("encoding", b"\x01\x04" + z)
            put("encoding", b"\x02\x04\x00" + gzip.compress(z))
        put("encoding", b"\x01\x03" + data)
        put("encoding", b"\x8agzip, zstd" + data)

    # Hand-made inputs kept in the repository (regressions, long inputs).
    for d in sorted((FUZZ / "seeds").iterdir()):
        for f in sorted(d.iterdir()):
            put(d.name, f.read_bytes())

    for t in sorted(CORPUS.iterdir()):
        print(t.name, len(list(t.iterdir())))


if __name__ == "__main__":
    main()
