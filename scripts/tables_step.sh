#!/usr/bin/env bash
# Run one step of the life-cycle tables and record its wall time:
#   tables_step.sh TIMEDIR NAME COMMAND...   (writes TIMEDIR/NAME.s)
# The command's own output is what make wants; this only times it. A step
# that stops (metaopt stopped by a signal continues from its checkpoint)
# leaves the time it took in TIMEDIR/NAME.part, which the next run of the
# step adds to its own.
set -euo pipefail
dir=$1 name=$2
shift 2
mkdir -p "$dir"
before=$(cat "$dir/$name.part" 2> /dev/null || echo 0)
t0=$(date +%s.%N)
took() { awk -v p="$before" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", p + b - a }'; }
# A signal to the whole group reaches the command too: wait for it to stop,
# then keep the time.
trap 'st=143' TERM
trap 'st=130' INT
st=0
"$@" || st=$?
if [ "$st" -ne 0 ]; then
	took > "$dir/$name.part.tmp" && mv "$dir/$name.part.tmp" "$dir/$name.part"
	exit "$st"
fi
took > "$dir/$name.s.tmp"
mv "$dir/$name.s.tmp" "$dir/$name.s"
rm -f "$dir/$name.part"
