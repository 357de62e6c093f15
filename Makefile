# rmlops — build, test, install, demo, bench.
#
#   make                 library and programs (build/)
#   make check           every unit test (cmocka) and program test (cmd/tests)
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan (build-san/)
#   make install PREFIX=/usr/local   programs, man pages, librmlops.a, headers, rmlops.pc
#   make check WERROR=1  the same with warnings as errors (as CI builds)
#   make check-slurm     the experiment plan under a real single-node Slurm (mk/slurm.mk)
#   make check-slurm-tables  the quick tables' plan under it, against tables/quick (~4 min)
#   make demo            the README's main job on the data the repo carries
#   make bench           throughput figures, side by side with PyTorch if present,
#                        then on a busy machine (BENCH_OLD=dir: beside another build)
#   make fuzz FUZZ_SECONDS=600   libFuzzer on the .rml, YAML and safetensors readers
#   make tables PROFILE=quick    the life-cycle tables (mk/tables.mk; full: CIFAR10=DIR)
#   make tables-carry / tables-restore   a stopped run taken to another machine

VERSION  := 0.1.0
PREFIX   ?= /usr/local
CC       ?= cc
OPT      ?= -O3 -march=x86-64-v3
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CPPFLAGS += -Ilib -Icmd -I/usr/include/stb -D_GNU_SOURCE -DRML_VERSION='"$(VERSION)"'
# No -ffast-math (NaN must survive fault injection); these two only let
# loops with comparisons vectorise and drop errno from libm calls.
XCFLAGS  := -std=c11 -fopenmp -fno-trapping-math -fno-math-errno $(WARN)
LDLIBS   += -lopenblas -ljansson -lyaml -lpng -lz -lm -lpthread

ifeq ($(SANITIZE),1)
B        := build-san
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
B        := build
endif

LIB_SRC  := $(sort $(wildcard lib/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CMD_SRC  := $(sort $(wildcard cmd/rmlops-*.c))
PROGS    := $(CMD_SRC:cmd/%.c=$(B)/bin/%)
CLI_OBJ  := $(B)/cmd/cli.o
TEST_SRC := $(sort $(wildcard lib/tests/test_*.c))
TESTS    := $(TEST_SRC:lib/tests/%.c=$(B)/tests/%) $(B)/tests/test_cli
# Test-only code (the naive reference kernels, the shared fixtures) stays
# out of librmlops.a.
TEST_SUPPORT := $(B)/lib/tests/kernels_ref.o $(B)/lib/tests/fixtures.o
CMD_TESTS := $(sort $(wildcard cmd/tests/*.sh))
MAN1     := $(sort $(wildcard man/*.1))
MAN5     := $(sort $(wildcard man/*.5))
MAN7     := $(sort $(wildcard man/*.7))
LIBA     := $(B)/librmlops.a
# The headers a C program using librmlops includes (as <rmlops/model.h>);
# the others are the library's own insides.
PUBLIC_H := $(filter-out lib/model_internal.h lib/yamlwalk.h lib/attn512.h,$(sort $(wildcard lib/*.h)))
PC       := $(B)/rmlops.pc

all: $(LIBA) $(PROGS)

$(B)/%.o: %.c $(wildcard lib/*.h cmd/*.h lib/tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(XCFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/bin/%: $(B)/cmd/%.o $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ $(LDLIBS)
# rmlops-eval --compare lives in its own file (linked before the library).
$(B)/bin/rmlops-eval: $(B)/cmd/rmlops-eval.o $(B)/cmd/eval_compare.o $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/lib/tests/%.o $(TEST_SUPPORT) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
# The programs' shared option table (cmd/cli.c) has its unit test beside them.
$(B)/tests/test_cli: $(B)/cmd/tests/test_cli.o $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# Unit tests run from the top so they find testdata/; program tests get
# the build's bin/ first on PATH.
check: all $(TESTS)
	@fail=0; pass=0; export RML_MAKEFLAGS="$(if $(filter 1,$(SANITIZE)),SANITIZE=1)"; \
	for t in $(TESTS); do \
	  if $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; \
	for t in $(CMD_TESTS); do \
	  if PATH="$(CURDIR)/$(B)/bin:$$PATH" RML_TESTDATA="$(CURDIR)/testdata" bash $$t; \
	  then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; \
	echo "$$pass passed, $$fail failed"; \
	test $$fail -eq 0

# pkg-config: a static library, so its own dependencies are in Libs;
# rewritten on every install, since PREFIX may differ.
$(PC): Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: rmlops' 'Description: resilience of image classifiers: faults, attacks, calibration, test-time adaptation' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir} -fopenmp' \
	  'Libs: -L$${libdir} -lrmlops -fopenmp $(strip $(LDFLAGS) $(LDLIBS))' > $@

install: all $(PC)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/rmlops
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib
	install -m 644 $(PUBLIC_H) $(DESTDIR)$(PREFIX)/include/rmlops
	install -m 644 $(PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7)

demo: all
	bash scripts/demo.sh $(B)/bin

bench: all
	bash scripts/bench.sh $(B)/bin
	bash scripts/bench_busy.sh $(B)/bin $(BENCH_OLD)

# libFuzzer builds of the file reader (seeds in testdata/fuzz/) and of the
# two YAML readers, attack lists and architectures (seeds made here from
# testdata/attacks.yaml and the mvit-tiny example of rmlops-arch(5); the
# first byte picks the reader); and of the safetensors reader (seed: the
# mvit-tiny weights in testdata/ref/). FUZZ_SECONDS each.
# The .rml target also reads what each file means (model, adapters,
# dataset, predictions, calibrator, training settings), from seeds of
# every kind it writes itself; FUZZ_FIXSUMS=1 (the default) recomputes
# the checksums after each mutation so that mutated content gets past
# them to those checks (0: mutate bytes only).
FUZZ_SECONDS ?= 600
FUZZ_FIXSUMS ?= 1
FUZZ_CC = clang $(CPPFLAGS) -O1 -g -fopenmp -fsanitize=address,undefined -std=c11
FUZZ_OBJ := $(LIB_SRC:%.c=build-fuzz/%.o)
build-fuzz/%.o: %.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link -c -o $@ $<
build-fuzz/fuzz_%: scripts/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
fuzz-build: build-fuzz/fuzz_format build-fuzz/fuzz_yaml build-fuzz/fuzz_safetensors
	@mkdir -p build-fuzz/corpus build-fuzz/corpus-yaml build-fuzz/seeds-yaml build-fuzz/corpus-st \
	  build-fuzz/seeds-kinds
	{ printf '\001'; cat testdata/attacks.yaml; } > build-fuzz/seeds-yaml/attacks
	{ printf '\000'; sed -n '/^name: mvit-tiny/,/^head:/p' man/rmlops-arch.5; } > build-fuzz/seeds-yaml/arch
	RML_FUZZ_SEEDS=build-fuzz/seeds-kinds build-fuzz/fuzz_format

fuzz: fuzz-build
	RML_FUZZ_FIXSUMS=$(FUZZ_FIXSUMS) build-fuzz/fuzz_format -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=262144 -artifact_prefix=build-fuzz/ build-fuzz/corpus testdata/fuzz build-fuzz/seeds-kinds
	build-fuzz/fuzz_yaml -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build-fuzz/ \
	  build-fuzz/corpus-yaml build-fuzz/seeds-yaml
	build-fuzz/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=build-fuzz/ \
	  build-fuzz/corpus-st testdata/fuzz-safetensors

# The life-cycle experiment (Tables 1-3): make tables [PROFILE=quick].
include mk/tables.mk

lint-man:
	@for m in $(MAN1) $(MAN5) $(MAN7); do mandoc -T lint -W warning $$m || exit 1; done

clean:
	rm -rf build build-san build-fuzz

.PHONY: all check install demo bench fuzz fuzz-build clean lint-man $(PC)
# The objects that only a pattern chain names (a program's or a unit test's
# main file) are kept after linking. Only they: a global .SECONDARY would
# make every file intermediate, and make would not remake a deleted file
# (a cell of the life-cycle tables) whose dependents are up to date.
.SECONDARY: $(PROGS:$(B)/bin/%=$(B)/cmd/%.o) $(TESTS:$(B)/tests/%=$(B)/lib/tests/%.o) $(TEST_SUPPORT)

include mk/slurm.mk
