#!/usr/bin/env bash
# rmlops-data and rmlops-info on the fixtures: importers, pipelines,
# determinism, pictures, and refused inputs.
. "$(dirname "$0")/lib.bash"

# Every importer.
rmlops-data import cifar10 "$td/cifar10-bin" -o "$tmp/c10.rml" -q
rmlops-info --json "$tmp/c10.rml" | gq '"shape":\[20,32,32,3\]' || die "cifar10 train count"; ok
rmlops-data import cifar10 "$td/cifar10-bin" --split test -q | rmlops-info --json | gq '"shape":\[10,32,32,3\]' || die "cifar10 test"; ok
rmlops-data import cifar10 "$td/cifar10-bin/test_batch.bin" -q -o "$tmp/c10t.rml"
rmlops-info "$tmp/c10t.rml" | gq 'airplane, automobile' || die "cifar10 names"; ok
rmlops-data import cifar100 "$td/cifar100-bin" -q | rmlops-info --json | gq 'fine_99' || die "cifar100 fine"; ok
rmlops-data import cifar100 "$td/cifar100-bin" --labels coarse -q | rmlops-info --json | gq 'coarse_19' || die "cifar100 coarse"; ok
rmlops-data import idx "$td/idx/images-idx3-ubyte.gz" "$td/idx/labels-idx1-ubyte.gz" --classes fashion-mnist -q \
	| rmlops-info --json | gq '"shape":\[16,28,28,1\]' || die "idx gz"; ok
rmlops-data import idx "$td/idx/images-idx3-ubyte" "$td/idx/labels-idx1-ubyte" --gray-to-rgb --resize 32 -q \
	| rmlops-info --json | gq '"shape":\[16,32,32,3\]' || die "idx resize"; ok
rmlops-data import folder "$td/folder" -q -o "$tmp/fold.rml"
rmlops-info --json "$tmp/fold.rml" | gq '"shape":\[8,32,32,3\]' || die "folder"; ok

# The binary importer and the folder importer agree on the same pixels:
# export the CIFAR test batch as PNG files and import the folder back.
rmlops-data export "$tmp/c10t.rml" "$tmp/exp" -q
rmlops-data import folder "$tmp/exp" -q -o "$tmp/back.rml"
rmlops-data take --first 10 "$tmp/back.rml" -q -o /dev/null
[ -c /dev/null ] || die "writing to a device must not replace it"; ok
[ "$(find "$tmp/exp" -name '*.png' | wc -l)" -eq 10 ] || die "export count"; ok

# Pipelines through stdin/stdout, byte-identical with the same seed.
d="$td/cifar10-test-1000.rml"
rmlops-data take --per-class 5 -s 3 < "$d" -q > "$tmp/a.rml"
rmlops-data take --per-class 5 -s 3 "$d" -q -o "$tmp/b.rml"
rmlops-data take --per-class 5 -s 4 "$d" -q -o "$tmp/c.rml"
cmp -s <(tail -c +1 "$tmp/a.rml" | rmlops-info --json | grep -o '"images".*') \
	<(rmlops-info --json "$tmp/b.rml" | grep -o '"images".*') || die "pipe vs file"; ok
differ "$tmp/b.rml" "$tmp/c.rml"
# The same command twice gives the same bytes; another seed other bytes.
rmlops-data split --fraction 0.3 -s 7 "$d" -q > "$tmp/r1.rml"
rmlops-data split --fraction 0.3 -s 7 "$d" -q > "$tmp/r2.rml"
same "$tmp/r1.rml" "$tmp/r2.rml"
rmlops-data split --fraction 0.3 -s 8 "$d" -q > "$tmp/r3.rml"
rmlops-data split --fraction 0.3 -s 8 "$d" -q -o "$tmp/r4.rml"
differ "$tmp/r1.rml" "$tmp/r3.rml"
same_content "$tmp/r3.rml" "$tmp/r4.rml"
# The folder import does not depend on the number of threads.
rmlops-data import folder "$tmp/exp" -j 1 -q -o "$tmp/j1.rml"
rmlops-data import folder "$tmp/exp" -j 2 -q -o "$tmp/j2.rml"
same_content "$tmp/j1.rml" "$tmp/j2.rml"
rmlops-data split --fraction 0.2 -s 1 "$d" -o "$tmp/s1.rml" --rest "$tmp/s2.rml" -q
rmlops-info --json "$tmp/s1.rml" | gq '"shape":\[200,32,32,3\]' || die "split size"; ok
rmlops-info --json "$tmp/s2.rml" | gq '"shape":\[800,32,32,3\]' || die "split rest"; ok
rmlops-data tasks --ways 5 --shots 2 --queries 3 --episodes 4 -s 1 "$d" -q -o "$tmp/t.rml"
rmlops-info --json "$tmp/t.rml" | gq '"support.images","dtype":"u8","shape":\[4,10,32,32,3\]' || die "tasks"; ok
rmlops-data take --classes cat,dog --relabel "$d" -q | rmlops-info | gq 'cat, dog' || die "classes"; ok
rmlops-data concat "$tmp/s1.rml" "$tmp/s2.rml" -q | rmlops-info --json | gq '"shape":\[1000,32,32,3\]' || die "concat"; ok
# Differing class lists: refused, or merged by name with --union.
rmlops-data take --classes cat,dog --relabel "$d" -q -o "$tmp/cd.rml"
rmlops-data take --classes dog,frog --relabel "$d" -q -o "$tmp/df.rml"
expect_fail 1 rmlops-data concat "$tmp/cd.rml" "$tmp/df.rml"
rmlops-data concat --union "$tmp/cd.rml" "$tmp/df.rml" -q -o "$tmp/u.rml"
rmlops-info "$tmp/u.rml" | gq 'cat, dog, frog' || die "union classes"; ok
# The dogs of both inputs end up as one class: taking it gives 200 images.
rmlops-data take --classes dog "$tmp/u.rml" -q | rmlops-info --json | gq '"shape":\[200,32,32,3\]' \
	|| die "union labels"; ok
# Every command has its own help on stdout.
for c in import split take tasks concat show export; do
	rmlops-data "$c" --help | gq "^Usage: rmlops-data $c" || die "$c --help"; ok
done

# A contact sheet is a PNG.
rmlops-data take --per-class 2 "$d" -q | rmlops-data show -o "$tmp/sheet.png"
head -c 8 "$tmp/sheet.png" | od -An -tx1 | gq '89 50 4e 47' || die "sheet is not PNG"; ok

# Lineage: the take step remembers its input's hash and history.
rmlops-info --lineage "$tmp/b.rml" | gq 'data=sha256:' || die "lineage"; ok

# Refused inputs: usage errors (2) and bad files (1), nothing on stdout.
expect_fail 2 rmlops-data
expect_fail 2 rmlops-data frobnicate
expect_fail 2 rmlops-data take --count -3 "$d"
expect_fail 2 rmlops-data take "$d"
expect_fail 2 rmlops-data import nothing x
expect_fail 1 rmlops-data import cifar10 "$td/idx/images-idx3-ubyte"
expect_fail 1 rmlops-data import idx "$td/idx/labels-idx1-ubyte" "$td/idx/labels-idx1-ubyte"
expect_fail 1 rmlops-data import folder "$tmp/nonexistent"
mkdir -p "$tmp/empty/cls"
expect_fail 1 rmlops-data import folder "$tmp/empty"
expect_fail 1 rmlops-data take --count 5 "$tmp/missing.rml"
head -c 500 "$d" > "$tmp/trunc.rml"
expect_fail 1 rmlops-data take --count 5 "$tmp/trunc.rml"
expect_fail 1 rmlops-info "$tmp/trunc.rml"
cp "$d" "$tmp/flip.rml"
printf '\x55' | dd of="$tmp/flip.rml" bs=1 seek=100000 conv=notrunc status=none
expect_fail 1 rmlops-info "$tmp/flip.rml"
# Damage that the reader sees before any checksum: wrong magic, a future
# format version, a header that claims terabytes. Each: exit 1, a message.
patch_byte() { printf "$3" | dd of="$2" bs=1 seek="$1" conv=notrunc status=none; }
cp "$d" "$tmp/magic.rml"; patch_byte 1 "$tmp/magic.rml" 'X'
expect_fail 1 rmlops-info "$tmp/magic.rml"
grep -q magic "$tmp/err" || die "no word on the magic"; ok
cp "$d" "$tmp/future.rml"; patch_byte 8 "$tmp/future.rml" '\x09'
expect_fail 1 rmlops-data take --count 3 "$tmp/future.rml"
grep -q version "$tmp/err" || die "no word on the version"; ok
cp "$d" "$tmp/huge.rml"; patch_byte 21 "$tmp/huge.rml" '\x7f'
expect_fail 1 rmlops-info "$tmp/huge.rml"
: > "$tmp/empty.rml"
expect_fail 1 rmlops-info "$tmp/empty.rml"
expect_fail 1 rmlops-data tasks --ways 20 --shots 1 "$d"
expect_fail 2 rmlops-info --bogus
rmlops-info -q "$d" || die "info -q"; ok
# Common corruptions: deterministic, different from the clean images, refused when unknown.
rmlops-data corrupt --type fog --severity 3 -s 2 "$d" -q -o "$tmp/fog1.rml"
rmlops-data corrupt --type fog --severity 3 -s 2 "$d" -q -o "$tmp/fog2.rml"
same_content "$tmp/fog1.rml" "$tmp/fog2.rml"
cmp -s <(rmlops-info --digest "$tmp/fog1.rml" | head -1) <(rmlops-info --digest "$d" | head -1) && die "fog changed nothing"; ok
expect_fail 2 rmlops-data corrupt --type rain --severity 3 "$d"
expect_fail 2 rmlops-data corrupt --type fog --severity 6 "$d"
# take --shuffle: the same images as without it, in another order that the
# seed reproduces.
rmlops-data take --per-class 3 -s 5 "$d" -q -o "$tmp/s0.rml"
rmlops-data take --per-class 3 -s 5 --shuffle "$d" -q -o "$tmp/s1.rml"
rmlops-data take --per-class 3 -s 5 --shuffle "$d" -q -o "$tmp/s2.rml"
same_content "$tmp/s1.rml" "$tmp/s2.rml"
rmlops-data export "$tmp/s0.rml" "$tmp/e0" -q
rmlops-data export "$tmp/s1.rml" "$tmp/e1" -q
# Same pixels in every class, whatever the positions:
cmp -s <(cd "$tmp/e0" && for f in */*.png; do echo "${f%%/*} $(cat "$f" | md5sum)"; done | sort) \
	<(cd "$tmp/e1" && for f in */*.png; do echo "${f%%/*} $(cat "$f" | md5sum)"; done | sort) \
	|| die "take --shuffle chose other images"; ok
# ...but the class sequence by position is no longer sorted:
seq0=$(cd "$tmp/e0" && ls */*.png | sed 's|\(.*\)/\(.*\)\.png|\2 \1|' | sort -n | cut -d' ' -f2 | tr '\n' ,)
seq1=$(cd "$tmp/e1" && ls */*.png | sed 's|\(.*\)/\(.*\)\.png|\2 \1|' | sort -n | cut -d' ' -f2 | tr '\n' ,)
[ "$seq0" != "$seq1" ] || die "take --shuffle kept the order"; ok
rmlops-data take --shuffle -s 5 "$d" -q | rmlops-info | gq "1000" || die "take --shuffle alone"; ok
echo "data.sh: $checks checks passed"
