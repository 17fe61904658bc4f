# Sourced by the analyzer benchmark scripts (no root needed). Needs $RUNS.
# measure LABEL CMD...: one Markdown table row with the median wall time and
# peak RSS over $RUNS runs of CMD (stdout discarded).
measure() {
  local label="$1"; shift
  local times=() rss=()
  for _ in $(seq "$RUNS"); do
    local out
    out=$( { /usr/bin/time -f '%e %M' "$@" >/dev/null; } 2>&1 | tail -1)
    times+=("${out% *}"); rss+=("${out#* }")
  done
  local t m
  t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  m=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '| %s | %s s | %d MB |\n' "$label" "$t" "$(( m / 1024 ))"
}
