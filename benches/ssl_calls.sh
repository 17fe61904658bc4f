#!/usr/bin/env bash
# Added cost per SSL call, without sockets or a server: python's SSLObject over memory BIOs calls
# SSL_write_ex/SSL_read_ex in a loop (100-byte messages), bare and under `agentsight record`.
#   sudo AGENTSIGHT_BIN=<build> benches/ssl_calls.sh        # needs root, openssl CLI; ~1 min
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/prelude.sh" ssl_calls.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
run() { python3 "$here/ssl_calls.py" "$work/cert.pem" "$work/key.pem" 200000; }
for i in 1 2 3; do
    echo "bare:     $(run)"
    echo "recorded: $("$AGENTSIGHT_BIN" record -q -o "$work/cap$i" -- python3 "$here/ssl_calls.py" "$work/cert.pem" "$work/key.pem" 200000)"
    rm -rf "$work/cap$i"
done
