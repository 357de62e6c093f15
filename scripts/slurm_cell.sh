#!/usr/bin/env bash
# One cell of an experiment plan, as one task of a Slurm job array
# (slurm_tables.sh submits it; it is not meant to be run by hand):
#
#   sbatch --array=0-N --chdir=DIR slurm_cell.sh CELLS [MAKE-ARGUMENT...]
#
# runs `make MAKE-ARGUMENT... TARGET` in the job's directory, TARGET being
# line SLURM_ARRAY_TASK_ID+1 of the file CELLS. The Makefile decides what
# is done: a target already up to date costs nothing, so a requeued or
# resubmitted task recomputes only what is missing. The log tells the
# node, the CPUs the task may use, the restart count, and at the end the
# exit status, wall time and (where GNU time exists) the peak memory.
set -u
me=slurm_cell.sh
case ${1:-} in -h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	exit 0
	;;
esac
[ $# -ge 1 ] || { echo "$me: usage: $me CELLS [MAKE-ARGUMENT...]" >&2; exit 2; }
cells=$1
shift
i=${SLURM_ARRAY_TASK_ID:-}
[ -n "$i" ] || { echo "$me: not a task of a job array (no SLURM_ARRAY_TASK_ID)" >&2; exit 2; }
target=$(sed -n "$((i + 1))p" "$cells" 2> /dev/null)
[ -n "$target" ] || { echo "$me: no cell on line $((i + 1)) of $cells" >&2; exit 1; }
t0=$(date +%s)
echo "$me: $target: job ${SLURM_ARRAY_JOB_ID:-?}_$i on $(hostname -s), $(nproc) CPUs," \
	"restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
st=0
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f "$me: $target: peak memory %M kB, %e s" make "$@" "$target" || st=$?
else
	make "$@" "$target" || st=$?
fi
echo "$me: $target: exit status $st after $(($(date +%s) - t0)) s"
exit "$st"
