# Shared helpers for the program tests (sourced, not run).
set -euo pipefail
td=${RML_TESTDATA:-testdata}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0
ok() { checks=$((checks + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
# gq PATTERN: grep that reads all of its input (grep -q stops at the first
# match, and the writer then dies of SIGPIPE, which pipefail counts as a
# failure), true when something matched.
gq() { grep "$@" > /dev/null; }
# expect_fail STATUS CMD...: the command must exit with STATUS, print a
# message on stderr and nothing on stdout.
expect_fail() {
	local want=$1; shift
	local got=0
	"$@" > "$tmp/out" 2> "$tmp/err" || got=$?
	[ "$got" -eq "$want" ] || die "'$*' exited $got, expected $want"
	[ ! -s "$tmp/out" ] || die "'$*' printed on stdout"
	[ -s "$tmp/err" ] || die "'$*' printed no message"
	ok
}
same() { cmp -s "$1" "$2" || die "$1 and $2 differ"; ok; }
# same_content A B: the same tensors, byte for byte (provenance may differ).
same_content() {
	cmp -s <(rmlops-info --digest "$1") <(rmlops-info --digest "$2") || die "$1 and $2 hold different tensors"
	ok
}
differ() { ! cmp -s "$1" "$2" || die "$1 and $2 are the same"; ok; }
