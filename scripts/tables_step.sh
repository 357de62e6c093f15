#!/usr/bin/env bash
# Run one step of the life-cycle tables and record its wall time:
#   tables_step.sh TIMEDIR NAME COMMAND...   (writes TIMEDIR/NAME.s)
# The command's own output is what make wants; this only times it.
set -euo pipefail
dir=$1 name=$2
shift 2
mkdir -p "$dir"
t0=$(date +%s.%N)
"$@"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' > "$dir/$name.s.tmp"
mv "$dir/$name.s.tmp" "$dir/$name.s"
