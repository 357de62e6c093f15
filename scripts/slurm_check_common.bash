# shellcheck shell=bash disable=SC2034,SC2154
# The part that scripts/slurm_check.sh and scripts/slurm_check_tables.sh
# share, sourced by both (not a program): --help from the script's
# opening comment, the Slurm and munge programs checked (exit 77 when one
# is missing), a temporary directory with the cluster's place in it, the
# daemons stopped and the directory removed on every exit, and the small
# helpers of the checks. Before sourcing, set `me` (the script's name);
# then call slurm_check_begin SCRIPT TMPNAME PROGRAM... with SCRIPT the
# script's own path ($0). It sets here, top, t0, tmp and cluster.

checks=0
ok() { checks=$((checks + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
gq() { grep "$@" > /dev/null; }
run() { bash "$here/slurm_tables.sh" "$@"; }
say() { echo "$me: $* ($(($(date +%s) - t0)) s)" >&2; }

slurm_check_cleanup() {
	local st=$?
	if [ "$st" -ne 0 ] && [ -d "$cluster/log" ]; then
		echo "$me: the daemons' logs:" >&2
		tail -n 15 "$cluster"/log/slurmctld.log "$cluster"/log/slurmd.log >&2 2> /dev/null || true
	fi
	bash "$here/slurm_cluster.sh" stop "$cluster" 2> /dev/null || true
	rm -rf "$tmp"
	exit "$st"
}

# slurm_check_help SCRIPT: print SCRIPT's opening comment when asked.
slurm_check_help() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"
}

slurm_check_begin() {
	local script=$1 name=$2 c
	shift 2
	for c in "$@"; do
		if ! command -v "$c" > /dev/null; then
			echo "$me: SKIP: $c is not installed (Debian: apt-get install slurm-wlm munge)" >&2
			exit 77
		fi
	done
	here=$(cd "$(dirname "$script")" && pwd)
	top=$(dirname "$here")
	t0=$(date +%s)
	tmp=$(mktemp -d "/tmp/$name.XXXXXX")
	chmod 755 "$tmp"  # munged wants every directory above its socket open to all
	cluster=$tmp/cluster
	trap slurm_check_cleanup EXIT
	trap 'exit 1' INT TERM
}
