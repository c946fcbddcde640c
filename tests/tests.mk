# tests.mk - what `make test` runs: unit tests (cmocka, ASan+UBSan), integration tests
# (pytest driving the real binaries over loopback). Later issues add fuzz and system
# tests here.

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/asan/tests/%,$(UNIT_SRCS))

$(O)/asan/tests/%: tests/unit/%.c $(asan_LIB) $(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, asan)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -Wno-missing-prototypes -o $@ $< $(asan_LIB) \
		$(MBEDTLS_asan_LIBS) $(SANITIZE) -lcmocka

# The pki test driver: a command-line front to firmware/lib/pki (test_pki.py).
PKI_DRIVER := $(O)/asan/tests/pki_driver
$(PKI_DRIVER): tests/integration/pki_driver.c $(asan_LIB) $(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (test driver, asan)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -o $@ $< $(asan_LIB) $(MBEDTLS_asan_LIBS) $(SANITIZE)

.PHONY: test test-unit test-integration test-fuzz test-system system-images
test: deps
	$(Q)$(MAKE) --no-print-directory test-unit test-fuzz test-integration test-system

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done

# The integration tests run against the ASan+UBSan build, so a memory error anywhere a
# real client can reach fails the run. Their temporary folders live under output/: the
# daemon drops to 'nobody' and must traverse them, and pytest resets its shared default
# folder in /tmp to 0700 whenever any other pytest run starts on the machine.
# PYTEST_ARGS that name test files run those only (pytest would collect them twice, and
# every other file too, if "." were added).
test-integration: asan host $(PKI_DRIVER)
	$(Q)cd tests/integration && MGW_BIN=$(O)/asan/bin MGW_HOST_BIN=$(O)/host/bin \
		MGW_OUTPUT=$(O) $(PY) -m pytest -q -p no:cacheprovider --basetemp=$(O)/pytest \
		$(PYTEST_ARGS) $(if $(findstring .py,$(PYTEST_ARGS)),,.)

# Fuzzing: every tests/fuzz/fuzz_<name>.c is a libFuzzer target, seeded from
# tests/fuzz/corpus/<name>/ (read-only; new inputs go to output/fuzz/corpus/<name>/) and
# run for FUZZ_SECONDS in every test run. A crash, leak or sanitizer report fails the run.
FUZZ_SECONDS ?= 15
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/tests/%,$(FUZZ_SRCS))

$(O)/fuzz/tests/%: tests/fuzz/%.c $(fuzz_LIB) $(MBEDTLS_fuzz_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (libFuzzer)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) -fsanitize=fuzzer -o $@ $< $(fuzz_LIB) $(MBEDTLS_fuzz_LIBS)

test-fuzz: $(FUZZ_BINS)
	$(Q)set -e; for t in $(FUZZ_BINS); do \
		name=$$(basename $$t | sed 's/^fuzz_//'); \
		mkdir -p $(O)/fuzz/corpus/$$name; \
		echo "  FUZZ    $$name ($(FUZZ_SECONDS) s)"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 \
			-artifact_prefix=$(O)/fuzz/ $(O)/fuzz/corpus/$$name tests/fuzz/corpus/$$name \
			>$(O)/fuzz/$$name.log 2>&1 || { tail -40 $(O)/fuzz/$$name.log; exit 1; }; \
		grep -E '^Done [0-9]+ runs' $(O)/fuzz/$$name.log; \
	done

# System tests: every board's image is built in its own output folder
# (output/boards/<board>, whatever .config says), then pytest boots the QEMU boards under
# software emulation and checks the Raspberry Pi 4 SD card's layout.
SYSTEST_BOARDS := qemu_aarch64_virt qemu_arm_virt raspberrypi4_64
system-images:
	$(Q)set -e; for b in $(SYSTEST_BOARDS); do \
		mkdir -p $(O)/boards/$$b; \
		test -f $(O)/boards/$$b/.config || $(MAKE) --no-print-directory O=$(O)/boards/$$b \
			CONFIG=$(O)/boards/$$b/.config $${b}_defconfig; \
		$(MAKE) --no-print-directory O=$(O)/boards/$$b CONFIG=$(O)/boards/$$b/.config image; \
	done

test-system: system-images host
	$(Q)cd tests/system && MGW_BOARDS_OUT=$(O)/boards MGW_HOST_BIN=$(O)/host/bin \
		$(PY) -m pytest -q -s -p no:cacheprovider $(PYTEST_ARGS) .

# Benchmarks: measurements, never part of `make test` (tests/bench/*).
.PHONY: bench
bench: deps bench-deps host
	$(Q)$(PY) tests/bench/smtp_bench $(O)
	$(Q)$(PY) tests/bench/bench_pop3s.py $(O)
