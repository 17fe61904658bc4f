#!/usr/bin/env bash
# Discovery time of the TLS data functions in stripped static binaries (issue 17): cold
# (analysis, empty cache) and cached (lookup of the result), median of RUNS, on the agent
# binaries scripts/setup.sh installs. Release build of the tls-targets crate (~1 min the first time).
#   benches/tls_locate.sh            # RUNS=5
set -euo pipefail
cd "$(dirname "$0")/.."
a=/root/.cache/agentsight-agents
bins=()
for b in "$a/claude-native-2.1.336/node_modules/@anthropic-ai/claude-code-linux-x64/claude" \
         "$a/claude-native-2.1.237/node_modules/@anthropic-ai/claude-code-linux-x64/claude" \
         "$a/bun-1.4.5/node_modules/@oven/bun-linux-x64/bin/bun" \
         "$a/bun-1.1.30/node_modules/@oven/bun-linux-x64/bin/bun" \
         "$a/codex-0.171.0/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex"; do
  [ -f "$b" ] && bins+=("$b")
done
[ ${#bins[@]} -gt 0 ] || { echo "tls_locate.sh: no agent binaries (run scripts/setup.sh)" >&2; exit 1; }
echo "# tls_locate: $(nproc) CPUs, $(uname -r)"
cargo run --quiet --release -p agentsight-tls-targets --example locate -- --runs "${RUNS:-5}" "${bins[@]}"
