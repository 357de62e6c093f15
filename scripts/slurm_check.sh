#!/usr/bin/env bash
# make check-slurm: the plan of an experiment Makefile run under a real
# single-node Slurm cluster on localhost (slurm_cluster.sh: munged,
# slurmctld, slurmd from Debian's packages, everything in a temporary
# directory), against a local `make` of the same cells:
#   - the same files, byte for byte;
#   - a task killed mid-run, then --resume: only the missing cells are
#     submitted, the table is finished, no finished output is touched
#     (modification times unchanged);
#   - a task requeued mid-run (as on pre-emption) is run again by Slurm;
#   - no Slurm on PATH, an unknown partition, a bad plan, a failing cell:
#     a message and exit status 1, and no table.
# The daemons are stopped by PID on every exit. Exit 77 when Slurm or
# munge is not installed (Debian: slurm-wlm munge).
#
#   scripts/slurm_check.sh [BINDIR [MAKEFILE]]
#
# BINDIR holds the rmlops programs (default: from PATH). MAKEFILE is the
# experiment to run, with a `tables-plan` target (default: a small
# stand-in of three stages made here, on the data the repo carries).
set -euo pipefail
me=slurm_check.sh
# shellcheck source=slurm_check_common.bash
. "$(dirname "$0")/slurm_check_common.bash"
case ${1:-} in -h | --help)
	slurm_check_help "$0"
	exit 0
	;;
esac
bin=${1:-$(dirname "$(command -v rmlops-eval || echo ./rmlops-eval)")}
bin=$(cd "$bin" && pwd)
[ -x "$bin/rmlops-eval" ] || { echo "$me: no rmlops programs in $bin (make first)" >&2; exit 2; }

slurm_check_begin "$0" rmlops-slurm munged slurmctld slurmd sbatch squeue scontrol
td=${RML_TESTDATA:-$top/testdata}
secs() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

# ---- the experiment ---------------------------------------------------------
# The stand-in keeps the tables' contract: stage 1 cells depend on files
# only, stage 2 on stage 1 targets, stage 3 assembles. SLOW=TARGET makes
# that cell wait before it computes (to be killed mid-run); FAIL=TARGET
# makes it fail.
exp=$tmp/exp
mkdir -p "$exp"
if [ -n "${2:-}" ]; then
	cp "$2" "$exp/Makefile"
else
	cat > "$exp/Makefile" << 'EOF'
BIN ?= bin
TD ?= testdata
MODEL := $(TD)/mvit-xxs-cifar10.rml
N := 200
REP := 2
DATA := data/clean.rml data/noise.rml
RATES := 0.05 0.1
CELLS := $(foreach d,clean noise,$(foreach r,$(RATES),cells/$(d)-$(r).json))
SLOW_S := 60
hold = $(if $(filter $(1),$(SLOW)),sleep $(SLOW_S);)$(if $(filter $(1),$(FAIL)),exit 3;)

tables: table.md
tables-plan:
	@for t in $(DATA); do printf '1\t%s\n' $$t; done
	@for t in $(CELLS); do printf '2\t%s\n' $$t; done
	@printf '3\ttable.md\n'
bad-plan:
	@echo 'stage 1: data/clean.rml'

data/clean.rml: $(TD)/cifar10-test-1000.rml
	@mkdir -p data
	$(call hold,$@) $(BIN)/rmlops-data take -q --first $(N) -o $@ $<
data/noise.rml: $(TD)/cifar10-test-1000.rml
	@mkdir -p data
	$(call hold,$@) $(BIN)/rmlops-data take -q --first $(N) $< | \
	  $(BIN)/rmlops-data corrupt -q --type gaussian_noise --severity 3 -s 1 -o $@

define cell
cells/$(1)-$(2).json: data/$(1).rml $(MODEL)
	@mkdir -p cells
	$$(call hold,$$@) $(BIN)/rmlops-eval -m $(MODEL) -d data/$(1).rml --unit tensor \
	  --rate $(2) --repeat $(REP) -s 1 --json > $$@.tmp && mv $$@.tmp $$@
endef
$(foreach d,clean noise,$(foreach r,$(RATES),$(eval $(call cell,$(d),$(r)))))

table.md: $(CELLS)
	{ echo '| cell | acc1 |'; echo '|---|---|'; \
	  for f in $(CELLS); do \
	    printf '| %s | %s |\n' $$f "$$(sed 's/.*"acc1":{"mean":\([0-9.]*\).*/\1/' $$f)"; \
	  done; } > $@.tmp && mv $@.tmp $@

.PHONY: tables tables-plan bad-plan
.DELETE_ON_ERROR:
EOF
fi
mk=(BIN="$bin" TD="$td")

# outputs DIR: the files the plan makes, relative to DIR, sorted.
outputs() { (cd "$1" && { find data cells table.md -type f ! -name '*.tmp' 2> /dev/null || true; } | sort); }
same_tree() {
	local a=$1 b=$2 f
	[ "$(outputs "$a")" = "$(outputs "$b")" ] || die "$a and $b hold different files"
	for f in $(outputs "$a"); do
		cmp -s "$a/$f" "$b/$f" || die "$f differs between $a and $b"
	done
	ok
}
fresh() { rm -rf "$1"; mkdir -p "$1"; cp "$exp/Makefile" "$1/"; }
mtimes() { (cd "$1" && { find data cells table.md -type f ! -name '*.tmp' -printf '%p %T@\n' 2> /dev/null || true; } | sort); }

# ---- the local reference --------------------------------------------------
fresh "$tmp/local"
tl=$(date +%s%N)
make -s -C "$tmp/local" -j2 "${mk[@]}" tables 2> "$tmp/local.err" || { cat "$tmp/local.err" >&2; die "local make failed"; }
tl=$(secs "$tl")
[ -s "$tmp/local/table.md" ] || die "the local run made no table"
ok
say "local make -j2 tables: ${tl} s"

# ---- without Slurm ------------------------------------------------------------
# A PATH with the tools the script uses, and none of Slurm's.
mkdir -p "$tmp/noslurm"
for c in bash sh printf echo dirname basename mkdir mktemp make cat sed grep cut sort uniq head tail tr wc \
	date rm ln id awk ls; do
	ln -s "$(type -P "$c")" "$tmp/noslurm/$c"
done
st=0
PATH=$tmp/noslurm run -C "$exp" "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "without Slurm on PATH: exit $st, expected 1"
gq 'sbatch not found on PATH' "$tmp/err" || die "without Slurm: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || die "without Slurm: something on stdout"
ok
# A dry run needs no Slurm: the sbatch commands, each stage after the last.
PATH=$tmp/noslurm run -C "$exp" -n -p any "${mk[@]}" > "$tmp/out" 2> "$tmp/err" ||
	die "dry run: $(cat "$tmp/err")"
[ "$(grep -c '^sbatch ' "$tmp/err")" -eq 3 ] &&
	gq -e '--array=0-3 .*--dependency=afterok:DRYRUN1 ' "$tmp/err" &&
	gq -e '--array=0-0 .*--dependency=afterok:DRYRUN2 ' "$tmp/err" || die "dry run: $(cat "$tmp/err")"
ok
# A whole-node cell is a job of its own; the next stage waits for both.
PATH=$tmp/noslurm run -C "$exp" -n --whole-node 'cells/noise-0.*' "${mk[@]}" > "$tmp/out" 2> "$tmp/err" ||
	die "dry run: $(cat "$tmp/err")"
[ "$(grep -c '^sbatch ' "$tmp/err")" -eq 5 ] && [ "$(grep -c -e '--exclusive --mem=0' "$tmp/err")" -eq 2 ] &&
	gq -e '--array=0-1 .*--dependency=afterok:DRYRUN1 ' "$tmp/err" &&
	gq -e '--dependency=afterok:DRYRUN2:DRYRUN3:DRYRUN4 ' "$tmp/err" || die "--whole-node: $(cat "$tmp/err")"
ok

# ---- the cluster ----------------------------------------------------------------
conf=$(bash "$here/slurm_cluster.sh" start "$cluster" 2 4000) || die "the cluster did not start"
eval "$conf"
export SLURM_CONF
export RML_SLURM_POLL=1
say "cluster up"

# Bad configuration: each a message, exit 1, nothing submitted.
st=0
run -C "$exp" -p nosuch "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] && gq "no partition 'nosuch'" "$tmp/err" || die "unknown partition: exit $st: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || die "unknown partition: something on stdout"
ok
st=0
run -C "$exp" --plan bad-plan "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] && gq 'is not STAGE<TAB>TARGET' "$tmp/err" || die "bad plan: exit $st: $(cat "$tmp/err")"
ok
st=0
run -C "$exp" --cpus 0 > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 2 ] || die "--cpus 0: exit $st, expected 2"
ok
[ -z "$(squeue -h -o %i)" ] || die "a refused submission left jobs in the queue"
ok

# A failing cell: the run reports it with its log, the later stages are
# cancelled, no table.
fresh "$tmp/fail"
st=0
run -C "$tmp/fail" --wait "${mk[@]}" FAIL=cells/noise-0.05.json > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "a failing cell: exit $st, expected 1: $(cat "$tmp/err")"
gq -E 'stage 2: cells/noise-0.05.json: not made .*log: .*/logs/s2-[0-9]+_2.out' "$tmp/err" ||
	die "a failing cell is not reported with its log: $(cat "$tmp/err")"
gq -E 'stage 3: not made, never run .*: table.md$' "$tmp/err" || die "the unmade table is not reported: $(cat "$tmp/err")"
[ ! -e "$tmp/fail/table.md" ] || die "a table was made although a cell failed"
[ -e "$tmp/fail/cells/noise-0.1.json" ] || die "the cells beside the failing one were not made"
ok
say "refusals and a failing cell checked"

# ---- the plan under Slurm, against the local run -------------------------------------
fresh "$tmp/slurm"
ts=$(date +%s%N)
run -C "$tmp/slurm" --wait --time 10 --mem 400M "${mk[@]}" > "$tmp/jobs" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "the plan under Slurm failed"; }
ts=$(secs "$ts")
[ "$(cut -f1,3 "$tmp/jobs" | tr '\t\n' ':,')" = "1:2,2:4,3:1," ] || die "jobs printed: $(cat "$tmp/jobs")"
same_tree "$tmp/local" "$tmp/slurm"
gq -E 'slurm_cell.sh: cells/clean-0.1.json: exit status 0' "$tmp/slurm"/work/slurm/last/logs/s2-*_1.out ||
	die "no log of the cell"
ok
say "under Slurm: ${ts} s, the same files as the local run"
# The time and memory of each cell (the README quotes them).
grep -h 'peak memory' "$tmp/slurm"/work/slurm/last/logs/*.out | sed "s/^/$me: /" >&2 || true

st=0
run -C "$tmp/slurm" --status "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 0 ] && gq 'stage 2, job [0-9]*: 4 of 4 cells made' "$tmp/err" || die "--status: $(cat "$tmp/err")"
ok
# Again, everything up to date: --resume submits nothing.
st=0
run -C "$tmp/slurm" --resume "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 0 ] && [ ! -s "$tmp/out" ] && gq 'nothing submitted' "$tmp/err" ||
	die "resume of a finished run: exit $st: $(cat "$tmp/out" "$tmp/err")"
ok

# ---- a task killed mid-run, then --resume ---------------------------------------------
fresh "$tmp/kill"
run -C "$tmp/kill" "${mk[@]}" SLOW=cells/noise-0.1.json > "$tmp/jobs" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "submission failed"; }
j2=$(awk -F'\t' '$1 == 2 { print $2 }' "$tmp/jobs")
victim=${j2}_3
for ((i = 0; i < 120; i++)); do
	# The victim running and the other three cells of its stage made.
	[ "$(squeue -h -j "$victim" -o %T 2> /dev/null)" = RUNNING ] &&
		[ "$(ls "$tmp/kill/cells"/*.json 2> /dev/null | wc -l)" -eq 3 ] && break
	sleep 0.5
done
[ "$(squeue -h -j "$victim" -o %T)" = RUNNING ] || die "task $victim never ran"
scancel "$victim"
say "task $victim cancelled while running"
st=0
run -C "$tmp/kill" --wait-only "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "after a killed task: exit $st, expected 1"
gq 'stage 2: cells/noise-0.1.json: not made' "$tmp/err" || die "the killed cell is not reported: $(cat "$tmp/err")"
[ ! -e "$tmp/kill/cells/noise-0.1.json" ] && [ ! -e "$tmp/kill/table.md" ] || die "outputs of the killed task"
ok
mtimes "$tmp/kill" > "$tmp/before"
[ "$(wc -l < "$tmp/before")" -eq 5 ] || die "expected 5 finished outputs: $(cat "$tmp/before")"
sleep 1.1  # a recomputed file would get a later modification time
run -C "$tmp/kill" --resume --wait "${mk[@]}" > "$tmp/jobs" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "--resume failed"; }
[ "$(cut -f1,3 "$tmp/jobs" | tr '\t\n' ':,')" = "2:1,3:1," ] || die "--resume submitted: $(cat "$tmp/jobs")"
mtimes "$tmp/kill" > "$tmp/after"
[ -z "$(comm -23 "$tmp/before" "$tmp/after")" ] || die "--resume touched finished outputs: $(diff "$tmp/before" "$tmp/after")"
same_tree "$tmp/local" "$tmp/kill"
say "killed task resumed; only its cell and the table were made"

# ---- a task requeued mid-run (as when pre-empted) ------------------------------------
fresh "$tmp/requeue"
run -C "$tmp/requeue" "${mk[@]}" SLOW=data/clean.rml SLOW_S=3 > "$tmp/jobs" 2> "$tmp/err" ||
	{ cat "$tmp/err" >&2; die "submission failed"; }
j1=$(awk -F'\t' '$1 == 1 { print $2 }' "$tmp/jobs")
for ((i = 0; i < 60; i++)); do
	[ "$(squeue -h -j "${j1}_0" -o %T 2> /dev/null)" = RUNNING ] && break
	sleep 0.5
done
[ "$(squeue -h -j "${j1}_0" -o %T)" = RUNNING ] || die "task ${j1}_0 never ran"
sleep 1
scontrol requeue "${j1}_0"
# Slurm holds a requeued job back for two minutes once it is pending
# again; the test need not wait.
for ((i = 0; i < 60; i++)); do
	[ "$(squeue -h -j "${j1}_0" -o %T 2> /dev/null)" = PENDING ] && break
	sleep 0.5
done
# slurmd refuses to launch a job whose credential is not newer than its
# revocation at the requeue, and credentials carry whole seconds: started
# within the same second, the task was killed as "Job credential
# revoked" and the run failed. Let the clock pass the requeue's second.
sleep 2
scontrol update jobid="${j1}_0" StartTime=now
st=0
run -C "$tmp/requeue" --wait-only "${mk[@]}" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 0 ] || { cat "$tmp/err" >&2; die "after a requeued task: exit $st"; }
gq -E 'restart 1' "$tmp/requeue"/work/slurm/last/logs/s1-*_0.out || die "the requeued task did not run again"
same_tree "$tmp/local" "$tmp/requeue"
say "requeued task run again"

# ---- rmlops-metaopt as one job on all the CPUs it is given --------------------------
mo=$tmp/metaopt
mkdir -p "$mo"
d=$td/cifar10-test-1000.rml
"$bin"/rmlops-data take --per-class 12 "$d" -s 1 -q -o "$mo/tr.rml"
"$bin"/rmlops-data take --per-class 6 "$d" -s 2 -q -o "$mo/val.rml"
"$bin"/rmlops-train -d "$mo/tr.rml" --arch mvit-tiny --adapters 2 --epochs 1 --batch 20 -s 1 -q -o "$mo/m.rml"
margs=(-m m.rml -d tr.rml --val val.rml --pool 'fgsm,fault' --steps 3 --val-size 20 --impl 1
	--iterations 4 --heldout 1 --eval-every 2 --alpha 0.05 --beta 0.5 --sigma 0.05 -q)
(cd "$mo" && "$bin"/rmlops-metaopt "${margs[@]}" -j 1 -o local.rml)
RMLOPS_BIN=$bin sbatch --wait --chdir="$mo" --cpus-per-task=2 --output="$mo/job.out" \
	"$here/slurm_metaopt.sbatch" "${margs[@]}" -o slurm.rml > /dev/null ||
	{ cat "$mo/job.out" >&2; die "the metaopt job failed"; }
gq -e '-j 2, restart 0' "$mo/job.out" || die "the metaopt job did not use its 2 CPUs: $(cat "$mo/job.out")"
cmp -s <("$bin"/rmlops-info --digest "$mo/local.rml") <("$bin"/rmlops-info --digest "$mo/slurm.rml") ||
	die "metaopt under Slurm (-j 2) and locally (-j 1) differ"
ok
say "metaopt job: the same model as the local run"

bash "$here/slurm_cluster.sh" stop "$cluster"
for p in "$cluster"/run/*.pid; do [ ! -e "$p" ] || die "$p left behind"; done
ok
echo "$me: $checks checks passed in $(($(date +%s) - t0)) s"
