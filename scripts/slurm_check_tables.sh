#!/usr/bin/env bash
# make check-slurm-tables: the quick profile of the life-cycle tables
# (mk/tables.mk, its `tables-plan`) under a real single-node Slurm cluster
# on localhost (slurm_cluster.sh), run in a copy of the source tree so
# that the tables/ of the tree it is started from are never touched:
#   - no Slurm on PATH, a partition that does not exist: a message, exit
#     status 1, nothing submitted;
#   - the plan submitted, and one array task of a middle stage cancelled
#     while it runs: --wait-only names that cell as not made, exit 1, no
#     table;
#   - --resume submits exactly the cells not made (the cancelled one and
#     the stages after it), leaves every finished file as it was
#     (modification times), and the tables are made;
#   - table1.md-table3.md and the PNGs byte-identical to the ones the tree
#     carries in tables/quick (a local `make tables PROFILE=quick`; CI
#     makes them again and checks that they are unchanged);
#   - a cell that fails (the tables of a truncated model file): named with
#     its log, exit 1, the later stages cancelled, no table.
# At the end, the time and peak memory of each kind of cell, from the
# tasks' logs. The daemons are stopped by PID on every exit. Exit 77 when
# Slurm or munge is not installed (Debian: slurm-wlm munge).
#
#   scripts/slurm_check_tables.sh BUILDDIR
#
# BUILDDIR is make's build directory ($(B): bin/ with the programs, and
# tables_plot); the copy links it instead of building again.
# RML_SLURM_VICTIM=TARGET names the cell to cancel (default
# tables/quick/cells/attack-t2-c2.json).
set -euo pipefail
me=slurm_check_tables.sh
# shellcheck source=slurm_check_common.bash
. "$(dirname "$0")/slurm_check_common.bash"
case ${1:-} in -h | --help)
	slurm_check_help "$0"
	exit 0
	;;
esac
[ $# -eq 1 ] || { echo "$me: usage: $me BUILDDIR" >&2; exit 2; }
build=$(cd "$1" 2> /dev/null && pwd) || { echo "$me: no directory $1" >&2; exit 2; }
[ -x "$build/bin/rmlops-eval" ] && [ -x "$build/tables_plot" ] ||
	{ echo "$me: no programs or tables_plot in $build (make all $build/tables_plot first)" >&2; exit 2; }
ref=$(cd "$(dirname "$0")/.." && pwd)/tables/quick
ls "$ref"/table*.md > /dev/null 2>&1 || { echo "$me: no tables in $ref to compare with" >&2; exit 2; }

slurm_check_begin "$0" rmlops-slurm-tables munged slurmctld slurmd sbatch squeue scontrol scancel

# ---- the copy ----------------------------------------------------------------
# The sources as they are (edits not yet committed included), without
# builds, tables and work files; the build directory linked under its name.
src=$tmp/src
mkdir -p "$src"
(cd "$top" && tar -cf - --exclude=./.git --exclude='./build*' --exclude='./.b-*' --exclude=./work \
	--exclude=./tables --exclude=./demo-out .) | tar -C "$src" -xf -
bname=$(basename "$build")
rm -rf "${src:?}/$bname"
ln -s "$build" "$src/$bname"
TT=tables/quick
mk=(PROFILE=quick B="$bname")
make -s -C "$src" --no-print-directory "${mk[@]}" tables-plan > "$tmp/plan" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "make tables-plan failed in the copy"; }
n_plan=$(wc -l < "$tmp/plan")
[ "$n_plan" -gt 10 ] || die "the plan has $n_plan cells"
ok
victim=${RML_SLURM_VICTIM:-$TT/cells/attack-t2-c2.json}
k=$(awk -F'\t' -v t="$victim" '$2 == t { print $1 }' "$tmp/plan")
[ -n "$k" ] || die "$victim is not in the plan"
last_stage=$(tail -n 1 "$tmp/plan" | cut -f1)
[ "$k" -lt "$last_stage" ] || die "$victim is in the last stage"
say "the quick tables' plan: $n_plan cells in $last_stage stages"

# ---- without Slurm ------------------------------------------------------------
mkdir -p "$tmp/noslurm"
for c in bash sh printf echo dirname basename mkdir mktemp make cat sed grep cut sort uniq head tail tr wc \
	date rm ln id awk ls; do
	ln -s "$(type -P "$c")" "$tmp/noslurm/$c"
done
st=0
PATH=$tmp/noslurm run -C "$src" "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "without Slurm on PATH: exit $st, expected 1"
gq 'sbatch not found on PATH' "$tmp/err" || die "without Slurm: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] && [ ! -e "$src/work/slurm" ] || die "without Slurm: something submitted or recorded"
ok

# ---- the cluster ----------------------------------------------------------------
conf=$(bash "$here/slurm_cluster.sh" start "$cluster" 2 8000) || die "the cluster did not start"
eval "$conf"
export SLURM_CONF
export RML_SLURM_POLL=2
say "cluster up"

st=0
run -C "$src" -p nosuch "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] && gq "no partition 'nosuch'" "$tmp/err" || die "unknown partition: exit $st: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] && [ -z "$(squeue -h -o %i)" ] || die "unknown partition: something submitted"
ok

# ---- the plan, one task cancelled while it runs -----------------------------------
slurm=(--time 30 --mem 2G)
run -C "$src" "${slurm[@]}" "${mk[@]}" > "$tmp/jobs" 2> "$tmp/err" || { cat "$tmp/err" >&2; die "submission failed"; }
[ "$(awk -F'\t' '{ n += $3 } END { print n }' "$tmp/jobs")" -eq "$n_plan" ] ||
	die "not every cell was submitted: $(cat "$tmp/jobs")"
[ "$(wc -l < "$tmp/jobs")" -eq "$last_stage" ] || die "not one job per stage: $(cat "$tmp/jobs")"
ok
jid=$(awk -F'\t' -v k="$k" '$1 == k { print $2 }' "$src/work/slurm/last/jobs")
cells=$(awk -F'\t' -v k="$k" '$1 == k { print $3 }' "$src/work/slurm/last/jobs")
i=$(($(grep -nxF "$victim" "$cells" | cut -d: -f1) - 1))
task=${jid}_$i
log=$src/work/slurm/last/logs/s$k-$task.out
say "submitted; waiting for $victim (task $task, stage $k) to run"
for ((w = 0; w < 1800; w++)); do
	[ "$(squeue -h -j "$task" -o %T 2> /dev/null)" = RUNNING ] && [ -s "$log" ] && break
	[ -z "$(squeue -h -o %i)" ] && die "the queue emptied before $task ran: $(tail -n 5 "$src"/work/slurm/last/logs/*.out)"
	sleep 1
done
sleep 3  # into the cell's computation
[ "$(squeue -h -j "$task" -o %T 2> /dev/null)" = RUNNING ] && [ ! -e "$src/$victim" ] ||
	die "task $task was not running, or had finished, when it was to be cancelled"
scancel "$task"
say "task $task cancelled while running"
st=0
run -C "$src" --wait-only "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "after a cancelled task: exit $st, expected 1: $(cat "$tmp/err")"
gq -F "stage $k: $victim: not made" "$tmp/err" || die "the cancelled cell is not reported: $(cat "$tmp/err")"
gq 'no exit status in the log: the task was cancelled' "$tmp/err" || die "the cancelled task is not said to be: $(cat "$tmp/err")"
gq -E "stage $last_stage: not made, never run .* $TT/results.json\$" "$tmp/err" || die "the unmade table is not reported: $(cat "$tmp/err")"
[ ! -e "$src/$victim" ] && [ ! -e "$src/$TT/results.json" ] && ! ls "$src/$TT"/table* > /dev/null 2>&1 ||
	die "outputs after the cancelled task"
ok
# The cells not made: the cancelled one and every one of the later stages
# (each stage waits for the one before); all the others are there.
awk -F'\t' -v k="$k" -v t="$victim" '$1 > k || $2 == t { print $2 }' "$tmp/plan" | sort > "$tmp/expect"
while IFS=$'\t' read -r _ t; do [ -e "$src/$t" ] || echo "$t"; done < "$tmp/plan" | sort > "$tmp/missing"
cmp -s "$tmp/expect" "$tmp/missing" || die "the cells not made: $(diff "$tmp/expect" "$tmp/missing")"
n_missing=$(wc -l < "$tmp/missing")
ok
say "$((n_plan - n_missing)) cells made, $n_missing not"

# ---- --resume: only what is missing ----------------------------------------------
finished() { (cd "$src" && find "$TT" -type f ! -name '*.tmp' ! -path "$victim*" -printf '%p %T@\n' | sort); }
finished > "$tmp/before"
sleep 1.1  # a file made again would get a later modification time
run -C "$src" --resume --wait "${slurm[@]}" "${mk[@]}" > "$tmp/jobs2" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "--resume failed"; }
[ "$(awk -F'\t' '{ n += $3 } END { print n }' "$tmp/jobs2")" -eq "$n_missing" ] ||
	die "--resume submitted other than the $n_missing missing cells: $(cat "$tmp/jobs2")"
[ "$(cut -f1 "$tmp/jobs2" | head -n 1)" -eq "$k" ] || die "--resume started at another stage: $(cat "$tmp/jobs2")"
[ "$(find "$src/work/slurm/last/logs" -name '*.out' | wc -l)" -eq "$n_missing" ] || die "tasks that ran: $(ls "$src/work/slurm/last/logs")"
finished > "$tmp/after"
[ -z "$(comm -23 "$tmp/before" "$tmp/after")" ] ||
	die "--resume touched finished files: $(comm -23 "$tmp/before" "$tmp/after" | head -n 5)"
ok
say "--resume ran the $n_missing missing cells and nothing else"

# ---- the tables against the local run --------------------------------------------
(cd "$ref" && ls table*.md table*.png) > "$tmp/ref.files"
(cd "$src/$TT" && ls table*.md table*.png) > "$tmp/slurm.files"
cmp -s "$tmp/ref.files" "$tmp/slurm.files" || die "the tables made: $(diff "$tmp/ref.files" "$tmp/slurm.files")"
while IFS= read -r f; do
	cmp -s "$ref/$f" "$src/$TT/$f" || die "$f under Slurm differs from the one in tables/quick"
done < "$tmp/ref.files"
ok
say "$(wc -l < "$tmp/ref.files") table files byte-identical to tables/quick"

# The time and memory per kind of cell, from both submissions' logs.
find "$src/work/slurm" -path '*/logs/*.out' -exec cat {} + | awk -v tt="$TT/" '
	/slurm_cell.sh: .*: peak memory/ {
		t = $2; sub(":$", "", t); sub("^" tt, "", t)
		kind = t; sub("/.*", "/", kind)
		if (kind ~ /^cells/) { k2 = t; sub("^cells/", "", k2); sub("-.*", "", k2); kind = kind k2 }
		kb = $5; s = $7
		n[kind]++; sum[kind] += s; if (s > mx[kind]) mx[kind] = s; if (kb > mem[kind]) mem[kind] = kb
	}
	END { for (k in n) printf "%-22s %3d cells, mean %6.1f s, longest %6.1f s, peak %5.0f MB\n", k, n[k], sum[k] / n[k], mx[k], mem[k] / 1024 }' |
	sort | sed "s/^/$me: /" >&2

# ---- a cell that fails ------------------------------------------------------------------
# The tables of a truncated model, on the data already cut (copied with
# their times): the deployed model's cell fails, the rest is cancelled.
mkdir -p "$src/tables/broken"
cp -a "$src/$TT/data" "$src/tables/broken/"
head -c 4096 "$top/testdata/mvit-xxs-cifar10.rml" > "$src/broken.rml"
st=0
run -C "$src" --resume --wait --state "$src/work/slurm-broken" "${slurm[@]}" PROFILE=quick B="$bname" TT=tables/broken \
	MODEL=broken.rml > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "a failing cell: exit $st, expected 1: $(cat "$tmp/err")"
gq -E 'stage [0-9]+: tables/broken/models/c0-0.rml: not made .*log: ' "$tmp/err" &&
	gq -E '^    .*rmlops-train: .*broken.rml' "$tmp/err" || die "the failing cell is not reported with its log: $(cat "$tmp/err")"
gq -E 'not made, never run .* tables/broken/results.json$' "$tmp/err" || die "the unmade table is not reported: $(cat "$tmp/err")"
[ ! -e "$src/tables/broken/results.json" ] && ! ls "$src/tables/broken"/table* > /dev/null 2>&1 ||
	die "a table was made although a cell failed"
for ((w = 0; w < 30; w++)); do [ -z "$(squeue -h -o %i)" ] && break; sleep 1; done
[ -z "$(squeue -h -o %i)" ] || die "jobs left in the queue after a failed cell: $(squeue -h)"
ok
say "a failing cell reported, no table"

bash "$here/slurm_cluster.sh" stop "$cluster"
for p in "$cluster"/run/*.pid; do [ ! -e "$p" ] || die "$p left behind"; done
ok
echo "$me: $checks checks passed in $(($(date +%s) - t0)) s"
