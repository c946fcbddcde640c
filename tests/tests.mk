# tests.mk - what `make test` runs: unit tests (cmocka, ASan+UBSan), integration tests
# (pytest driving the real binaries over loopback). Later issues add fuzz and system
# tests here.

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/asan/tests/%,$(UNIT_SRCS))

$(O)/asan/tests/%: tests/unit/%.c $(asan_LIB) $(MBEDTLS_host_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, asan)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -Wno-missing-prototypes -o $@ $< $(asan_LIB) \
		$(MBEDTLS_host_LIBS) $(SANITIZE) -lcmocka

.PHONY: test test-unit test-integration test-fuzz
test: deps
	$(Q)$(MAKE) --no-print-directory test-unit test-integration test-fuzz

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done

# The integration tests run against the ASan+UBSan build, so a memory error anywhere a
# real client can reach fails the run.
test-integration: asan host
	$(Q)cd tests/integration && MGW_BIN=$(O)/asan/bin MGW_HOST_BIN=$(O)/host/bin \
		MGW_OUTPUT=$(O) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .

# Fuzzing (libFuzzer, clang, ASan+UBSan): every tests/fuzz/fuzz_<name>.c is a target,
# linked with a clang build of libmgw, and runs for FUZZ_TIME seconds over its in-tree
# corpus: tests/fuzz/corpus/<name>/ if that folder exists, else tests/fuzz/corpus/<word>/
# with <word> the part of <name> before the first '_' (fuzz_pop3_parse -> corpus/pop3/).
# New inputs go to output/fuzz/work/<name>/, never into the tree; crashes are written
# to output/fuzz/ and fail the run.
FUZZ_TIME ?= 20
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
$(eval $(call mgw-variant,fuzz,$(CLANG),-O1 -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE),$(FUZZ_SANITIZE),$(MBEDTLS_host_LIBS)))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_BINS := $(addprefix $(O)/fuzz/bin/fuzz_,$(FUZZ_NAMES))
fuzz_corpus = $(firstword $(wildcard tests/fuzz/corpus/$(1)) tests/fuzz/corpus/$(firstword $(subst _, ,$(1))))

$(O)/fuzz/bin/fuzz_%: tests/fuzz/fuzz_%.c $(fuzz_LIB) $(MBEDTLS_host_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzz)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) -fsanitize=fuzzer -o $@ $< $(fuzz_LIB) $(MBEDTLS_host_LIBS)

test-fuzz: $(FUZZ_BINS)
	$(Q)set -e; $(foreach n,$(FUZZ_NAMES),echo "  FUZZ    fuzz_$(n) ($(FUZZ_TIME) s, corpus $(call fuzz_corpus,$(n)))"; \
		mkdir -p $(O)/fuzz/work/$(n); \
		$(O)/fuzz/bin/fuzz_$(n) -max_total_time=$(FUZZ_TIME) -artifact_prefix=$(O)/fuzz/ \
			-print_final_stats=0 $(O)/fuzz/work/$(n) $(call fuzz_corpus,$(n)) \
			>$(O)/fuzz/fuzz_$(n).log 2>&1 || { tail -40 $(O)/fuzz/fuzz_$(n).log; exit 1; }; \
		grep -E "^(Done|INFO: fuzzing)|stat::number_of_executed_units" $(O)/fuzz/fuzz_$(n).log | tail -1;)
