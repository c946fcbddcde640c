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

.PHONY: test test-unit test-integration test-system system-images
test: deps
	$(Q)$(MAKE) --no-print-directory test-unit test-integration test-system

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done

# The integration tests run against the ASan+UBSan build, so a memory error anywhere a
# real client can reach fails the run.
test-integration: asan host
	$(Q)cd tests/integration && MGW_BIN=$(O)/asan/bin MGW_HOST_BIN=$(O)/host/bin \
		MGW_OUTPUT=$(O) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .

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
