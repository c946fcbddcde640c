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
	$(Q)$(MAKE) --no-print-directory test-unit test-fuzz test-integration

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done

# The integration tests run against the ASan+UBSan build, so a memory error anywhere a
# real client can reach fails the run.
test-integration: asan host
	$(Q)cd tests/integration && MGW_BIN=$(O)/asan/bin MGW_HOST_BIN=$(O)/host/bin \
		MGW_OUTPUT=$(O) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .

# libFuzzer targets: every tests/fuzz/fuzz_*.c is linked with a clang build of libmgw.a
# (ASan+UBSan) and run for FUZZ_TIME seconds from its seed corpus
# tests/fuzz/corpus/<name>/ (read only; new inputs go to output/fuzz/corpus/<name>/).
FUZZ_TIME ?= 15
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
$(eval $(call mgw-variant,fuzz,$(CLANG),-O1 -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE),,$(MBEDTLS_host_LIBS)))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/tests/%,$(FUZZ_SRCS))

$(O)/fuzz/tests/%: tests/fuzz/%.c $(fuzz_LIB) $(MBEDTLS_host_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (libFuzzer)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer $(FUZZ_SANITIZE) -o $@ $< \
		$(fuzz_LIB) $(MBEDTLS_host_LIBS)

test-fuzz: $(FUZZ_BINS)
	$(Q)set -e; for t in $(FUZZ_BINS); do n=$$(basename $$t); echo "  FUZZ    $$n ($(FUZZ_TIME) s)"; \
		mkdir -p $(O)/fuzz/corpus/$$n; \
		$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=1024 -print_final_stats=0 \
			$(O)/fuzz/corpus/$$n tests/fuzz/corpus/$$n > $(O)/fuzz/$$n.log 2>&1 \
			|| { tail -50 $(O)/fuzz/$$n.log; exit 1; }; \
	done

# Benchmarks: measurements, never part of `make test` (tests/bench/*).
.PHONY: bench
bench: deps host
	$(Q)$(PY) tests/bench/smtp_bench $(O)
