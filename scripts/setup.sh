#!/usr/bin/env bash
# Installs everything agentsight needs to build, record and run its tests on
# Debian/Ubuntu: the BPF toolchain, and the Python/Node clients the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages and the recorder needs root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
need_apt=0
for bin in clang llvm-strip bpftool pkg-config openssl curl make; do
  command -v "$bin" >/dev/null 2>&1 || need_apt=1
done
# chromium + chromium-driver: the report test opens report.html headless.
dpkg -s libelf-dev zlib1g-dev libssl-dev gcc binutils chromium chromium-driver >/dev/null 2>&1 || need_apt=1
if [ "$need_apt" = 1 ]; then
  # Downloaded packages are kept under /root/.cache so a rerun is offline-fast.
  mkdir -p /root/.cache/apt-archives/partial
  apt_cache=(-o Dir::Cache::Archives=/root/.cache/apt-archives -o APT::Keep-Downloaded-Packages=true)
  apt-get update -qq
  apt-get install -y -qq "${apt_cache[@]}" clang llvm libelf-dev zlib1g-dev pkg-config bpftool make openssl curl \
    libssl-dev gcc binutils chromium chromium-driver >/dev/null
fi
command -v cargo >/dev/null || { echo "setup.sh: install Rust (rustup) first" >&2; exit 1; }
if [ -f tests/requirements-test.txt ]; then
  python3 -m pip install -q --disable-pip-version-check -r tests/requirements-test.txt 2>&1 | grep -v 'Running pip as the' || true
fi
if [ -f tests/clients/package.json ]; then
  (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# Real agent CLIs for the end-to-end tests, cached outside the tree (npm's
# own cache makes a reinstall offline-fast).
agents=/root/.cache/agentsight-agents
install_agent() { # DIR PACKAGE@VERSION FILE-IT-PROVIDES
  if [ ! -f "$agents/$1/node_modules/$3" ] && command -v npm >/dev/null; then
    mkdir -p "$agents/$1"
    npm install --prefix "$agents/$1" --no-audit --no-fund --loglevel=error "$2" >/dev/null
  fi
}
install_agent claude-2.1.112 @anthropic-ai/claude-code@2.1.112 @anthropic-ai/claude-code/cli.js
install_agent gemini-0.61.0 @google/gemini-cli@0.61.0 @google/gemini-cli/bundle/gemini.js
install_agent qwen-0.24.4 @qwen-code/qwen-code@0.24.4 @qwen-code/qwen-code/cli-entry.js
# Binaries that carry their TLS library without symbols (BoringSSL in Bun and
# Claude Code's native build, OpenSSL 3 in Codex), two releases of the first
# two: the recorder must locate every one with the same code.
install_agent claude-native-2.1.336 @anthropic-ai/claude-code-linux-x64@2.1.336 @anthropic-ai/claude-code-linux-x64/claude
install_agent claude-native-2.1.237 @anthropic-ai/claude-code-linux-x64@2.1.237 @anthropic-ai/claude-code-linux-x64/claude
install_agent bun-1.4.5 @oven/bun-linux-x64@1.4.5 @oven/bun-linux-x64/bin/bun
install_agent bun-1.1.30 @oven/bun-linux-x64@1.1.30 @oven/bun-linux-x64/bin/bun
install_agent codex-0.171.0 @openai/codex@0.171.0-linux-x64 @openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex
# Syscall tracepoints live in tracefs; BPF links do not need bpffs.
[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
