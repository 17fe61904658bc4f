#!/usr/bin/env python3
"""Runs tests/support/mock_llm.py (same arguments) with TCP_NODELAY on every accepted
socket, as production HTTP servers do. Without it the mock's small SSE writes meet the
client's delayed ACK (Nagle) and every streamed response stalls ~40 ms, which would turn
benches/tls_loop.sh into a sleep benchmark. The mock itself is not modified."""
import os
import runpy
import socket
import sys

_accept = socket.socket.accept


def accept(self):
    conn, addr = _accept(self)
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return conn, addr


socket.socket.accept = accept
mock = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "support", "mock_llm.py")
sys.argv[0] = mock
runpy.run_path(mock, run_name="__main__")
