#!/usr/bin/env python3
"""Local HTTPS mock LLM server for agentsight end-to-end tests.

Binds 127.0.0.1 only. HTTP/1.1 is implemented by hand over the ssl socket so that
the exact plaintext bytes received and sent on every connection can be hashed and
logged; HTTP/2 (ALPN "h2") is offered when the `h2` package is importable.

Endpoints
  POST /v1/messages           Anthropic Messages (JSON, or SSE with "stream": true)
  POST /v1/chat/completions   OpenAI Chat Completions (JSON, or SSE with "stream": true)
  POST /v1/responses          OpenAI Responses (JSON, or typed SSE events with "stream": true)
  POST /v1beta/models/M:streamGenerateContent   Gemini (SSE with ?alt=sse, else a JSON array)
  POST /v1beta/models/M:generateContent         Gemini, one JSON response (its own turn list,
                              `gemini_json`: side calls such as model routing do not consume
                              the conversation's turns)
  GET  /blob?size=N&seed=S    N deterministic pseudo-random bytes (see blob_chunks)
  GET  /blob-sha?size=N&seed=S  sha256 hex of that content (JSON + plain hex in "sha256")
  POST /upload                {"sha256": ..., "length": ...} of the (de-chunked) request body
  GET  /echo-headers          request headers as JSON (credential values replaced by length+sha256)
  POST /_control/reset        reset the per-endpoint turn counters
  POST /_control/script       replace the script (body = script JSON) and reset counters
  GET  /healthz               {"ok": true}
  anything else               404 JSON

Run `mock_llm.py --help` for flags. When listening it prints ONE JSON line to stdout
({"port": N, "pid": ..., "base_url": ..., "cert": ..., "alpn": [...]}) and/or writes it to
--ready-file (atomically). See tests/support/README.md for the log format.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import fcntl
import gzip
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from urllib.parse import parse_qs, urlsplit

try:  # optional HTTP/2 support
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    HAVE_H2 = True
except Exception:  # pragma: no cover - depends on environment
    HAVE_H2 = False

SERVER_NAME = "agentsight-mock-llm/1"
CREDENTIAL_HEADERS = {
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
}
LOGGED_HEADERS = {
    "host",
    "user-agent",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "accept",
    "accept-encoding",
    "connection",
    "expect",
    "anthropic-version",
    "anthropic-beta",
    "openai-beta",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-runtime",
    "x-mock-client",
    "x-mock-turn",
}
MAX_HEAD = 256 * 1024
MAX_BODY = 512 * 1024 * 1024
BLOB_BLOCK = 65536
MAX_BLOB = 4 * 1024 * 1024 * 1024
REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    529: "Overloaded",
}


def jdump(obj) -> str:
    """Compact JSON as real APIs send it (UTF-8, no ASCII escaping)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def now_mono_ns() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC, same clock as bpf_ktime_get_ns


# --------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------

CA_FILE = "cert.pem"  # the trust anchor clients load (CA cert that signed the server cert)
CHAIN_FILE = "server-chain.pem"  # server leaf + CA
KEY_FILE = "server-key.pem"


def _cert_still_valid(path: str, margin_s: int = 86400) -> bool:
    try:
        from cryptography import x509

        with open(path, "rb") as f:
            certs = x509.load_pem_x509_certificates(f.read())
        exp = min(c.not_valid_after_utc for c in certs)
        return exp.timestamp() - time.time() > margin_s
    except ImportError:
        r = subprocess.run(
            ["openssl", "x509", "-noout", "-checkend", str(margin_s), "-in", path],
            capture_output=True,
        )
        return r.returncode == 0
    except Exception:
        return False


def _gen_with_cryptography(d: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    nb = now - datetime.timedelta(hours=1)
    na = now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agentsight mock LLM test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _atomic_write(
        os.path.join(d, KEY_FILE),
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    _atomic_write(os.path.join(d, CHAIN_FILE), leaf.public_bytes(pem) + ca.public_bytes(pem))
    _atomic_write(os.path.join(d, CA_FILE), ca.public_bytes(pem))


def _gen_with_openssl(d: str) -> None:
    with tempfile.TemporaryDirectory(dir=d) as t:
        p = lambda n: os.path.join(t, n)  # noqa: E731

        def run(*cmd):
            subprocess.run(cmd, check=True, capture_output=True)

        run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key"))
        run(
            "openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-sha256", "-days", "30",
            "-subj", "/CN=agentsight mock LLM test CA", "-out", p("ca.pem"),
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
        )
        run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ec.key"))
        run("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", p("ec.key"), "-out", p("srv.key"))
        run("openssl", "req", "-new", "-key", p("srv.key"), "-subj", "/CN=localhost", "-out", p("srv.csr"))
        with open(p("ext.cnf"), "w") as f:
            f.write(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
            )
        run(
            "openssl", "x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-days", "30", "-sha256", "-extfile", p("ext.cnf"), "-out", p("srv.pem"),
        )
        rd = lambda n: open(p(n), "rb").read()  # noqa: E731
        _atomic_write(os.path.join(d, KEY_FILE), rd("srv.key"), 0o600)
        _atomic_write(os.path.join(d, CHAIN_FILE), rd("srv.pem") + rd("ca.pem"))
        _atomic_write(os.path.join(d, CA_FILE), rd("ca.pem"))


def _atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_ssl_context(cert_dir: str, backend: str, new_cert: bool, alpn: list[str]):
    """Create (or reuse) the certs under an flock and load them into a server context."""
    os.makedirs(cert_dir, exist_ok=True)
    lock_path = os.path.join(cert_dir, ".lock")
    with open(lock_path, "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        files = [os.path.join(cert_dir, n) for n in (CA_FILE, CHAIN_FILE, KEY_FILE)]
        reuse = (not new_cert) and all(os.path.exists(f) for f in files) and _cert_still_valid(files[1])
        used = "reused"
        if not reuse:
            if backend == "auto":
                try:
                    import cryptography  # noqa: F401

                    backend = "cryptography"
                except ImportError:
                    backend = "openssl"
            (_gen_with_cryptography if backend == "cryptography" else _gen_with_openssl)(cert_dir)
            used = backend
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(os.path.join(cert_dir, CHAIN_FILE), os.path.join(cert_dir, KEY_FILE))
        fcntl.flock(lk, fcntl.LOCK_UN)
    if alpn:
        ctx.set_alpn_protocols(alpn)

    def sni_cb(sslobj, name, _ctx):
        try:
            sslobj._mock_sni = name
        except Exception:
            pass
        return None

    ctx.sni_callback = sni_cb
    return ctx, os.path.join(cert_dir, CA_FILE), used


# --------------------------------------------------------------------------------------
# Script
# --------------------------------------------------------------------------------------

ENDPOINTS = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai_chat",
    "/v1/responses": "openai_responses",
}
ENDPOINT_ALIASES = {
    "anthropic": "anthropic",
    "anthropic_messages": "anthropic",
    "messages": "anthropic",
    "/v1/messages": "anthropic",
    "openai_chat": "openai_chat",
    "chat": "openai_chat",
    "chat_completions": "openai_chat",
    "/v1/chat/completions": "openai_chat",
    "openai_responses": "openai_responses",
    "responses": "openai_responses",
    "/v1/responses": "openai_responses",
    "gemini": "gemini",
    "streamGenerateContent": "gemini",
    "gemini_json": "gemini_json",
    "generateContent": "gemini_json",
}

# /v1beta/models/MODEL:streamGenerateContent (also v1, v1alpha)
GEMINI_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):(streamGenerateContent|generateContent)$")

DEFAULT_SCRIPT = {
    "anthropic": [
        {
            "text": "I'll check the weather in Paris for you.",
            "tool_call": {
                "name": "get_weather",
                "id": "toolu_mock_weather_01",
                "arguments": {"city": "Paris", "unit": "celsius"},
            },
            "usage": {"input_tokens": 412, "output_tokens": 57, "cache_read_input_tokens": 128},
            "model": "claude-mock-1",
            "stop_reason": "tool_use",
        },
        {
            "text": "It is 18 °C and sunny in Paris. Enjoy your walk!",
            "usage": {"input_tokens": 503, "output_tokens": 21},
            "model": "claude-mock-1",
            "stop_reason": "end_turn",
            "gzip": True,
        },
    ],
    "openai_chat": [
        {
            "text": "Let me look that up.",
            "tool_call": {
                "name": "get_weather",
                "id": "call_mock_weather_01",
                "arguments": {"city": "Paris", "unit": "celsius"},
            },
            "usage": {"input_tokens": 311, "output_tokens": 44, "cache_read_input_tokens": 64},
            "model": "gpt-mock-1",
            "stop_reason": "tool_calls",
        },
        {
            "text": "It is 18 °C and sunny in Paris.",
            "usage": {"input_tokens": 380, "output_tokens": 12},
            "model": "gpt-mock-1",
            "stop_reason": "stop",
            "gzip": True,
        },
    ],
    "openai_responses": [
        {
            "text": "Checking the forecast.",
            "tool_call": {
                "name": "get_weather",
                "id": "call_mock_weather_r1",
                "arguments": {"city": "Paris", "unit": "celsius"},
            },
            "usage": {"input_tokens": 290, "output_tokens": 38, "reasoning_tokens": 0},
            "model": "gpt-mock-1",
        },
        {
            "text": "Paris: 18 °C, sunny.",
            "usage": {"input_tokens": 350, "output_tokens": 9},
            "model": "gpt-mock-1",
            "gzip": True,
        },
    ],
}

DEFAULT_SCRIPT["gemini"] = [{"text": "Hello from the Gemini mock.", "usage": {"input_tokens": 40, "output_tokens": 8}}]
DEFAULT_SCRIPT["gemini_json"] = [{"text": "{}", "usage": {"input_tokens": 20, "output_tokens": 2}}]

DEFAULT_MODELS = {
    "anthropic": "claude-mock-1",
    "openai_chat": "gpt-mock-1",
    "openai_responses": "gpt-mock-1",
    "gemini": "gemini-mock-1",
    "gemini_json": "gemini-mock-1",
}


class ScriptError(ValueError):
    pass


def normalize_script(raw) -> dict:
    if not isinstance(raw, dict):
        raise ScriptError("script must be a JSON object mapping endpoint -> list of turns")
    out = {k: list(v) for k, v in DEFAULT_SCRIPT.items()}
    for key, turns in raw.items():
        if key.startswith("_") or key in ("comment", "description"):
            continue
        ep = ENDPOINT_ALIASES.get(key)
        if ep is None:
            raise ScriptError(f"unknown endpoint key {key!r}; use one of {sorted(set(ENDPOINT_ALIASES))}")
        if isinstance(turns, dict):
            turns = [turns]
        if not isinstance(turns, list) or not turns:
            raise ScriptError(f"{key}: must be a non-empty list of turns")
        for i, t in enumerate(turns):
            if not isinstance(t, dict):
                raise ScriptError(f"{key}[{i}]: turn must be an object")
            tcs = t.get("tool_calls", [])
            if t.get("tool_call"):
                tcs = [t["tool_call"]] + list(tcs)
            for j, tc in enumerate(tcs):
                if not isinstance(tc, dict) or not isinstance(tc.get("name"), str):
                    raise ScriptError(f"{key}[{i}].tool_calls[{j}]: needs a string 'name'")
                a = tc.get("arguments", {})
                if isinstance(a, str):
                    try:
                        json.loads(a)
                    except ValueError as e:
                        raise ScriptError(f"{key}[{i}].tool_calls[{j}].arguments: invalid JSON string: {e}")
                elif not isinstance(a, dict):
                    raise ScriptError(f"{key}[{i}].tool_calls[{j}].arguments must be an object or JSON string")
        out[ep] = turns
    return out


def _usage(u: dict) -> dict:
    u = dict(u or {})
    alias = {
        "prompt_tokens": "input_tokens",
        "completion_tokens": "output_tokens",
        "cached_tokens": "cache_read_input_tokens",
        "cache_read_tokens": "cache_read_input_tokens",
        "cache_creation_tokens": "cache_creation_input_tokens",
    }
    for a, c in alias.items():
        if a in u and c not in u:
            u[c] = u.pop(a)
    return {
        "input_tokens": int(u.get("input_tokens", 10)),
        "output_tokens": int(u.get("output_tokens", 20)),
        "cache_read_input_tokens": int(u.get("cache_read_input_tokens", 0)),
        "cache_creation_input_tokens": int(u.get("cache_creation_input_tokens", 0)),
        "reasoning_tokens": int(u.get("reasoning_tokens", 0)),
    }


class Script:
    def __init__(self, raw=None, source="builtin-default"):
        self.lock = threading.Lock()
        self.set(raw, source)

    def set(self, raw, source):
        turns = normalize_script(raw or {})
        with self.lock:
            self.turns = turns
            self.source = source
            self.counters = collections.Counter()  # per endpoint, position in list (mod len)
            self.calls = collections.Counter()  # per endpoint, total calls served (for ids)

    def reset(self):
        with self.lock:
            self.counters = collections.Counter()
            self.calls = collections.Counter()

    def next(self, ep: str, override: int | None, req_model: str | None) -> dict:
        with self.lock:
            lst = self.turns[ep]
            if override is not None:
                idx = override % len(lst)
            else:
                idx = self.counters[ep] % len(lst)
                self.counters[ep] += 1
            self.calls[ep] += 1
            n = self.calls[ep]
            t = lst[idx]
        return resolve_turn(t, ep, idx, n, req_model)


def resolve_turn(t: dict, ep: str, idx: int, n: int, req_model: str | None) -> dict:
    tcs = list(t.get("tool_calls", []))
    if t.get("tool_call"):
        tcs = [t["tool_call"]] + tcs
    calls = []
    for j, tc in enumerate(tcs):
        a = tc.get("arguments", {})
        if isinstance(a, str):
            args_json = a
            args_obj = json.loads(a)
        else:
            args_obj = a
            args_json = json.dumps(a, ensure_ascii=False)
        default_id = {
            "anthropic": f"toolu_mock_{n:04d}_{j}",
            "openai_chat": f"call_mock_{n:04d}_{j}",
            "openai_responses": f"call_mock_{n:04d}_{j}",
            "gemini": f"gemini_call_{n:04d}_{j}",
            "gemini_json": f"gemini_call_{n:04d}_{j}",
        }[ep]
        calls.append(
            {"name": tc["name"], "id": tc.get("id") or default_id, "arguments": args_obj, "arguments_json": args_json}
        )
    stop = t.get("stop_reason")
    if stop is None:
        if ep == "anthropic":
            stop = "tool_use" if calls else "end_turn"
        elif ep == "openai_chat":
            stop = "tool_calls" if calls else "stop"
        elif ep.startswith("gemini"):
            stop = "STOP"
        else:
            stop = t.get("status", "completed")
    return {
        "endpoint": ep,
        "index": idx,
        "call_number": n,
        "text": t.get("text", ""),
        "thinking": t.get("thinking"),
        "tool_calls": calls,
        "usage": _usage(t.get("usage")),
        "model": t.get("model") or req_model or DEFAULT_MODELS[ep],
        "stop_reason": stop,
        "status": t.get("status", "completed"),
        "gzip": bool(t.get("gzip", False)),
        "chunked": bool(t.get("chunked", False)),
        "delay_ms": t.get("delay_ms"),
        "delta_chars": int(t.get("delta_chars", 10)),
        "error": t.get("error"),
        "id": t.get("response_id"),
    }


def split_text(s: str, n: int) -> list[str]:
    n = max(1, n)
    return [s[i : i + n] for i in range(0, len(s), n)] or []


# --------------------------------------------------------------------------------------
# Provider bodies
# --------------------------------------------------------------------------------------


def sse(event: str | None, data) -> bytes:
    d = data if isinstance(data, str) else jdump(data)
    return ((f"event: {event}\n" if event else "") + f"data: {d}\n\n").encode("utf-8")


def anthropic_usage(u: dict, output: int | None = None) -> dict:
    return {
        "input_tokens": u["input_tokens"],
        "cache_creation_input_tokens": u["cache_creation_input_tokens"],
        "cache_read_input_tokens": u["cache_read_input_tokens"],
        "output_tokens": u["output_tokens"] if output is None else output,
    }


def anthropic_json(t: dict) -> dict:
    content = []
    if t["thinking"]:
        content.append({"type": "thinking", "thinking": t["thinking"], "signature": "mock-signature"})
    if t["text"]:
        content.append({"type": "text", "text": t["text"]})
    for c in t["tool_calls"]:
        content.append({"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]})
    return {
        "id": t["id"] or f"msg_mock_{t['call_number']:04d}",
        "type": "message",
        "role": "assistant",
        "model": t["model"],
        "content": content,
        "stop_reason": t["stop_reason"],
        "stop_sequence": None,
        "usage": anthropic_usage(t["usage"]),
    }


def anthropic_sse(t: dict) -> list[bytes]:
    ev = []
    msg = anthropic_json(t)
    start = dict(msg, content=[], stop_reason=None, stop_sequence=None, usage=anthropic_usage(t["usage"], 1))
    ev.append(sse("message_start", {"type": "message_start", "message": start}))
    idx = 0
    pinged = False
    n = t["delta_chars"]

    def block_start(block):
        nonlocal pinged
        ev.append(sse("content_block_start", {"type": "content_block_start", "index": idx, "content_block": block}))
        if not pinged:
            ev.append(sse("ping", {"type": "ping"}))
            pinged = True

    def delta(d):
        ev.append(sse("content_block_delta", {"type": "content_block_delta", "index": idx, "delta": d}))

    def stop():
        ev.append(sse("content_block_stop", {"type": "content_block_stop", "index": idx}))

    if t["thinking"]:
        block_start({"type": "thinking", "thinking": "", "signature": ""})
        for p in split_text(t["thinking"], n):
            delta({"type": "thinking_delta", "thinking": p})
        delta({"type": "signature_delta", "signature": "mock-signature"})
        stop()
        idx += 1
    if t["text"]:
        block_start({"type": "text", "text": ""})
        for p in split_text(t["text"], n):
            delta({"type": "text_delta", "text": p})
        stop()
        idx += 1
    for c in t["tool_calls"]:
        block_start({"type": "tool_use", "id": c["id"], "name": c["name"], "input": {}})
        delta({"type": "input_json_delta", "partial_json": ""})
        for p in split_text(c["arguments_json"], max(1, n + 2)):
            delta({"type": "input_json_delta", "partial_json": p})
        stop()
        idx += 1
    if not pinged:
        ev.append(sse("ping", {"type": "ping"}))
    ev.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": t["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": t["usage"]["output_tokens"]},
            },
        )
    )
    ev.append(sse("message_stop", {"type": "message_stop"}))
    return ev


def gemini_usage(u: dict) -> dict:
    return {
        "promptTokenCount": u["input_tokens"],
        "candidatesTokenCount": u["output_tokens"],
        "totalTokenCount": u["input_tokens"] + u["output_tokens"],
        "cachedContentTokenCount": u["cache_read_input_tokens"],
        "thoughtsTokenCount": u["reasoning_tokens"],
    }


def gemini_chunk(t: dict, parts: list, last: bool) -> dict:
    cand = {"content": {"role": "model", "parts": parts}, "index": 0}
    if last:
        cand["finishReason"] = t["stop_reason"]
    out = {"candidates": [cand], "modelVersion": t["model"], "responseId": t["id"] or f"gemini_resp_{t['call_number']:04d}"}
    if last:
        out["usageMetadata"] = gemini_usage(t["usage"])
    return out


def gemini_parts(t: dict) -> list:
    parts = []
    if t["thinking"]:
        parts.append({"text": t["thinking"], "thought": True})
    if t["text"]:
        parts.append({"text": t["text"]})
    for c in t["tool_calls"]:
        parts.append({"functionCall": {"id": c["id"], "name": c["name"], "args": c["arguments"]}})
    return parts


def gemini_json(t: dict) -> dict:
    return gemini_chunk(t, gemini_parts(t), True)


def gemini_stream_chunks(t: dict) -> list[dict]:
    """Text in pieces of delta_chars, then each function call whole (as the API streams them),
    the finish reason and usage on the last chunk."""
    chunks = [[{"text": p}] for p in split_text(t["text"], t["delta_chars"])] if t["text"] else []
    if t["thinking"]:
        chunks.insert(0, [{"text": t["thinking"], "thought": True}])
    for c in t["tool_calls"]:
        chunks.append([{"functionCall": {"id": c["id"], "name": c["name"], "args": c["arguments"]}}])
    if not chunks:
        chunks = [[{"text": ""}]]
    return [gemini_chunk(t, parts, i == len(chunks) - 1) for i, parts in enumerate(chunks)]


def chat_usage(u: dict) -> dict:
    return {
        "prompt_tokens": u["input_tokens"],
        "completion_tokens": u["output_tokens"],
        "total_tokens": u["input_tokens"] + u["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": u["cache_read_input_tokens"], "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u["reasoning_tokens"],
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_json(t: dict) -> dict:
    msg = {"role": "assistant", "content": t["text"] or None, "refusal": None, "annotations": []}
    if t["tool_calls"]:
        msg["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments_json"]}}
            for c in t["tool_calls"]
        ]
    return {
        "id": t["id"] or f"chatcmpl-mock-{t['call_number']:04d}",
        "object": "chat.completion",
        "created": 1700000000 + t["call_number"],
        "model": t["model"],
        "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": t["stop_reason"]}],
        "usage": chat_usage(t["usage"]),
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }


def chat_sse(t: dict, include_usage: bool) -> list[bytes]:
    base = {
        "id": t["id"] or f"chatcmpl-mock-{t['call_number']:04d}",
        "object": "chat.completion.chunk",
        "created": 1700000000 + t["call_number"],
        "model": t["model"],
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }
    n = t["delta_chars"]

    def chunk(delta, finish=None):
        d = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
        if include_usage:
            d["usage"] = None
        return sse(None, d)

    ev = [chunk({"role": "assistant", "content": "", "refusal": None})]
    for p in split_text(t["text"], n):
        ev.append(chunk({"content": p}))
    for i, c in enumerate(t["tool_calls"]):
        ev.append(
            chunk(
                {
                    "tool_calls": [
                        {"index": i, "id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": ""}}
                    ]
                }
            )
        )
        for p in split_text(c["arguments_json"], max(1, n + 2)):
            ev.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
    ev.append(chunk({}, t["stop_reason"]))
    if include_usage:
        ev.append(sse(None, dict(base, choices=[], usage=chat_usage(t["usage"]))))
    ev.append(b"data: [DONE]\n\n")
    return ev


def responses_usage(u: dict) -> dict:
    return {
        "input_tokens": u["input_tokens"],
        "input_tokens_details": {"cached_tokens": u["cache_read_input_tokens"]},
        "output_tokens": u["output_tokens"],
        "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
        "total_tokens": u["input_tokens"] + u["output_tokens"],
    }


def _responses_items(t: dict) -> list[dict]:
    items = []
    k = t["call_number"]
    if t["text"]:
        items.append(
            {
                "id": f"msg_mock_{k:04d}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": t["text"], "annotations": [], "logprobs": []}],
            }
        )
    for j, c in enumerate(t["tool_calls"]):
        items.append(
            {
                "id": f"fc_mock_{k:04d}_{j}",
                "type": "function_call",
                "status": "completed",
                "call_id": c["id"],
                "name": c["name"],
                "arguments": c["arguments_json"],
            }
        )
    return items


def responses_json(t: dict, req: dict, status: str | None = None, with_output=True) -> dict:
    st = status or t["status"]
    return {
        "id": t["id"] or f"resp_mock_{t['call_number']:04d}",
        "object": "response",
        "created_at": 1700000000 + t["call_number"],
        "status": st,
        "background": False,
        "error": {"code": "server_error", "message": "mock failure"} if st == "failed" else None,
        "incomplete_details": {"reason": "max_output_tokens"} if st == "incomplete" else None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "model": t["model"],
        "output": _responses_items(t) if with_output else [],
        "parallel_tool_calls": True,
        "previous_response_id": req.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": req.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": responses_usage(t["usage"]) if with_output else None,
        "metadata": {},
    }


def responses_sse(t: dict, req: dict) -> list[bytes]:
    ev = []
    seq = 0
    n = t["delta_chars"]

    def add(typ, **fields):
        nonlocal seq
        ev.append(sse(typ, dict({"type": typ, "sequence_number": seq}, **fields)))
        seq += 1

    add("response.created", response=responses_json(t, req, "in_progress", with_output=False))
    add("response.in_progress", response=responses_json(t, req, "in_progress", with_output=False))
    for oi, item in enumerate(_responses_items(t)):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            add("response.output_item.added", output_index=oi, item=dict(item, status="in_progress", content=[]))
            add(
                "response.content_part.added",
                item_id=item["id"],
                output_index=oi,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
            for p in split_text(text, n):
                add(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=oi,
                    content_index=0,
                    delta=p,
                    logprobs=[],
                )
            add(
                "response.output_text.done",
                item_id=item["id"],
                output_index=oi,
                content_index=0,
                text=text,
                logprobs=[],
            )
            add(
                "response.content_part.done",
                item_id=item["id"],
                output_index=oi,
                content_index=0,
                part=item["content"][0],
            )
            add("response.output_item.done", output_index=oi, item=item)
        else:
            add("response.output_item.added", output_index=oi, item=dict(item, status="in_progress", arguments=""))
            for p in split_text(item["arguments"], max(1, n + 2)):
                add("response.function_call_arguments.delta", item_id=item["id"], output_index=oi, delta=p)
            add(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=oi,
                name=item["name"],
                arguments=item["arguments"],
            )
            add("response.output_item.done", output_index=oi, item=item)
    final = t["status"] if t["status"] in ("completed", "incomplete", "failed") else "completed"
    add(f"response.{final}", response=responses_json(t, req, final))
    return ev


# --------------------------------------------------------------------------------------
# Blob
# --------------------------------------------------------------------------------------


def blob_chunks(size: int, seed: str):
    """Deterministic content: block i (64 KiB) = SHAKE-256("agentsight-blob:<seed>:<i>") squeezed
    to 65536 bytes; content = blocks concatenated, truncated to `size`."""
    i = 0
    left = size
    while left > 0:
        b = hashlib.shake_256(f"agentsight-blob:{seed}:{i}".encode()).digest(BLOB_BLOCK)
        if left < BLOB_BLOCK:
            b = b[:left]
        left -= len(b)
        i += 1
        yield b


_blob_sha_cache: dict = {}


def blob_sha(size: int, seed: str) -> str:
    k = (size, seed)
    if k not in _blob_sha_cache:
        h = hashlib.sha256()
        for b in blob_chunks(size, seed):
            h.update(b)
        _blob_sha_cache[k] = h.hexdigest()
    return _blob_sha_cache[k]


# --------------------------------------------------------------------------------------
# Request / Response model
# --------------------------------------------------------------------------------------


class Request:
    def __init__(self, method, target, version, headers, body, proto):
        self.method = method
        self.target = target
        u = urlsplit(target)
        self.path = u.path
        self.query_string = u.query
        self.query = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        self.version = version
        self.headers = headers  # list[(name, value)] as received (str, latin-1)
        self.h = {}
        for k, v in headers:
            lk = k.lower()
            self.h[lk] = (self.h[lk] + ", " + v) if lk in self.h else v
        self.body = body
        self.proto = proto
        self.conn_id = None
        self.peer = None

    def accepts_gzip(self) -> bool:
        ae = self.h.get("accept-encoding", "")
        for part in ae.split(","):
            bits = [b.strip() for b in part.split(";")]
            if bits[0].lower() in ("gzip", "x-gzip", "*"):
                q = 1.0
                for b in bits[1:]:
                    if b.startswith("q="):
                        try:
                            q = float(b[2:])
                        except ValueError:
                            q = 0.0
                if q > 0:
                    return True
        return False


class Response:
    def __init__(self, status=200, headers=None, content=None, chunks=None, length=None, meta=None):
        self.status = status
        self.headers = list(headers or [])  # list[(name, value)]
        self.content = content  # bytes (whole body, pre-encoding) or None
        self.chunks = chunks  # iterable of bytes (pre-encoding) or None
        self.length = length  # Content-Length for `chunks` when known (no encoding)
        self.gzip = False
        self.force_chunked = False
        self.delay_s = 0.0
        self.meta = meta or {}


def json_response(obj, status=200, meta=None, extra_headers=()):
    return Response(
        status,
        [("Content-Type", "application/json")] + list(extra_headers),
        content=jdump(obj).encode(),
        meta=meta,
    )


def credential_summary(value: str) -> dict:
    b = value.encode("latin-1", "replace")
    return {"length": len(b), "sha256": hashlib.sha256(b).hexdigest()}


class BodyPlan:
    """Turns a Response into wire pieces, tracking entity (encoded) and content hashes."""

    def __init__(self, resp: Response):
        self.resp = resp
        self.content_hash = hashlib.sha256()
        self.content_len = 0
        self.entity_hash = hashlib.sha256()
        self.entity_len = 0
        self.content_length = None  # value for the Content-Length header, or None -> streamed
        r = resp
        if r.content is not None:
            self._update_content(r.content)
            ent = gzip.compress(r.content, compresslevel=6, mtime=0) if r.gzip else r.content
            self._pieces_static = [ent]
            if r.force_chunked and len(ent) > 0:
                k = max(1, (len(ent) + 2) // 3)
                self._pieces_static = [ent[i : i + k] for i in range(0, len(ent), k)]
            else:
                self.content_length = len(ent)
        else:
            self._pieces_static = None
            if r.length is not None and not r.gzip:
                self.content_length = r.length

    def _update_content(self, b):
        self.content_hash.update(b)
        self.content_len += len(b)

    def pieces(self):
        if self._pieces_static is not None:
            for p in self._pieces_static:
                self.entity_hash.update(p)
                self.entity_len += len(p)
                yield p
            return
        comp = zlib.compressobj(6, zlib.DEFLATED, 31) if self.resp.gzip else None
        first = True
        for c in self.resp.chunks:
            if not first and self.resp.delay_s > 0:
                time.sleep(self.resp.delay_s)
            first = False
            self._update_content(c)
            p = (comp.compress(c) + comp.flush(zlib.Z_SYNC_FLUSH)) if comp else c
            if p:
                self.entity_hash.update(p)
                self.entity_len += len(p)
                yield p
        if comp:
            p = comp.flush()
            if p:
                self.entity_hash.update(p)
                self.entity_len += len(p)
                yield p

    def summary(self) -> dict:
        return {
            "resp_body_len": self.entity_len,
            "resp_body_sha256": self.entity_hash.hexdigest(),
            "resp_content_len": self.content_len,
            "resp_content_sha256": self.content_hash.hexdigest(),
        }


# --------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------


class JsonlLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8") if path else None

    def write(self, rec: dict):
        if not self.f:
            return
        line = json.dumps(rec, ensure_ascii=False, sort_keys=False)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()

    def close(self):
        if self.f:
            with self.lock:
                self.f.close()
                self.f = None


class ConnClosed(Exception):
    pass


class MockServer:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.log = JsonlLog(args.log)
        self.script = Script()
        if args.script:
            with open(args.script, encoding="utf-8") as f:
                self.script.set(json.load(f), os.path.abspath(args.script))
        self.conn_lock = threading.Lock()
        self.next_conn = 0
        self.active: dict[int, "Connection"] = {}
        self.threads: list[threading.Thread] = []
        if args.alpn:
            alpn = [a.strip() for a in args.alpn.split(",") if a.strip()]
        else:
            alpn = (["h2"] if HAVE_H2 and not args.no_h2 else []) + ["http/1.1"]
        if "h2" in alpn and not HAVE_H2:
            raise SystemExit("ALPN h2 requested but the `h2` package is not installed")
        self.alpn = alpn
        cert_dir = args.cert_dir or tempfile.mkdtemp(prefix="mock-llm-certs-")
        self.ctx, self.ca_path, self.cert_source = make_ssl_context(cert_dir, args.cert_backend, args.new_cert, alpn)
        self.default_delay_s = args.stream_delay_ms / 1000.0

    # ---- request handling ---------------------------------------------------------

    def handle(self, req: Request) -> Response:
        try:
            return self._handle(req)
        except Exception as e:  # never kill the connection thread on a handler bug
            traceback.print_exc(file=sys.stderr)
            return json_response({"error": {"type": "mock_internal_error", "message": str(e)}}, 500)

    def _handle(self, req: Request) -> Response:
        p, m = req.path, req.method
        if p in ENDPOINTS:
            if m != "POST":
                return json_response({"error": {"type": "method_not_allowed", "message": m}}, 405)
            return self.llm(req, ENDPOINTS[p])
        g = GEMINI_PATH.match(p)
        if g:
            if m != "POST":
                return json_response({"error": {"code": 405, "message": m, "status": "METHOD_NOT_ALLOWED"}}, 405)
            stream = g.group(2) == "streamGenerateContent"
            return self.llm(req, "gemini" if stream else "gemini_json", gemini_model=g.group(1), gemini_stream=stream)
        if p == "/blob" and m in ("GET", "HEAD"):
            size, seed, err = self._blob_params(req)
            if err:
                return err
            r = Response(200, [("Content-Type", "application/octet-stream")], chunks=blob_chunks(size, seed), length=size)
            r.meta = {"endpoint": "blob", "blob_size": size, "blob_seed": seed, "blob_sha256": blob_sha(size, seed)}
            return r
        if p == "/blob-sha" and m == "GET":
            size, seed, err = self._blob_params(req)
            if err:
                return err
            return json_response({"size": size, "seed": seed, "sha256": blob_sha(size, seed)}, meta={"endpoint": "blob-sha"})
        if p == "/upload" and m in ("POST", "PUT"):
            return json_response(
                {"sha256": hashlib.sha256(req.body).hexdigest(), "length": len(req.body)}, meta={"endpoint": "upload"}
            )
        if p == "/echo-headers":
            hs = []
            for k, v in req.headers:
                if k.lower() in CREDENTIAL_HEADERS:
                    s = credential_summary(v)
                    hs.append({"name": k, "redacted": True, "value_length": s["length"], "value_sha256": s["sha256"]})
                else:
                    hs.append({"name": k, "value": v})
            return json_response(
                {
                    "method": m,
                    "path": req.target,
                    "version": req.version,
                    "proto": req.proto,
                    "conn_id": req.conn_id,
                    "peer": req.peer,
                    "headers": hs,
                },
                meta={"endpoint": "echo-headers"},
            )
        if p == "/healthz":
            return json_response({"ok": True}, meta={"endpoint": "healthz"})
        if p == "/_control/reset" and m == "POST":
            self.script.reset()
            return json_response({"ok": True, "reset": True}, meta={"endpoint": "control"})
        if p == "/_control/script" and m == "POST":
            try:
                self.script.set(json.loads(req.body or b"{}"), "control-endpoint")
            except (ValueError, ScriptError) as e:
                return json_response({"ok": False, "error": str(e)}, 400, meta={"endpoint": "control"})
            return json_response({"ok": True}, meta={"endpoint": "control"})
        return json_response(
            {"error": {"type": "not_found_error", "message": f"no route for {m} {req.path}"}},
            404,
            meta={"endpoint": "not_found"},
        )

    @staticmethod
    def _blob_params(req):
        try:
            size = int(req.query.get("size", "1024"))
        except ValueError:
            return 0, "", json_response({"error": "size must be an integer"}, 400)
        if size < 0 or size > MAX_BLOB:
            return 0, "", json_response({"error": f"size must be in [0, {MAX_BLOB}]"}, 400)
        return size, req.query.get("seed", "0"), None

    def llm(self, req: Request, ep: str, gemini_model: str | None = None, gemini_stream: bool = False) -> Response:
        body = req.body
        if req.h.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except Exception:
                return json_response({"error": {"type": "invalid_request_error", "message": "bad gzip body"}}, 400)
        try:
            j = json.loads(body or b"null")
            if not isinstance(j, dict):
                raise ValueError("not an object")
        except ValueError as e:
            return json_response(
                {"type": "error", "error": {"type": "invalid_request_error", "message": f"invalid JSON body: {e}"}},
                400,
                meta={"endpoint": ep},
            )
        override = None
        if "x-mock-turn" in req.h:
            try:
                override = int(req.h["x-mock-turn"])
            except ValueError:
                override = None
        req_model = gemini_model or (j.get("model") if isinstance(j.get("model"), str) else None)
        t = self.script.next(ep, override, req_model)
        stream = gemini_stream if ep.startswith("gemini") else j.get("stream") is True
        meta = {
            "endpoint": ep,
            "stream": stream,
            "turn": _turn_for_log(t),
            "request_model": req_model,
            "request_summary": request_summary(ep, j),
        }
        rid = f"req_mock_{ep}_{t['call_number']:04d}"
        extra = [("x-request-id", rid)] if ep != "anthropic" else [("request-id", rid)]
        if t["error"]:
            e = t["error"]
            status = int(e.get("status", 400))
            if ep == "anthropic":
                obj = {"type": "error", "error": {"type": e.get("type", "invalid_request_error"), "message": e.get("message", "mock error")}}
            elif ep.startswith("gemini"):
                obj = {"error": {"code": status, "message": e.get("message", "mock error"), "status": e.get("type", "INVALID_ARGUMENT")}}
            else:
                obj = {"error": {"message": e.get("message", "mock error"), "type": e.get("type", "invalid_request_error"), "param": None, "code": e.get("code")}}
            r = json_response(obj, status, meta=dict(meta, stream=False), extra_headers=extra)
            return r
        if stream:
            if ep.startswith("gemini") and req.query.get("alt") != "sse":
                # Without alt=sse the stream is one JSON array of chunks.
                r = json_response(gemini_stream_chunks(t), meta=meta, extra_headers=extra)
                r.force_chunked = True
                r.gzip = t["gzip"] and req.accepts_gzip()
                meta["gzip"] = r.gzip
                r.delay_s = (t["delay_ms"] / 1000.0) if t["delay_ms"] is not None else self.default_delay_s
                return r
            if ep.startswith("gemini"):
                ev = [("data: " + jdump(c) + "\r\n\r\n").encode("utf-8") for c in gemini_stream_chunks(t)]
            elif ep == "anthropic":
                ev = anthropic_sse(t)
            elif ep == "openai_chat":
                so = j.get("stream_options") or {}
                ev = chat_sse(t, bool(isinstance(so, dict) and so.get("include_usage")))
            else:
                ev = responses_sse(t, j)
            r = Response(200, [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")] + extra, chunks=ev, meta=meta)
            meta["sse_events"] = len(ev)
        else:
            if ep.startswith("gemini"):
                obj = gemini_json(t)
            elif ep == "anthropic":
                obj = anthropic_json(t)
            elif ep == "openai_chat":
                obj = chat_json(t)
            else:
                obj = responses_json(t, j)
            r = json_response(obj, meta=meta, extra_headers=extra)
            r.force_chunked = t["chunked"]
        r.gzip = t["gzip"] and req.accepts_gzip()
        meta["gzip"] = r.gzip
        r.delay_s = (t["delay_ms"] / 1000.0) if t["delay_ms"] is not None else self.default_delay_s
        return r

    # ---- lifecycle ------------------------------------------------------------------

    def serve(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.args.port))
        ls.listen(128)
        ls.settimeout(0.2)
        port = ls.getsockname()[1]
        ready = {
            "port": port,
            "pid": os.getpid(),
            "base_url": f"https://localhost:{port}",
            "cert": self.ca_path,
            "alpn": self.alpn,
        }
        self.log.write(
            dict(
                {"type": "server_start", "t_wall": time.time(), "t_mono_ns": now_mono_ns()},
                **ready,
                script=self.script.source,
                cert_source=self.cert_source,
            )
        )
        line = json.dumps(ready)
        if self.args.ready_file:
            _atomic_write(self.args.ready_file, (line + "\n").encode())
        if not self.args.quiet_ready or not self.args.ready_file:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        deadline = time.monotonic() + self.args.max_seconds if self.args.max_seconds > 0 else None
        reason = "signal"
        try:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    reason = "max-seconds"
                    print(f"mock_llm: --max-seconds {self.args.max_seconds} reached, exiting", file=sys.stderr)
                    break
                try:
                    s, addr = ls.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self.stop.is_set():
                        break
                    raise
                # Like production HTTP servers: without it the small SSE writes meet the
                # client's delayed ACK and every streamed response stalls ~40 ms.
                try:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
                with self.conn_lock:
                    self.next_conn += 1
                    cid = self.next_conn
                th = threading.Thread(target=self._conn_thread, args=(s, addr, cid), daemon=True, name=f"conn-{cid}")
                self.threads = [t for t in self.threads if t.is_alive()]
                self.threads.append(th)
                th.start()
        finally:
            ls.close()
            with self.conn_lock:
                conns = list(self.active.values())
            for c in conns:
                c.abort()
            for th in self.threads:
                th.join(timeout=3)
            self.log.write({"type": "server_stop", "t_wall": time.time(), "t_mono_ns": now_mono_ns(), "reason": reason})
            self.log.close()

    def _conn_thread(self, raw: socket.socket, addr, cid: int):
        c = Connection(self, raw, addr, cid)
        with self.conn_lock:
            self.active[cid] = c
        try:
            c.run()
        finally:
            with self.conn_lock:
                self.active.pop(cid, None)


def request_summary(ep: str, j: dict) -> dict:
    """What the client sent, in brief: message count, tool names offered, tool results returned."""
    tools, results, n = [], [], 0
    try:
        for t in j.get("tools") or []:
            if isinstance(t, dict):
                tools.append(t.get("name") or (t.get("function") or {}).get("name") or t.get("type"))
        if ep == "anthropic":
            msgs = j.get("messages") or []
            n = len(msgs)
            for m in msgs:
                if isinstance(m, dict) and isinstance(m.get("content"), list):
                    for b in m["content"]:
                        if isinstance(b, dict) and b.get("type") == "tool_result":
                            results.append(b.get("tool_use_id"))
        elif ep == "openai_chat":
            msgs = j.get("messages") or []
            n = len(msgs)
            results = [m.get("tool_call_id") for m in msgs if isinstance(m, dict) and m.get("role") == "tool"]
        else:
            inp = j.get("input")
            if isinstance(inp, list):
                n = len(inp)
                results = [i.get("call_id") for i in inp if isinstance(i, dict) and i.get("type") == "function_call_output"]
            elif isinstance(inp, str):
                n = 1
    except Exception:
        pass
    return {"messages": n, "tools": tools, "tool_results": results}


def _turn_for_log(t: dict) -> dict:
    return {
        "endpoint": t["endpoint"],
        "index": t["index"],
        "call_number": t["call_number"],
        "model": t["model"],
        "text": t["text"],
        "thinking": t["thinking"],
        "tool_calls": [{"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in t["tool_calls"]],
        "usage": t["usage"],
        "stop_reason": t["stop_reason"],
        "status": t["status"],
        "gzip_requested": t["gzip"],
        "error": t["error"],
    }


class Connection:
    def __init__(self, server: MockServer, raw: socket.socket, addr, cid: int):
        self.server = server
        self.raw = raw
        self.sock = None
        self.peer = f"{addr[0]}:{addr[1]}"
        self.local = "%s:%d" % raw.getsockname()[:2]
        self.cid = cid
        self.in_hash = hashlib.sha256()
        self.out_hash = hashlib.sha256()
        self.in_len = 0
        self.out_len = 0
        self.buf = bytearray()
        self.ex_in = None
        self.ex_out = None
        self.exchanges = 0
        self.t_open = time.time()
        self.t_open_mono = now_mono_ns()
        self.dump_in = self.dump_out = None
        self.aborted = False
        d = server.args.dump_dir
        if d:
            os.makedirs(d, exist_ok=True)
            self.dump_in = open(os.path.join(d, f"conn-{cid}.in"), "wb")
            self.dump_out = open(os.path.join(d, f"conn-{cid}.out"), "wb")

    def abort(self):
        self.aborted = True
        s = self.sock if self.sock is not None else self.raw
        try:  # plain socket shutdown (not SSLSocket.shutdown) to unblock a recv in the conn thread
            socket.socket.shutdown(s, socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- byte accounting --------------------------------------------------------------

    def _recv(self, n=262144) -> bytes:
        try:
            d = self.sock.recv(n)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            return b""
        if d:
            self.in_hash.update(d)
            self.in_len += len(d)
            if self.dump_in:
                self.dump_in.write(d)
        return d

    def send(self, data: bytes):
        if not data:
            return
        self.sock.sendall(data)
        self.out_hash.update(data)
        self.out_len += len(data)
        if self.dump_out:
            self.dump_out.write(data)
        if self.ex_out is not None:
            self.ex_out[0].update(data)
            self.ex_out[1] += len(data)

    def _fill(self) -> bool:
        d = self._recv()
        if not d:
            return False
        self.buf += d
        return True

    def take(self, n: int) -> bytes:
        d = bytes(self.buf[:n])
        del self.buf[:n]
        if self.ex_in is not None:
            self.ex_in[0].update(d)
            self.ex_in[1] += len(d)
        return d

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnClosed("EOF in body")
        return self.take(n)

    def read_line(self, limit=MAX_HEAD) -> bytes:
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                return self.take(i + 1)
            start = len(self.buf)
            if len(self.buf) > limit:
                raise ValueError("line too long")
            if not self._fill():
                raise ConnClosed("EOF in line")

    # ---- main -------------------------------------------------------------------------

    def run(self):
        srv = self.server
        rec = {"type": "connection", "conn_id": self.cid, "peer": self.peer, "local": self.local}
        err = None
        try:
            self.raw.settimeout(srv.args.handshake_timeout)
            try:
                self.sock = srv.ctx.wrap_socket(self.raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                srv.log.write(
                    {"type": "tls_error", "conn_id": self.cid, "peer": self.peer, "error": str(e), "t_wall": time.time()}
                )
                try:
                    self.raw.close()
                except OSError:
                    pass
                return
            self.sock.settimeout(srv.args.idle_timeout)
            alpn = self.sock.selected_alpn_protocol()
            rec.update(
                alpn=alpn,
                proto="h2" if alpn == "h2" else "http/1.1",
                tls_version=self.sock.version(),
                cipher=(self.sock.cipher() or [None])[0],
                sni=getattr(self.sock, "_mock_sni", None),
            )
            srv.log.write(
                dict(rec, type="connection_open", t_wall=self.t_open, t_mono_ns=self.t_open_mono)
            )
            if alpn == "h2":
                H2Handler(self).run()
            else:
                self.serve_h1()
        except ConnClosed as e:
            err = None if str(e) == "clean" else str(e)
        except (socket.timeout, TimeoutError):
            err = "idle-timeout"
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
            if not self.aborted and not isinstance(e, (ConnectionError, ssl.SSLError, OSError)):
                traceback.print_exc(file=sys.stderr)
        finally:
            try:
                if self.sock is not None:
                    self.sock.close()
                else:
                    self.raw.close()
            except OSError:
                pass
            for f in (self.dump_in, self.dump_out):
                if f:
                    f.close()
        if self.sock is None:
            return
        rec.update(
            t_open=self.t_open,
            t_open_mono_ns=self.t_open_mono,
            t_close=time.time(),
            t_close_mono_ns=now_mono_ns(),
            exchanges=self.exchanges,
            in_len=self.in_len,
            in_sha256=self.in_hash.hexdigest(),
            out_len=self.out_len,
            out_sha256=self.out_hash.hexdigest(),
            unparsed_in_len=len(self.buf),
            error=err if not self.aborted else (err and f"aborted at shutdown ({err})"),
        )
        srv.log.write(rec)

    # ---- HTTP/1.1 -----------------------------------------------------------------------

    def serve_h1(self):
        srv = self.server
        while not srv.stop.is_set():
            in_off = self.in_len - len(self.buf)
            out_off = self.out_len
            self.ex_in = [hashlib.sha256(), 0]
            self.ex_out = [hashlib.sha256(), 0]
            t0 = time.time()
            t0m = now_mono_ns()
            # request head (tolerate leading empty lines, RFC 9112 §2.2)
            while True:
                i = self.buf.find(b"\r\n\r\n")
                if i >= 0:
                    head = self.take(i + 4)
                    break
                if len(self.buf) > MAX_HEAD:
                    self._h1_error(400, "request head too large")
                    return
                if not self._fill():
                    if self.buf:
                        raise ConnClosed("EOF in request head")
                    raise ConnClosed("clean")
            t_head_mono = now_mono_ns()
            text = head.decode("latin-1").lstrip("\r\n")
            lines = text.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
                headers = []
                for ln in lines[1:]:
                    if not ln:
                        continue
                    k, v = ln.split(":", 1)
                    headers.append((k.strip(), v.strip()))
            except ValueError:
                self._h1_error(400, "malformed request head")
                return
            req = Request(method, target, version, headers, b"", "http/1.1")
            req.conn_id, req.peer = self.cid, self.peer
            te = req.h.get("transfer-encoding", "").lower()
            cl = req.h.get("content-length")
            has_body = "chunked" in te or (cl is not None and cl.strip() not in ("", "0"))
            if has_body and req.h.get("expect", "").lower() == "100-continue":
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in te:
                body = bytearray()
                while True:
                    line = self.read_line()
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        break
                    if len(body) + size > MAX_BODY:
                        self._h1_error(413, "body too large")
                        return
                    body += self.read_exact(size)
                    if self.read_exact(2) != b"\r\n":
                        self._h1_error(400, "bad chunk framing")
                        return
                while self.read_line() not in (b"\r\n", b"\n"):
                    pass  # trailers
                req.body = bytes(body)
            elif cl is not None:
                try:
                    n = int(cl)
                except ValueError:
                    self._h1_error(400, "bad content-length")
                    return
                if n > MAX_BODY:
                    self._h1_error(413, "body too large")
                    return
                req.body = self.read_exact(n)
            req_sha, req_len = self.ex_in[0].hexdigest(), self.ex_in[1]
            self.ex_in = None
            t_req_mono = now_mono_ns()
            keep = self._keep_alive(req)
            resp = srv.handle(req)
            plan = BodyPlan(resp)
            hdrs = [("Server", SERVER_NAME)] + resp.headers
            if resp.gzip:
                hdrs.append(("Content-Encoding", "gzip"))
                hdrs.append(("Vary", "Accept-Encoding"))
            chunked = False
            if plan.content_length is not None:
                hdrs.append(("Content-Length", str(plan.content_length)))
            elif version == "HTTP/1.1":
                hdrs.append(("Transfer-Encoding", "chunked"))
                chunked = True
            else:
                keep = False  # HTTP/1.0 without length: close-delimited
            hdrs.append(("Connection", "keep-alive" if keep else "close"))
            reason = REASONS.get(resp.status, "Status")
            head_out = (f"HTTP/1.1 {resp.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n").encode(
                "latin-1"
            )
            resp_head_len = len(head_out)
            t_first_mono = None
            if method == "HEAD":
                self.send(head_out)
                t_first_mono = now_mono_ns()
            elif not chunked and plan.content_length is not None and plan.content_length <= 65536 and resp.content is not None:
                self.send(head_out + b"".join(plan.pieces()))
                t_first_mono = now_mono_ns()
            else:
                self.send(head_out)
                t_first_mono = now_mono_ns()
                for p in plan.pieces():
                    if chunked:
                        self.send(b"%x\r\n" % len(p) + p + b"\r\n")
                    else:
                        self.send(p)
                if chunked:
                    self.send(b"0\r\n\r\n")
            resp_sha, resp_len = self.ex_out[0].hexdigest(), self.ex_out[1]
            self.ex_out = None
            rec = {
                "type": "exchange",
                "conn_id": self.cid,
                "seq": self.exchanges,
                "proto": "http/1.1",
                "peer": self.peer,
                "t_start": t0,
                "t_start_mono_ns": t0m,
                "t_head_mono_ns": t_head_mono,
                "t_request_done_mono_ns": t_req_mono,
                "t_first_byte_mono_ns": t_first_mono,
                "t_end_mono_ns": now_mono_ns(),
                "method": method,
                "path": req.path,
                "target": target,
                "http_version": version,
                "status": resp.status,
                "req_offset": in_off,
                "req_len": req_len,
                "req_sha256": req_sha,
                "req_head_len": len(head),
                "req_body_len": len(req.body),
                "req_body_sha256": hashlib.sha256(req.body).hexdigest(),
                "req_chunked": "chunked" in te,
                "resp_offset": out_off,
                "resp_len": resp_len,
                "resp_sha256": resp_sha,
                "resp_head_len": resp_head_len,
                "resp_chunked": chunked,
                "gzip": resp.gzip,
            }
            rec.update(plan.summary())
            rec.update(_log_headers(req))
            rec.update(resp.meta)
            self.exchanges += 1
            srv.log.write(rec)
            if not keep:
                raise ConnClosed("clean")

    def _keep_alive(self, req: Request) -> bool:
        conn = req.h.get("connection", "").lower()
        if req.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    def _h1_error(self, status, msg):
        body = jdump({"error": {"type": "bad_request", "message": msg}}).encode()
        self.send(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.server.log.write({"type": "protocol_error", "conn_id": self.cid, "status": status, "message": msg})
        raise ConnClosed(msg)


def _log_headers(req: Request) -> dict:
    sel = {}
    creds = {}
    for k, v in req.headers:
        lk = k.lower()
        if lk in CREDENTIAL_HEADERS:
            creds[lk] = credential_summary(v)
        elif lk in LOGGED_HEADERS:
            sel[lk] = v
    return {"headers": sel, "credentials": creds}


class StreamGone(Exception):
    pass


class H2Handler:
    def __init__(self, conn: Connection):
        self.c = conn
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8", validate_inbound_headers=False)
        self.h = h2.connection.H2Connection(config=cfg)
        self.streams: dict[int, dict] = {}
        self.ready: collections.deque = collections.deque()
        self.reset: set[int] = set()
        self.closed = False

    def flush(self):
        d = self.h.data_to_send()
        if d:
            self.c.send(d)

    def pump(self) -> bool:
        d = self.c._recv()
        if not d:
            return False
        try:
            events = self.h.receive_data(d)
        except h2.exceptions.ProtocolError as e:
            self.flush()
            raise ConnClosed(f"h2 protocol error: {e}")
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.streams[ev.stream_id] = {
                    "headers": list(ev.headers),
                    "body": bytearray(),
                    "t0": time.time(),
                    "t0m": now_mono_ns(),
                }
            elif isinstance(ev, h2.events.DataReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    st["body"] += ev.data
                self.h.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id not in self.ready:
                    self.ready.append(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                self.reset.add(ev.stream_id)
                self.streams.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        self.flush()
        return True

    def run(self):
        self.h.initiate_connection()
        self.flush()
        while not self.c.server.stop.is_set():
            while self.ready:
                sid = self.ready.popleft()
                if sid in self.streams:
                    self.respond(sid)
            if self.closed:
                raise ConnClosed("clean")
            if not self.pump():
                raise ConnClosed("clean")

    def send_data(self, sid: int, data: bytes):
        off = 0
        mv = memoryview(data)
        while off < len(data):
            if sid in self.reset:
                raise StreamGone()
            win = self.h.local_flow_control_window(sid)
            if win <= 0:
                if not self.pump():
                    raise ConnClosed("EOF while blocked on flow control")
                continue
            n = min(win, self.h.max_outbound_frame_size, len(data) - off)
            self.h.send_data(sid, bytes(mv[off : off + n]))
            off += n
            self.flush()

    def respond(self, sid: int):
        st = self.streams.pop(sid)
        hd = st["headers"]
        pseudo = {k: v for k, v in hd if k.startswith(":")}
        regular = [(k, v) for k, v in hd if not k.startswith(":")]
        if ":authority" in pseudo and not any(k == "host" for k, _ in regular):
            regular = [("host", pseudo[":authority"])] + regular
        body = bytes(st["body"])
        req = Request(pseudo.get(":method", "GET"), pseudo.get(":path", "/"), "HTTP/2", regular, body, "h2")
        req.conn_id, req.peer = self.c.cid, self.c.peer
        resp = self.c.server.handle(req)
        plan = BodyPlan(resp)
        hdrs = [(":status", str(resp.status)), ("server", SERVER_NAME)] + [(k.lower(), v) for k, v in resp.headers]
        if resp.gzip:
            hdrs += [("content-encoding", "gzip"), ("vary", "accept-encoding")]
        if plan.content_length is not None:
            hdrs.append(("content-length", str(plan.content_length)))
        t_first = None
        err = None
        try:
            if req.method == "HEAD":
                self.h.send_headers(sid, hdrs, end_stream=True)
                self.flush()
            else:
                self.h.send_headers(sid, hdrs)
                self.flush()
                t_first = now_mono_ns()
                for p in plan.pieces():
                    self.send_data(sid, p)
                self.h.end_stream(sid)
                self.flush()
        except (StreamGone, h2.exceptions.StreamClosedError):
            err = "stream reset by client"
        rec = {
            "type": "exchange",
            "conn_id": self.c.cid,
            "seq": self.c.exchanges,
            "proto": "h2",
            "stream_id": sid,
            "peer": self.c.peer,
            "t_start": st["t0"],
            "t_start_mono_ns": st["t0m"],
            "t_first_byte_mono_ns": t_first,
            "t_end_mono_ns": now_mono_ns(),
            "method": req.method,
            "path": req.path,
            "target": req.target,
            "http_version": "HTTP/2",
            "status": resp.status,
            "req_offset": None,
            "req_len": None,
            "req_sha256": None,
            "req_body_len": len(body),
            "req_body_sha256": hashlib.sha256(body).hexdigest(),
            "resp_offset": None,
            "resp_len": None,
            "resp_sha256": None,
            "gzip": resp.gzip,
            "error": err,
        }
        rec.update(plan.summary())
        rec.update(_log_headers(req))
        rec.update(resp.meta)
        self.c.exchanges += 1
        self.c.server.log.write(rec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = ephemeral, default)")
    ap.add_argument("--cert-dir", help="directory for cert.pem (trust anchor), server-chain.pem, server-key.pem "
                    "(default: a new temp dir). Existing valid certs are reused unless --new-cert")
    ap.add_argument("--new-cert", action="store_true", help="always generate fresh certificates")
    ap.add_argument("--cert-backend", choices=["auto", "cryptography", "openssl"], default="auto")
    ap.add_argument("--log", help="append JSONL records (exchange/connection/...) to this file")
    ap.add_argument("--dump-dir", help="write the raw plaintext of each connection to conn-<id>.in / conn-<id>.out")
    ap.add_argument("--script", help="JSON script file: endpoint -> list of turns (missing endpoints use the default)")
    ap.add_argument("--ready-file", help="also write the ready JSON line to this file (atomically)")
    ap.add_argument("--quiet-ready", action="store_true", help="with --ready-file, do not print the ready line to stdout")
    ap.add_argument("--alpn", help="comma-separated ALPN list (default: h2,http/1.1 if h2 is installed, else http/1.1)")
    ap.add_argument("--no-h2", action="store_true", help="offer only http/1.1 via ALPN")
    ap.add_argument("--stream-delay-ms", type=float, default=0.0, help="sleep between streamed pieces (default 0)")
    ap.add_argument("--idle-timeout", type=float, default=30.0, help="close idle connections after N s (default 30)")
    ap.add_argument("--handshake-timeout", type=float, default=10.0)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="exit after N s no matter what (0 = never; default 900)")
    ap.add_argument("--print-default-script", action="store_true", help="print the built-in script and exit")
    args = ap.parse_args(argv)
    if args.print_default_script:
        print(json.dumps(DEFAULT_SCRIPT, indent=2, ensure_ascii=False))
        return 0
    try:
        srv = MockServer(args)
    except (ScriptError, ValueError, OSError) as e:
        print(f"mock_llm: {type(e).__name__}: {e}", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        srv.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
