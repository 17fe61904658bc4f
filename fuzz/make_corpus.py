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


def boringssl_shaped():
    """Mode-1 input: [split][va hi][va lo] code, then data holding ssl_lib.cc.
    Three functions raise ERR_put_error(16, 0, reason, FILE, line) for the
    reasons SSL_read, SSL_write and another function raise."""
    va, data_va = 0x400000, 0x70000000
    file = data_va + 1
    code = bytearray(b"\xc3" + b"\xcc" * 15)

    def site(reason):
        code.extend(b"\xb9" + struct.pack("<I", file))  # mov ecx, FILE
        code.extend(b"\xbf\x10\x00\x00\x00\x31\xf6")  # mov edi, 16; xor esi, esi
        code.extend(b"\xba" + struct.pack("<I", reason))  # mov edx, reason
        code.extend(b"\x41\xb8\x10\x00\x00\x00")  # mov r8d, line
        code.extend(b"\xe8" + struct.pack("<i", va - (va + len(code) + 5)))  # call ERR

    entries = []
    for reasons in ([66, 226, 215], [66, 226, 215, 111], [226, 291]):
        while len(code) % 16:
            code.append(0xCC)
        entries.append(va + len(code))
        code.append(0x55)
        for r in reasons:
            code.extend(b"\x85\xff\x74\x02\x5d\xc3")
            site(r)
        code.extend(b"\x5d\xc3")
    for t in entries:  # callers, so each function is a call target
        code.extend(b"\xe8" + struct.pack("<i", t - (va + len(code) + 5)))
    data = b"\x00../x/ssl/ssl_lib.cc\x00"
    return u16(len(code)) + struct.pack("<HH", va >> 16, va & 0xFFFF) + bytes(code) + data


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

    # binary: a real small ELF (mode 0), its .eh_frame (mode 2), and a
    # made-up BoringSSL-shaped code segment (mode 1, as in the unit test).
    elf = Path("/bin/true").read_bytes()
    put("binary", b"\x00" + elf)
    eh = subprocess.run(["objcopy", "-O", "binary", "--only-section=.eh_frame", "/bin/true", "/dev/stdout"],
                        capture_output=True).stdout
    if eh:
        put("binary", b"\x02" + eh)
    put("binary", b"\x01" + boringssl_shaped())

    # Hand-made inputs kept in the repository (regressions, long inputs).
    for d in sorted((FUZZ / "seeds").iterdir()):
        for f in sorted(d.iterdir()):
            put(d.name, f.read_bytes())

    for t in sorted(CORPUS.iterdir()):
        print(t.name, len(list(t.iterdir())))


if __name__ == "__main__":
    main()
