#!/usr/bin/env bash
# make install into a staging directory: programs, man pages, librmlops.a,
# the public headers and rmlops.pc, and a small C program built against
# the installed library with `pkg-config --cflags --libs rmlops` runs
# (a model from a preset, one forward pass, finite logits).
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$tmp/stage"
# shellcheck disable=SC2086
make -s -C "$root" install DESTDIR="$dest" PREFIX=/usr ${RML_MAKEFLAGS:-} > "$tmp/make.out"
for f in bin/rmlops-train lib/librmlops.a include/rmlops/model.h include/rmlops/train.h \
	lib/pkgconfig/rmlops.pc share/man/man1/rmlops-train.1; do
	[ -f "$dest/usr/$f" ] || die "make install did not install $f"; ok
done
[ ! -e "$dest/usr/include/rmlops/model_internal.h" ] || die "an internal header was installed"; ok
cat > "$tmp/hello.c" <<'C'
#include <math.h>
#include <stdio.h>
#include <rmlops/model.h>

int main(void)
{
	rml_model *m;
	rml_error err = { 0 };
	rml_model_config cfg = { "mvit-tiny", 10, 0, 1 };
	float x[32 * 32 * 3] = { 0 }, *logits;
	if (rml_model_create(&m, &cfg, &err) || rml_model_reserve(m, 1, 0, &err) ||
	    rml_model_forward(m, x, 1, RML_MODE_EVAL, &logits, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < 10; i++)
		if (!isfinite(logits[i]))
			return 1;
	printf("%d classes\n", rml_model_n_classes(m));
	rml_model_free(m);
	return 0;
}
C
export PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
pkg-config --exists rmlops || die "pkg-config does not find rmlops"; ok
[ "$(pkg-config --modversion rmlops)" = "$(rmlops-info --version | awk '{print $NF}')" ] ||
	die "rmlops.pc has another version than the programs"; ok
# shellcheck disable=SC2046
cc -std=c11 -o "$tmp/hello" "$tmp/hello.c" $(pkg-config --cflags --libs rmlops) ||
	die "cannot build against the installed library"
ok
[ "$("$tmp/hello")" = "10 classes" ] || die "the program built against librmlops failed"; ok
echo "install.sh: $checks checks passed"
