# Sourced by the benchmark scripts: root, and the recorder binary in $AGENTSIGHT_BIN (default: the
# dev build in $CARGO_TARGET_DIR or target/). Needs $here (the benches directory) and the
# script's name as $1.
[ "$(id -u)" = 0 ] || { echo "$1: needs root (eBPF)" >&2; exit 1; }
: "${AGENTSIGHT_BIN:=${CARGO_TARGET_DIR:-$here/../target}/debug/agentsight}"
export AGENTSIGHT_BIN
[ -x "$AGENTSIGHT_BIN" ] || { echo "$1: no recorder at $AGENTSIGHT_BIN (set AGENTSIGHT_BIN)" >&2; exit 1; }
