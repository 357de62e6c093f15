#!/usr/bin/env bash
# One slice of a long life-cycle tables run (mk/tables.mk), for a machine
# that may not be there for the next slice:
#
#   scripts/tables_slice.sh SECONDS [MAKE-ARGUMENT...]
#   e.g. scripts/tables_slice.sh 7200 CIFAR10=work/cifar10-jpg
#
# 1. If the run's directory (TT, default tables/PROFILE) holds no run yet
#    and a carry is there (TCARRY, default tables/carry-PROFILE), restore
#    it (make tables-restore).
# 2. make -j2 tables for at most SECONDS; then SIGTERM to the whole run:
#    the cells keep their finished repetitions, metaopt its checkpoint.
# 3. Pack what the run holds into the carry (make tables-carry), to be
#    committed. When the tables are complete it says so; the carry may
#    then be removed.
#
# The same MAKE-ARGUMENTs (PROFILE, CIFAR10, MODEL...) every slice: paths
# are part of the files' provenance, so keep CIFAR10 where it was (a
# folder inside the checkout is the same on every machine). Each step's
# wall time is in TT/time/, each cell's in its JSON.
set -euo pipefail
me=tables_slice.sh
case ${1:-} in
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	exit 0
	;;
esac
secs=${1:?usage: $me SECONDS [MAKE-ARGUMENT...]}
shift
case $secs in '' | *[!0-9]*) echo "$me: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
# TT and TCARRY as the Makefile derives them from the arguments.
vars=$(make -s --no-print-directory "$@" -f Makefile -f - tables-slice-vars <<'EOF'
tables-slice-vars:
	@echo "$(TT)"; echo "$(TCARRY)"
EOF
)
tt=$(sed -n 1p <<<"$vars")
carry=$(sed -n 2p <<<"$vars")
held=$(find "$tt" -type f ! -path "$tt/data/*" 2> /dev/null | head -n 1 || true)
if [ -z "$held" ] && [ -f "$carry/manifest.json" ]; then
	echo "$me: restoring $carry into $tt" >&2
	make -s --no-print-directory "$@" tables-restore
fi
echo "$me: make tables for at most $secs s ($(date -u +%FT%TZ))" >&2
setsid make -j2 --no-print-directory "$@" tables &
leader=$!
flag=$(mktemp)
trap 'rm -f "$flag"' EXIT
(
	sleep "$secs"
	echo timeout > "$flag"
	kill -TERM -- "-$leader" 2> /dev/null
) &
timer=$!
st=0
wait "$leader" || st=$?
kill "$timer" 2> /dev/null || true
# The group's last processes (a cell's program finishing its repetition).
while pgrep -g "$leader" > /dev/null 2>&1; do sleep 1; done
if [ "$st" -eq 0 ]; then
	echo "$me: the tables are complete ($tt)" >&2
elif [ -s "$flag" ]; then
	echo "$me: stopped after $secs s; packing what the run holds" >&2
else
	echo "$me: make failed (status $st); packing what the run holds anyway" >&2
fi
make -s --no-print-directory "$@" tables-carry
echo "$me: commit $carry to continue on another machine" >&2
[ "$st" -eq 0 ] || [ -s "$flag" ]
