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

# The cipher tests' shared headers: vectors and random cases (testvec.h), cmocka's stand-in
# for their cross builds (minicmocka.h).
CIPHER_TEST_HDRS := tests/unit/minicmocka.h tests/unit/testvec.h

# test_gcm (our AES-GCM, firmware/lib/tls/gcm) also checks itself against OpenSSL's
# AES-GCM (libcrypto, Debian's libssl-dev), and runs a second time with the portable path
# forced (MAILGW_GCM_PORTABLE=1) in test-unit.
$(O)/asan/tests/test_gcm: tests/unit/test_gcm.c $(CIPHER_TEST_HDRS) $(asan_LIB) \
		$(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, asan, OpenSSL)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -Wno-missing-prototypes -DGCM_TEST_OPENSSL=1 -o $@ $< $(asan_LIB) \
		$(MBEDTLS_asan_LIBS) $(SANITIZE) -lcmocka -lcrypto

# The same test cross-compiled (static, without cmocka: tests/unit/minicmocka.h) with the
# mbedTLS of its architecture, run under qemu-user whatever the configured board: aarch64
# on QEMU's Cortex-A53 model (AES and PMULL: it must take the armv8-ce path, then the
# portable one forced), and armhf (the portable path on a 32-bit CPU).
$(O)/a64/tests/test_gcm: tests/unit/test_gcm.c $(CIPHER_TEST_HDRS) $(MBEDTLS_a64_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, aarch64)"
	$(Q)$(A64_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -I$(MBEDTLS_INC) $(MBEDTLS_CFLAGS) \
		-DGCM_TEST_STANDALONE=1 -static -o $@ $< $(MBEDTLS_a64_LIBS)
$(O)/armhf/tests/test_gcm: tests/unit/test_gcm.c $(CIPHER_TEST_HDRS) $(MBEDTLS_armhf_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, armhf)"
	$(Q)$(ARMHF_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -I$(MBEDTLS_INC) $(MBEDTLS_CFLAGS) \
		-DGCM_TEST_STANDALONE=1 -static -o $@ $< $(MBEDTLS_armhf_LIBS)
GCM_CROSS_TESTS := $(O)/a64/tests/test_gcm $(O)/armhf/tests/test_gcm

# test_chachapoly (our ChaCha20 and Poly1305, firmware/lib/tls/chacha) the same way: on the
# host against OpenSSL's ChaCha20-Poly1305, its x86 SIMD paths all tried; cross-compiled
# for aarch64 (the Advanced SIMD path on QEMU's Cortex-A72, the Raspberry Pi 4's CPU) and
# armhf (NEON chosen at run time on qemu-arm's default CPU, which has it; the portable path
# on a Cortex-R5F, whose VFPv3-D16 without NEON is what armhf guarantees: the same binary
# must run there), and with the portable path forced (MAILGW_CHACHA_PORTABLE=1) on the host
# and on armhf, in test-unit.
$(O)/asan/tests/test_chachapoly: tests/unit/test_chachapoly.c $(CIPHER_TEST_HDRS) $(asan_LIB) \
		$(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, asan, OpenSSL)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -Wno-missing-prototypes -DCHACHA_TEST_OPENSSL=1 -o $@ $< \
		$(asan_LIB) $(MBEDTLS_asan_LIBS) $(SANITIZE) -lcmocka -lcrypto
$(O)/a64/tests/test_chachapoly: tests/unit/test_chachapoly.c $(CIPHER_TEST_HDRS) $(MBEDTLS_a64_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, aarch64)"
	$(Q)$(A64_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -I$(MBEDTLS_INC) $(MBEDTLS_CFLAGS) \
		-DCHACHA_TEST_STANDALONE=1 -static -o $@ $< $(MBEDTLS_a64_LIBS)
$(O)/armhf/tests/test_chachapoly: tests/unit/test_chachapoly.c $(CIPHER_TEST_HDRS) $(MBEDTLS_armhf_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (unit, armhf)"
	$(Q)$(ARMHF_CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -I$(MBEDTLS_INC) $(MBEDTLS_CFLAGS) \
		-DCHACHA_TEST_STANDALONE=1 -static -o $@ $< $(MBEDTLS_armhf_LIBS)
CHACHA_CROSS_TESTS := $(O)/a64/tests/test_chachapoly $(O)/armhf/tests/test_chachapoly

# The pki test driver: a command-line front to firmware/lib/pki (test_pki.py).
PKI_DRIVER := $(O)/asan/tests/pki_driver
$(PKI_DRIVER): tests/integration/pki_driver.c $(asan_LIB) $(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (test driver, asan)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) -o $@ $< $(asan_LIB) $(MBEDTLS_asan_LIBS) $(SANITIZE)

.PHONY: test test-unit test-integration test-fuzz test-system system-images
# The host suites and the board suite (image builds, then QEMU) run side by side, each
# suite list in order; the programs both use are built first so they never race. Each
# side's output appears when that side is done.
test: deps
	$(Q)$(MAKE) --no-print-directory host asan
	$(Q)$(MAKE) --no-print-directory -j2 --output-sync=recurse test-host-suites \
		test-board-suites

.PHONY: test-host-suites test-board-suites
test-host-suites:
	$(Q)$(MAKE) --no-print-directory -j1 test-unit test-netsim test-fuzz test-integration
test-board-suites:
	$(Q)$(MAKE) --no-print-directory -j1 test-system

test-unit: $(UNIT_BINS) $(GCM_CROSS_TESTS) $(CHACHA_CROSS_TESTS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done
	@echo "  UNIT    test_gcm, portable path forced"
	$(Q)MAILGW_GCM_PORTABLE=1 GCM_TEST_EXPECT=portable $(O)/asan/tests/test_gcm
	@echo "  UNIT    test_gcm (aarch64, qemu-aarch64 -cpu cortex-a53)"
	$(Q)GCM_TEST_EXPECT=armv8-ce qemu-aarch64 -cpu cortex-a53 $(O)/a64/tests/test_gcm
	@echo "  UNIT    test_gcm (aarch64, qemu-aarch64 -cpu cortex-a53, portable path forced)"
	$(Q)MAILGW_GCM_PORTABLE=1 GCM_TEST_EXPECT=portable qemu-aarch64 -cpu cortex-a53 $(O)/a64/tests/test_gcm
	@echo "  UNIT    test_gcm (armhf, qemu-arm)"
	$(Q)GCM_TEST_EXPECT=portable qemu-arm $(O)/armhf/tests/test_gcm
	@echo "  UNIT    test_chachapoly, portable path forced"
	$(Q)MAILGW_CHACHA_PORTABLE=1 CHACHA_TEST_EXPECT=portable $(O)/asan/tests/test_chachapoly
	@echo "  UNIT    test_chachapoly (aarch64, qemu-aarch64 -cpu cortex-a72)"
	$(Q)CHACHA_TEST_EXPECT=asimd qemu-aarch64 -cpu cortex-a72 $(O)/a64/tests/test_chachapoly
	@echo "  UNIT    test_chachapoly (armhf, qemu-arm)"
	$(Q)CHACHA_TEST_EXPECT=neon qemu-arm $(O)/armhf/tests/test_chachapoly
	@echo "  UNIT    test_chachapoly (armhf, qemu-arm, portable path forced)"
	$(Q)MAILGW_CHACHA_PORTABLE=1 CHACHA_TEST_EXPECT=portable qemu-arm $(O)/armhf/tests/test_chachapoly
	@echo "  UNIT    test_chachapoly (armhf, qemu-arm -cpu cortex-r5f: VFPv3-D16, no NEON)"
	$(Q)CHACHA_TEST_EXPECT=portable qemu-arm -cpu cortex-r5f $(O)/armhf/tests/test_chachapoly

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
# run for FUZZ_SECONDS in every test run, with the dictionary tests/fuzz/fuzz_<name>.dict
# where there is one. A crash, leak or sanitizer report fails the run.
FUZZ_SECONDS ?= 15
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/tests/%,$(FUZZ_SRCS))

$(O)/fuzz/tests/%: tests/fuzz/%.c $(fuzz_LIB) $(MBEDTLS_fuzz_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (libFuzzer)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) -fsanitize=fuzzer -o $@ $< $(fuzz_LIB) $(MBEDTLS_fuzz_LIBS)

# The console's parser and dispatch: its command tables and libcli, without main().
FUZZ_CLI_OBJS := $(patsubst %.c,$(fuzz_OBJDIR)/%.o,$(filter-out firmware/cli/main.c,$(mailgw_SRCS)))
$(O)/fuzz/tests/fuzz_cli: tests/fuzz/fuzz_cli.c $(FUZZ_CLI_OBJS) $(fuzz_LIB) $(LIBCLI_fuzz_LIB) \
		$(MBEDTLS_host_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (libFuzzer)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_CLI_OBJS) $(LIBCLI_fuzz_LIB) \
		$(fuzz_LIB) $(MBEDTLS_host_LIBS)

test-fuzz: $(FUZZ_BINS)
	$(Q)set -e; for t in $(FUZZ_BINS); do \
		name=$$(basename $$t | sed 's/^fuzz_//'); \
		mkdir -p $(O)/fuzz/corpus/$$name; \
		echo "  FUZZ    $$name ($(FUZZ_SECONDS) s)"; \
		dict=tests/fuzz/fuzz_$$name.dict; [ -f $$dict ] || dict=; \
		$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 $${dict:+-dict=$$dict} \
			-artifact_prefix=$(O)/fuzz/ $(O)/fuzz/corpus/$$name tests/fuzz/corpus/$$name \
			>$(O)/fuzz/$$name.log 2>&1 || { tail -40 $(O)/fuzz/$$name.log; exit 1; }; \
		grep -E '^Done [0-9]+ runs' $(O)/fuzz/$$name.log; \
	done

# netsim (tests/netsim, README "netsim"): the engines over lwIP on a simulated network,
# the seed matrix in virtual time (ASan+UBSan build), one child process per seed.
# make netsim-replay SEED=N replays one seed verbosely and writes output/netsim/seed-N.pcap,
# byte for byte the trace of that seed in the matrix (simos.h); the matrix checks that too.
NETSIM_SEEDS ?= 1-300
NETSIM_SRCS := $(sort $(wildcard tests/netsim/*.c)) firmware/lib/net/lwip/lwip_tcp.c
NETSIM_HDRS := $(wildcard tests/netsim/*.h) firmware/lib/net/lwip/lwip_tcp.h
NETSIM_PKI := $(O)/netsim/pki/done
NETSIM_RUN = $(O)/asan/tests/netsim -p $(O)/netsim/pki -w $(O)/netsim/work
# The simulated entropy, clocks and pid (tests/netsim/simos.h) replace these calls of our
# code, mbedTLS and lwIP in the netsim links only; simos.c compiles only with MGW_NETSIM.
NETSIM_WRAP := mbedtls_platform_entropy_poll getrandom time gettimeofday clock_gettime getpid
NETSIM_FLAGS := -DMGW_NETSIM=1 $(LWIP_INC) -Itests/netsim
NETSIM_LDFLAGS := $(foreach f,$(NETSIM_WRAP),-Wl,--wrap=$(f))

$(NETSIM_PKI): tests/netsim/mkpki.py tests/integration/pki.py
	@echo "  PKI     $(@D) (tests/integration/pki.py)"
	$(Q)rm -f $@
	$(Q)$(PY) tests/netsim/mkpki.py $(@D) >$(O)/netsim-pki.log 2>&1 || { cat $(O)/netsim-pki.log; exit 1; }

$(O)/asan/tests/netsim: $(NETSIM_SRCS) $(NETSIM_HDRS) $(asan_LIB) $(LWIP_asan_LIB) $(MBEDTLS_asan_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      tests/netsim (asan, lwIP)"
	$(Q)$(HOSTCC) $(asan_CFLAGS) $(NETSIM_FLAGS) -o $@ $(NETSIM_SRCS) $(asan_LIB) \
		$(LWIP_asan_LIB) $(MBEDTLS_asan_LIBS) $(SANITIZE) $(NETSIM_LDFLAGS)

.PHONY: test-netsim netsim-replay
test-netsim: $(O)/asan/tests/netsim $(NETSIM_PKI)
	$(Q)mkdir -p $(O)/netsim/work
	@echo "  NETSIM  seeds $(NETSIM_SEEDS)"
	$(Q)$(NETSIM_RUN) -m $(NETSIM_SEEDS)

netsim-replay: $(O)/asan/tests/netsim $(NETSIM_PKI)
	$(Q)test -n "$(SEED)" || { echo "make netsim-replay SEED=N"; exit 2; }
	$(Q)mkdir -p $(O)/netsim/work
	$(Q)$(NETSIM_RUN) -s $(SEED) -v -c $(O)/netsim/seed-$(SEED).pcap; rc=$$?; \
		echo "  PCAP    $(O)/netsim/seed-$(SEED).pcap, sha256 $$(sha256sum <$(O)/netsim/seed-$(SEED).pcap | cut -c1-64)"; \
		echo "          the exact packet trace of every run of seed $(SEED) with this PKI ($(O)/netsim/pki), the matrix's included"; \
		exit $$rc

# fuzz_netsim links the simulator and lwIP too (built with the fuzz variant's flags).
NETSIM_FUZZ_SRCS := $(filter-out tests/netsim/main.c,$(NETSIM_SRCS))
$(O)/fuzz/tests/fuzz_netsim: tests/fuzz/fuzz_netsim.c $(NETSIM_FUZZ_SRCS) $(NETSIM_HDRS) $(fuzz_LIB) \
		$(LWIP_fuzz_LIB) $(MBEDTLS_fuzz_LIBS) $(NETSIM_PKI)
	@mkdir -p $(@D)
	@echo "  CC      $< (libFuzzer, lwIP)"
	$(Q)$(CLANG) $(fuzz_CFLAGS) $(NETSIM_FLAGS) -fsanitize=fuzzer -o $@ $< \
		$(NETSIM_FUZZ_SRCS) $(fuzz_LIB) $(LWIP_fuzz_LIB) $(MBEDTLS_fuzz_LIBS) $(NETSIM_LDFLAGS)

# System tests (PYTEST_ARGS naming a test_*.py file runs that file only): every board's image is built in its own output folder
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

# SYSTEST_JOBS pytest workers (pytest-xdist) run the tests side by side, each QEMU board
# on one emulated CPU: tests that share a booted board (an xdist_group mark) stay on one
# worker, the longest start first (conftest.py). What the tests print (boot times) is
# shown at the end (-rP).
SYSTEST_JOBS ?= 2
test-system: system-images host
	$(Q)cd tests/system && MGW_BOARDS_OUT=$(O)/boards MGW_HOST_BIN=$(O)/host/bin \
		$(PY) -m pytest -q -rP -p no:cacheprovider -n $(SYSTEST_JOBS) --dist loadgroup \
		--durations=0 $(PYTEST_ARGS) $(if $(filter test_%,$(PYTEST_ARGS)),,.)

# Benchmarks: measurements, never part of `make test` (tests/bench/*).
.PHONY: bench
# Bulk AEAD rates of the host build's mbedTLS (with our AES-GCM), against `openssl speed`
# (bench_tls.py).
CIPHER_SPEED := $(O)/host/tests/cipher_speed
$(CIPHER_SPEED): tests/bench/cipher_speed.c $(MBEDTLS_host_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (bench, host)"
	$(Q)$(HOSTCC) $(host_CFLAGS) -o $@ $< $(MBEDTLS_host_LIBS)

# The same program against the benchmarks' stock mbedTLS (its own AES-GCM instead of ours,
# tests/bench/mbedtls_stock_config.h), so bench_tls.py and bench_imap.py print both.
CIPHER_SPEED_STOCK := $(O)/host/tests/cipher_speed_stock
$(CIPHER_SPEED_STOCK): tests/bench/cipher_speed.c $(MBEDTLS_stock_LIBS)
	@mkdir -p $(@D)
	@echo "  CC      $< (bench, stock mbedTLS)"
	$(Q)$(HOSTCC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -I$(MBEDTLS_INC) \
		-DMBEDTLS_USER_CONFIG_FILE='"$(MBEDTLS_STOCK_CONFIG)"' -o $@ $< $(MBEDTLS_stock_LIBS)

# cipher_speed for aarch64 and armhf (static), with our modules and against the stock
# mbedTLS, run by bench_tls.py under qemu-aarch64 -cpu cortex-a72 and qemu-arm: $(1) a64 or
# armhf, $(2) the compiler.
define cipher-speed-cross
$$(O)/$(1)/tests/cipher_speed: tests/bench/cipher_speed.c $$(MBEDTLS_$(1)_LIBS)
	@mkdir -p $$(@D)
	@echo "  CC      $$< (bench, $(1))"
	$$(Q)$(2) -std=c11 -D_GNU_SOURCE $$(WARN) -O2 -g -I$$(MBEDTLS_INC) $$(MBEDTLS_CFLAGS) -static \
		-o $$@ $$< $$(MBEDTLS_$(1)_LIBS)
$$(O)/$(1)/tests/cipher_speed_stock: tests/bench/cipher_speed.c $$(MBEDTLS_$(1)stock_LIBS)
	@mkdir -p $$(@D)
	@echo "  CC      $$< (bench, $(1), stock mbedTLS)"
	$$(Q)$(2) -std=c11 -D_GNU_SOURCE $$(WARN) -O2 -g -I$$(MBEDTLS_INC) -static \
		-DMBEDTLS_USER_CONFIG_FILE='"$$(MBEDTLS_STOCK_CONFIG)"' -o $$@ $$< $$(MBEDTLS_$(1)stock_LIBS)
CIPHER_SPEED_CROSS += $$(O)/$(1)/tests/cipher_speed $$(O)/$(1)/tests/cipher_speed_stock
endef
$(eval $(call cipher-speed-cross,a64,$(A64_CC)))
$(eval $(call cipher-speed-cross,armhf,$(ARMHF_CC)))

# SMTP: 10 and 50 senders, on the build host's disk and on a slow one (every fsync of
# both servers +BENCH_SLOW_MS, one at a time, as on an SD card: tests/bench/slowfsync.c).
BENCH_SLOW_MS ?= 10
bench: deps bench-deps host $(CIPHER_SPEED) $(CIPHER_SPEED_STOCK) $(CIPHER_SPEED_CROSS)
	$(Q)set -e; for slow in 0 $(BENCH_SLOW_MS); do for s in 10 50; do \
		BENCH_SESSIONS=$$s BENCH_FSYNC_DELAY_MS=$$slow $(PY) tests/bench/smtp_bench $(O); \
	done; done
	$(Q)BENCH_FSYNC_DELAY_MS=$(BENCH_SLOW_MS) $(PY) tests/bench/bench_latency.py $(O)
	$(Q)$(PY) tests/bench/bench_pop3s.py $(O)
	$(Q)$(PY) tests/bench/bench_imap.py $(O)
	$(Q)$(PY) tests/bench/bench_tls.py $(O)
