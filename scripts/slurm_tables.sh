#!/usr/bin/env bash
# Run a Makefile's experiment plan on a Slurm cluster: one job array per
# stage, one array task per cell, each stage after the previous one
# succeeded (--dependency=afterok). The plan is what `make -s PLAN` prints,
# one line per cell, STAGE<TAB>TARGET, where a target of stage k depends
# only on files and on targets of earlier stages; every task runs
# `make TARGET` in the directory all nodes share, so the files and results
# are those of a local `make`, and the Makefile decides what is up to date.
# Not a scheduler: Slurm schedules, make decides, this only submits,
# waits and reports.
set -euo pipefail
me=slurm_tables.sh
here=$(cd "$(dirname "$0")" && pwd)

usage() {
	cat << 'EOF'
Usage: slurm_tables.sh [OPTIONS] [VAR=VALUE...]
       slurm_tables.sh --status|--wait-only [-C DIR] [--state DIR] [VAR=VALUE...]
Submit the cells of `make -s tables-plan` as Slurm job arrays, one per
stage, each stage after the previous one succeeded; print one line per
job (STAGE, JOBID, number of cells) on standard output.
VAR=VALUE arguments are passed to every make (the plan and each cell),
e.g. PROFILE=quick.

Plan and files:
  -C, --directory DIR   the Makefile's directory, shared by every node (.)
  -f, --makefile FILE   the Makefile (make's default)
      --plan TARGET     the target that prints the plan (tables-plan)
      --state DIR       job lists and logs (DIR/work/slurm)
Slurm:
  -p, --partition P     partition (the cluster's default)
  -t, --time T          time limit of each cell (sbatch --time)
      --mem M           memory of each cell (sbatch --mem, e.g. 2G)
  -c, --cpus N          CPUs of each cell (1)
      --max-running N   at most N tasks of a stage at once (--array %N)
      --whole-node GLOB cells whose target matches GLOB run alone on a node
                        with all its CPUs and memory (repeatable)
      --whole-node-time T  their time limit (the --time of the cells)
      --sbatch-arg ARG  one more sbatch argument, e.g. --account=x (repeatable)
Modes:
      --resume          submit only the cells whose targets are not up to
                        date (`make -q`): nothing finished is recomputed
      --wait            wait for the jobs; report every cell left unmade
                        with its log; exit 1 unless every cell is made
      --wait-only       wait for the last submission without submitting
      --status          the cells of the last submission: made or not, the
                        jobs still queued, the logs of the unmade cells
  -n, --dry-run         print the sbatch commands, submit nothing
  -h, --help
Every task is submitted with --requeue (a pre-empted or failed node puts
it back in the queue) and --kill-on-invalid-dep=yes (the stages after a
failed one are cancelled, not left pending). Exit status: 0 success,
1 failure (no Slurm, an unknown partition, a bad plan, a cell not made),
2 usage.
EOF
}

die() { echo "$me: $*" >&2; exit 1; }
usage_error() { echo "$me: $*" >&2; echo "Try '$me --help'." >&2; exit 2; }

dir=. makefile="" plan=tables-plan state="" partition="" time_limit="" mem="" cpus=1
max_running="" whole_time="" mode=submit resume=0 wait=0 dry=0
whole=() sbargs=() vars=()
need_arg() { [ $# -ge 2 ] || usage_error "option $1 needs an argument"; }
while [ $# -gt 0 ]; do
	case $1 in
	-C | --directory) need_arg "$@"; dir=$2; shift 2 ;;
	-f | --makefile) need_arg "$@"; makefile=$2; shift 2 ;;
	--plan) need_arg "$@"; plan=$2; shift 2 ;;
	--state) need_arg "$@"; state=$2; shift 2 ;;
	-p | --partition) need_arg "$@"; partition=$2; shift 2 ;;
	-t | --time) need_arg "$@"; time_limit=$2; shift 2 ;;
	--mem) need_arg "$@"; mem=$2; shift 2 ;;
	-c | --cpus) need_arg "$@"; cpus=$2; shift 2 ;;
	--max-running) need_arg "$@"; max_running=$2; shift 2 ;;
	--whole-node) need_arg "$@"; whole+=("$2"); shift 2 ;;
	--whole-node-time) need_arg "$@"; whole_time=$2; shift 2 ;;
	--sbatch-arg) need_arg "$@"; sbargs+=("$2"); shift 2 ;;
	--resume) resume=1; shift ;;
	--wait) wait=1; shift ;;
	--wait-only) mode='wait-only'; shift ;;
	--status) mode=status; shift ;;
	-n | --dry-run) dry=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) usage_error "unknown option $1" ;;
	*=*) vars+=("$1"); shift ;;
	*) usage_error "unexpected argument '$1' (make variables are given as VAR=VALUE)" ;;
	esac
done
[ $# -eq 0 ] || usage_error "unexpected argument '$1'"
[[ $cpus =~ ^[1-9][0-9]*$ ]] || usage_error "--cpus wants a positive whole number, not '$cpus'"
[ -z "$max_running" ] || [[ $max_running =~ ^[1-9][0-9]*$ ]] ||
	usage_error "--max-running wants a positive whole number, not '$max_running'"
[ -d "$dir" ] || die "no directory $dir"
dir=$(cd "$dir" && pwd)
[ -n "$state" ] || state=$dir/work/slurm
[[ $state == /* ]] || state=$PWD/$state
mk=(make --no-print-directory -C "$dir")
[ -z "$makefile" ] || mk+=(-f "$makefile")
mk+=("${vars[@]}")

# Slurm must be there (except to look at what a dry run would submit).
if [ "$dry" = 0 ]; then
	for c in sbatch squeue sinfo scancel; do
		command -v "$c" > /dev/null ||
			die "$c not found on PATH: run this on a host of the Slurm cluster (Debian: slurm-client)"
	done
	err=$(sinfo -h -o '%P' 2>&1 > /dev/null) ||
		die "sinfo cannot reach the Slurm controller: ${err:-no message}"
	if [ -n "$partition" ] && [ -z "$(sinfo -h -p "$partition" -o '%P' 2> /dev/null)" ]; then
		die "no partition '$partition' on this cluster (it has: $(sinfo -h -o '%P' | tr '\n' ' '| sed 's/ $//'))"
	fi
fi

# ---- the last submission: STAGE JOBID CELLS-FILE per line --------------
last=$state/last
jobs_of_last() { [ -f "$last/jobs" ] && cut -f2 "$last/jobs" | tr '\n' ' '; return 0; }

# queued JOBID...: "JOBID_TASK STATE REASON" of every array task of these
# jobs still in the queue (pending, running, completing, requeued...).
# A controller that does not answer is asked again for a minute: an empty
# answer must mean an empty queue.
queued() {
	[ $# -gt 0 ] || return 0
	local re out i
	re="^($(IFS='|'; echo "$*"))(_|\\b)"
	for ((i = 0; ; i++)); do
		out=$(squeue -h -r -u "$(id -un)" -o '%i %T %r' 2>&1) && break
		[ "$i" -lt 12 ] || die "squeue failed: $out"
		sleep 5
	done
	grep -E "$re" <<< "$out" || true
}
# waiting_only LINES: every queued task waits for a dependency that failed.
waiting_only() { [ "$(grep -vc 'DependencyNeverSatisfied' <<< "$1")" -eq 0 ]; }

# log_tail LOG: the last lines of a task's log that say what went wrong
# (make's own lines, GNU time's and slurm_cell.sh's bookkeeping left out),
# then how the task ended; indented, each at most 300 characters.
log_tail() {
	local end
	end=$(grep -E '^slurm_cell\.sh: .*: exit status ' "$1" | tail -n 1 || true)
	[ -n "$end" ] || end="(no exit status in the log: the task was cancelled, or killed with its node)"
	{
		grep -Ev '^(make(\[[0-9]+\])?: |Command exited with |Command terminated by |slurm_cell\.sh: )' "$1" | tail -n 3 || true
		echo "$end"
	} | cut -c1-300 | sed 's/^/    /' >&2
}

# report: every cell of the last submission, made or not. An unmade cell
# whose task ran is named with its log and the log's last lines; the cells
# of a stage that never ran (cancelled because a cell they wait for was
# not made) are named on one line per stage. Returns 1 when a cell is not
# made.
report() {
	local verbose=$1 stage jid cells i target st n_made n log q never total=0 unmade=0
	while IFS=$'\t' read -r stage jid cells; do
		n=0 n_made=0 i=0 never=""
		while IFS= read -r target; do
			n=$((n + 1))
			st=0
			"${mk[@]}" -q "$target" < /dev/null > /dev/null 2>&1 || st=$?
			if [ "$st" -eq 0 ]; then
				n_made=$((n_made + 1))
			else
				log=$last/logs/s$stage-${jid}_$i.out
				q=$(queued "$jid" | grep -E "^${jid}_${i} " | cut -d' ' -f2- || true)
				if [ -n "$q" ]; then
					[ "$verbose" = 1 ] && echo "$me: stage $stage: $target: queued ($q), log $log" >&2
				elif [ -e "$log" ]; then
					echo "$me: stage $stage: $target: not made (job ${jid}_$i); log: $log" >&2
					log_tail "$log"
				else
					never+=" $target"
				fi
			fi
			i=$((i + 1))
		done < "$cells"
		[ -z "$never" ] ||
			echo "$me: stage $stage: not made, never run (a cell they wait for was not made):$never" >&2
		echo "$me: stage $stage, job $jid: $n_made of $n cells made" >&2
		total=$((total + n))
		unmade=$((unmade + n - n_made))
	done < "$last/jobs"
	[ "$unmade" -gt 0 ] || return 0
	echo "$me: $unmade of the $total cells submitted are not made" >&2
	return 1
}

# wait_jobs: until none of the last submission's tasks is queued, or the
# only ones left wait for a dependency that can no longer be satisfied
# (those are cancelled: they would never run).
wait_jobs() {
	local ids q left prev="" poll=${RML_SLURM_POLL:-10}
	read -r -a ids <<< "$(jobs_of_last)"
	echo "$me: waiting for jobs ${ids[*]}" >&2
	while :; do
		q=$(queued "${ids[@]}")
		[ -n "$q" ] || break
		if waiting_only "$q"; then
			echo "$me: cancelling the tasks whose dependencies failed:" \
				"$(cut -d' ' -f1 <<< "$q" | tr '\n' ' ')" >&2
			scancel "${ids[@]}" 2> /dev/null || true
			break
		fi
		left=$(wc -l <<< "$q")
		[ "$left" = "$prev" ] || echo "$me: $left tasks queued or running" >&2
		prev=$left
		sleep "$poll"
	done
}

if [ "$mode" != submit ]; then
	[ -f "$last/jobs" ] || die "no submission recorded in $state"
	[ "$mode" = status ] || wait_jobs
	if report 1; then
		echo "$me: every cell is made" >&2
		exit 0
	fi
	exit 1
fi

# ---- the plan ----------------------------------------------------------
planfile=$(mktemp)
trap 'rm -f "$planfile"' EXIT
if ! "${mk[@]}" -s "$plan" > "$planfile" 2> "$planfile.err"; then
	cat "$planfile.err" >&2
	rm -f "$planfile.err"
	die "'make $plan' failed in $dir"
fi
rm -f "$planfile.err"
n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	[[ $line =~ ^[0-9]+$'\t'[^[:space:]]+$ ]] ||
		die "line $n of the plan ('make $plan') is not STAGE<TAB>TARGET: '$line'"
done < "$planfile"
[ "$n" -gt 0 ] || die "'make $plan' printed no cells"
stages=$(cut -f1 "$planfile" | sort -n -u)
dup=$(cut -f2 "$planfile" | sort | uniq -d | head -n 1)
[ -z "$dup" ] || die "the plan names $dup twice"

# A new submission while the last one still runs would run make twice on
# the same targets at once; tasks that wait for a failed dependency would
# never run, and are cancelled.
if [ "$dry" = 0 ] && [ -f "$last/jobs" ]; then
	read -r -a old <<< "$(jobs_of_last)"
	q=$(queued "${old[@]}")
	if [ -n "$q" ]; then
		if ! waiting_only "$q"; then
			die "jobs of the last submission are still queued or running ($(cut -d' ' -f1 <<< "$q" | head -n 5 | tr '\n' ' ')...): wait for them (--wait-only) or scancel ${old[*]}"
		fi
		scancel "${old[@]}" 2> /dev/null || true
	fi
fi

sub=$state/$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$sub/logs" 2> /dev/null || die "cannot make $sub"
submitted=()
cancel_submitted() {
	[ ${#submitted[@]} -eq 0 ] || [ "$dry" = 1 ] || scancel "${submitted[@]}" 2> /dev/null || true
}

# sb ARGS...: sbatch, the job id on stdout.
sb() {
	if [ "$dry" = 1 ]; then
		printf '%q ' sbatch "$@" >&2
		echo >&2
		echo "DRYRUN$((${#submitted[@]} + 1))"
		return
	fi
	local out
	if ! out=$(sbatch --parsable "$@" 2>&1); then
		echo "$out" >&2
		cancel_submitted
		die "sbatch failed; the jobs of this submission were cancelled"
	fi
	echo "${out%%;*}"
}

is_whole() {
	local g
	for g in "${whole[@]}"; do
		# shellcheck disable=SC2053
		[[ $1 == $g ]] && return 0
	done
	return 1
}

common=(--chdir="$dir" --open-mode=append --requeue --kill-on-invalid-dep=yes)
[ -z "$partition" ] || common+=(--partition="$partition")
common+=("${sbargs[@]}")
dep="" n_sub=0 n_skip=0
: > "$sub/jobs"
for k in $stages; do
	: > "$sub/s$k.cells"
	: > "$sub/s$k.whole"
	while IFS=$'\t' read -r s target; do
		[ "$s" = "$k" ] || continue
		if [ "$resume" = 1 ]; then
			st=0
			"${mk[@]}" -q "$target" < /dev/null > /dev/null 2> "$sub/q.err" || st=$?
			if [ "$st" -eq 0 ]; then
				n_skip=$((n_skip + 1))
				continue
			fi
			[ "$st" -eq 1 ] || { cat "$sub/q.err" >&2; die "'make -q $target' failed (status $st)"; }
		fi
		if [ ${#whole[@]} -gt 0 ] && is_whole "$target"; then
			echo "$target" >> "$sub/s$k.whole"
		else
			echo "$target" >> "$sub/s$k.cells"
		fi
	done < "$planfile"
	rm -f "$sub/q.err"
	ids=()
	n_cells=$(wc -l < "$sub/s$k.cells")
	if [ "$n_cells" -gt 0 ]; then
		a=(--job-name="rml-s$k" --array="0-$((n_cells - 1))${max_running:+%$max_running}"
			--cpus-per-task="$cpus" --output="$sub/logs/s$k-%A_%a.out")
		[ -z "$time_limit" ] || a+=(--time="$time_limit")
		[ -z "$mem" ] || a+=(--mem="$mem")
		[ -z "$dep" ] || a+=(--dependency="afterok:$dep")
		id=$(sb "${common[@]}" "${a[@]}" "$here/slurm_cell.sh" "$sub/s$k.cells" "${vars[@]}")
		submitted+=("$id")
		ids+=("$id")
		printf '%s\t%s\t%s\n' "$k" "$id" "$sub/s$k.cells" >> "$sub/jobs"
		printf '%s\t%s\t%s\n' "$k" "$id" "$n_cells"
	fi
	# A whole-node cell is an array of one, so that its log and the report
	# are like every other cell's.
	j=0
	while IFS= read -r target; do
		j=$((j + 1))
		echo "$target" > "$sub/s$k.w$j.cells"
		a=(--job-name="rml-s$k-w$j" --array=0-0 --nodes=1 --exclusive --mem=0
			--output="$sub/logs/s$k-%A_%a.out")
		t=${whole_time:-$time_limit}
		[ -z "$t" ] || a+=(--time="$t")
		[ -z "$dep" ] || a+=(--dependency="afterok:$dep")
		id=$(sb "${common[@]}" "${a[@]}" "$here/slurm_cell.sh" "$sub/s$k.w$j.cells" "${vars[@]}")
		submitted+=("$id")
		ids+=("$id")
		printf '%s\t%s\t%s\n' "$k" "$id" "$sub/s$k.w$j.cells" >> "$sub/jobs"
		printf '%s\t%s\t%s\n' "$k" "$id" 1
	done < "$sub/s$k.whole"
	rm -f "$sub/s$k.whole"
	n_sub=$((n_sub + n_cells + j))
	[ ${#ids[@]} -eq 0 ] || dep=$(IFS=:; echo "${ids[*]}")
done

if [ "$n_sub" -eq 0 ]; then
	rm -rf "$sub"
	echo "$me: every cell is up to date ($n_skip); nothing submitted" >&2
	exit 0
fi
if [ "$dry" = 1 ]; then
	rm -rf "$sub"
	exit 0
fi
ln -sfn "$(basename "$sub")" "$last"
skipped=""
[ "$resume" = 0 ] || skipped=", $n_skip up to date and left alone"
echo "$me: $n_sub cells submitted$skipped; logs in $sub/logs" >&2
[ "$wait" = 1 ] || exit 0
wait_jobs
if report 0; then
	echo "$me: every cell is made" >&2
	exit 0
fi
exit 1
