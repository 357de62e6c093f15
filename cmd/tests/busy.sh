#!/usr/bin/env bash
# Sharing the cores: with a busy loop on one of two CPUs, rmlops-eval at -j2
# finishes within 1.3x of its -j1 time. Threads that spin at the end of every
# parallel region (libgomp's default wait) made it several times slower.
# The process and the loop are pinned to the same two CPUs, so the test
# means the same on any machine with two or more; the median of five runs
# each, alternating, keeps other work on the machine from deciding it.
# The predictions of both thread counts, written beside the busy loop
# (while the threads are parked and the team is halved), hold the
# same tensors, byte for byte.
. "$(dirname "$0")/lib.bash"
command -v taskset > /dev/null || { echo "busy.sh: no taskset, skipped" >&2; exit 0; }
cpus=$(taskset -pc $$ | sed 's/.*: //')
first=$(echo "$cpus" | sed 's/[,-].*//')
last=$(echo "$cpus" | sed 's/.*[,-]//')
[ "$first" != "$last" ] || { echo "busy.sh: one CPU only, skipped" >&2; exit 0; }
pair="$first,$last"
rmlops-data take --first 200 "$td/cifar10-test-1000.rml" -q -o "$tmp/d.rml"
run() {  # run THREADS: seconds of one evaluation
	local t0 t1
	t0=$(date +%s%N)
	taskset -c "$pair" rmlops-eval -m "$td/mvit-xxs-cifar10.rml" -d "$tmp/d.rml" -j "$1" \
		-P "$tmp/p$1.rml" > /dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
taskset -c "$last" sh -c 'while :; do :; done' &
hog=$!
trap 'kill $hog 2> /dev/null; rm -rf "$tmp"' EXIT
run 1 > /dev/null  # warm the page cache
a=() b=()
for i in 1 2 3 4 5; do
	a+=("$(run 1)")
	b+=("$(run 2)")
done
j1=$(median "${a[@]}")
j2=$(median "${b[@]}")
[ $((j2 * 10)) -le $((j1 * 13)) ] ||
	die "beside a busy loop -j2 took ${j2} ms, -j1 ${j1} ms (runs: ${b[*]} / ${a[*]})"
ok
same_content "$tmp/p1.rml" "$tmp/p2.rml"
echo "busy.sh: $checks checks passed (beside a busy loop: -j1 ${j1} ms, -j2 ${j2} ms)"
