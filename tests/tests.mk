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

.PHONY: test test-unit test-integration
test: deps
	$(Q)$(MAKE) --no-print-directory test-unit test-integration

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "  UNIT    $$(basename $$t)"; $$t; done

# The integration tests run against the ASan+UBSan build, so a memory error anywhere a
# real client can reach fails the run.
test-integration: asan host
	$(Q)cd tests/integration && MGW_BIN=$(O)/asan/bin MGW_HOST_BIN=$(O)/host/bin \
		MGW_OUTPUT=$(O) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .
