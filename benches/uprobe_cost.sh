#!/usr/bin/env bash
# What a uprobe costs depending on the probed instruction (why recorder/probe_sites.rs exists).
#   sudo benches/uprobe_cost.sh        # needs root, gcc, tracefs; ~10 s
# Times five tiny functions bare, with an entry uprobe on each, then also with a return probe
# (plain tracefs uprobe events: no BPF, so this is the kernel's trap cost alone).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "uprobe_cost.sh: needs root" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
tracefs=/sys/kernel/tracing
[ -d $tracefs/events ] || mount -t tracefs tracefs $tracefs
events=()
# The events would also be written to the trace buffer: switch that off for the measurement.
tracing_was=$(cat $tracefs/tracing_on)
echo 0 > $tracefs/tracing_on
cleanup() {
    echo "$tracing_was" > $tracefs/tracing_on
    for e in "${events[@]}"; do
        echo 0 > "$tracefs/events/uprobes/$e/enable" 2>/dev/null || true
        echo "-:uprobes/$e" >> $tracefs/uprobe_events 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O1 -no-pie -o "$work/uprobe_cost" "$here/uprobe_cost.c"
bin="$work/uprobe_cost"
base=$(readelf -lW "$bin" | awk '$1 == "LOAD" { print $3; exit }')
probe() { # kind(p|r) function
    local addr off name
    addr=$(nm "$bin" | awk -v f="$2" '$3 == f { print $1 }')
    off=$(printf '0x%x' $((0x$addr - base)))
    name="agentsight_cost_$1_$2"
    echo "$1:$name $bin:$off" >> $tracefs/uprobe_events
    echo 1 > "$tracefs/events/uprobes/$name/enable"
    events+=("$name")
}
uname -r
echo "## bare";  "$bin"
for f in first_sub first_push first_push_r13 first_endbr64 first_call; do probe p $f; done
echo "## entry uprobe"; "$bin"
for f in first_sub first_push first_push_r13 first_endbr64 first_call; do probe r $f; done
echo "## entry uprobe + return probe"; "$bin"
