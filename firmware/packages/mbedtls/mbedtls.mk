# mbedTLS 3.6 LTS: the TLS, X.509 and crypto library, built as static libraries for the
# host (tests) and the target, with our mbedtls_config.h as MBEDTLS_USER_CONFIG_FILE.
# 3.6.7 is the newest 3.6 release in Debian (forky and sid; trixie has 3.6.6). The archive's
# forky Release file may be past its Valid-Until date: accepted for this suite only, the
# tarball's sha256 pin is what guarantees its integrity (fetch.sh).
MBEDTLS_VERSION := 3.6.7
MBEDTLS_DEBVERSION := 3.6.7-3
MBEDTLS_SUITE := forky
MBEDTLS_SUITE_VALID_UNTIL := ignore
MBEDTLS_TARBALL := mbedtls_3.6.7.orig.tar.bz2
MBEDTLS_SHA256 := a7e8bcbec0e6f761b4af24f25677626b35f762f68eef79c08677a363212d11f6
$(eval $(call pkg-source,mbedtls,MBEDTLS))

MBEDTLS_USER_CONFIG := $(TOP)/firmware/packages/mbedtls/mbedtls_config.h
# Our AES-GCM, ChaCha20 and Poly1305 replace mbedTLS's (MBEDTLS_GCM_ALT,
# MBEDTLS_CHACHA20_ALT, MBEDTLS_POLY1305_ALT in mbedtls_config.h; firmware/lib/tls/gcm and
# firmware/lib/tls/chacha, README "TLS cost"): mbedtls/gcm.h then includes gcm_alt.h,
# mbedtls/chacha20.h chacha20_alt.h and mbedtls/poly1305.h poly1305_alt.h from those
# folders, so they are on the include path of mbedTLS's own build and of everything
# compiled against it, and their objects, compiled with the flags of each build, are added
# to that build's libmbedcrypto.a: whatever links mbedTLS links them.
MBEDTLS_ALT_DIRS := gcm chacha
MBEDTLS_ALT_SRCS := $(sort $(foreach d,$(MBEDTLS_ALT_DIRS),$(wildcard firmware/lib/tls/$(d)/*.c)))
MBEDTLS_ALT_HDRS := $(foreach d,$(MBEDTLS_ALT_DIRS),$(wildcard firmware/lib/tls/$(d)/*.h))
MBEDTLS_ALT_API_HDRS := $(foreach h,gcm/gcm_alt.h chacha/chacha20_alt.h chacha/poly1305_alt.h,\
	$(TOP)/firmware/lib/tls/$(h))
MBEDTLS_ALT_INCS := $(foreach d,$(MBEDTLS_ALT_DIRS),-I$(TOP)/firmware/lib/tls/$(d))
MBEDTLS_CFLAGS := -DMBEDTLS_USER_CONFIG_FILE='"$(MBEDTLS_USER_CONFIG)"' $(MBEDTLS_ALT_INCS)
MBEDTLS_INC := $(MBEDTLS_SRC)/include
MBEDTLS_LIBNAMES := libmbedtls.a libmbedx509.a libmbedcrypto.a
# The benchmarks' stock mbedTLS: our configuration less the ALT modules (bench_tls.py
# prints its AES-GCM and ChaCha20-Poly1305 beside ours); never linked into a program of
# the image or the tests.
MBEDTLS_STOCK_CONFIG := $(TOP)/tests/bench/mbedtls_stock_config.h

# $(1): host, asan, fuzz or target; $(2): C compiler; $(3): C flags; $(4): extra cmake
# arguments; $(5): extra prerequisites (the target build depends on the configured board's
# toolchain); $(6): empty, or another configuration file, for a stock build without our
# modules. CMake's Release type adds mbedTLS's own -O2 after $(3); our objects get the same.
define mbedtls-build
MBEDTLS_$(1)_LIBS := $$(addprefix $$(MBEDTLS_DIR)/$(1)/library/,$$(MBEDTLS_LIBNAMES))
MBEDTLS_$(1)_CONF := $(if $(6),$(6),$$(MBEDTLS_USER_CONFIG))
MBEDTLS_$(1)_INCS := $(if $(6),,$$(MBEDTLS_ALT_INCS))
MBEDTLS_$(1)_ALT_OBJS := $(if $(6),,$$(patsubst firmware/lib/tls/%.c,$$(MBEDTLS_DIR)/$(1)/mgw_alt/%.o,$$(MBEDTLS_ALT_SRCS)))
$$(MBEDTLS_DIR)/$(1)/.stamp_built: $$(MBEDTLS_SRC)/.stamp_extracted $$(MBEDTLS_USER_CONFIG) \
		$(if $(6),$(6),$$(MBEDTLS_ALT_API_HDRS)) firmware/packages/mbedtls/mbedtls.mk $(5)
	@echo "  BUILD   mbedtls-$$(MBEDTLS_VERSION) ($(1))"
	$$(Q)rm -rf $$(MBEDTLS_DIR)/$(1) && mkdir -p $$(MBEDTLS_DIR)/$(1)
	$$(Q)cmake -S $$(MBEDTLS_SRC) -B $$(MBEDTLS_DIR)/$(1) -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_COMPILER=$(2) -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
		-DMBEDTLS_FATAL_WARNINGS=OFF -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DMBEDTLS_USER_CONFIG_FILE=$$(MBEDTLS_$(1)_CONF) \
		-DCMAKE_C_FLAGS="$(3) $$(MBEDTLS_$(1)_INCS)" $(4) >$$(MBEDTLS_DIR)/$(1)/cmake.log 2>&1 || \
		{ tail -20 $$(MBEDTLS_DIR)/$(1)/cmake.log; exit 1; }
	$$(Q)$$(MAKE) -s -C $$(MBEDTLS_DIR)/$(1) >$$(MBEDTLS_DIR)/$(1)/build.log 2>&1 || \
		{ tail -30 $$(MBEDTLS_DIR)/$(1)/build.log; exit 1; }
	$$(Q)touch $$@ && touch $$(MBEDTLS_$(1)_LIBS)

$$(MBEDTLS_DIR)/$(1)/mgw_alt/%.o: firmware/lib/tls/%.c $$(MBEDTLS_ALT_HDRS) \
		$$(MBEDTLS_DIR)/$(1)/.stamp_built
	@mkdir -p $$(@D)
	@echo "  CC      $$< (mbedtls $(1))"
	$$(Q)$(2) -std=c11 -D_GNU_SOURCE $$(WARN) $(3) -O2 -I$$(MBEDTLS_INC) $$(MBEDTLS_CFLAGS) \
		-c $$< -o $$@

# The archiver CMake found for this build's compiler adds the objects (a cross one for
# the target).
$$(MBEDTLS_DIR)/$(1)/.stamp_alt: $$(MBEDTLS_DIR)/$(1)/.stamp_built $$(MBEDTLS_$(1)_ALT_OBJS)
	$$(Q)$(if $(6),true,ar=$$$$(sed -n 's/^CMAKE_AR:FILEPATH=//p' $$(MBEDTLS_DIR)/$(1)/CMakeCache.txt) && \
		$$$$ar rcs $$(MBEDTLS_DIR)/$(1)/library/libmbedcrypto.a $$(MBEDTLS_$(1)_ALT_OBJS))
	$$(Q)touch $$@ && touch $$(MBEDTLS_$(1)_LIBS)
$$(MBEDTLS_$(1)_LIBS): $$(MBEDTLS_DIR)/$(1)/.stamp_built $$(MBEDTLS_DIR)/$(1)/.stamp_alt ;
endef

# The sanitizer builds link an mbedTLS built by the same compiler with the same sanitizer
# flags as our code, so ASan and UBSan also see the library's own reads and writes (a
# configuration freed under a live session is only visible inside mbedtls_ssl_free), and
# the fuzzers' coverage reaches into it. gcc's and clang's sanitizer runtimes must not be
# mixed: asan (gcc) and fuzz (clang) each get their own build; tsan (gcc, make tsan) too.
$(eval $(call mbedtls-build,host,$(HOSTCC),-O2 -g,,))
$(eval $(call mbedtls-build,asan,$(HOSTCC),-O1 -g $(SANITIZE),,))
$(eval $(call mbedtls-build,tsan,$(HOSTCC),-O1 -g $(TSAN),,))
$(eval $(call mbedtls-build,fuzz,$(CLANG),-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE),,))
$(eval $(call mbedtls-build,target,$(TARGET_CC),-O2 -g,-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=$(CONFIG_TARGET_ARCH),$(KCONFIG_MK)))
# Built by the goals that use them only: the aarch64 and armhf builds of the GCM and
# ChaCha20-Poly1305 unit tests run under qemu-user (tests/tests.mk, whatever the configured board), the benchmarks'
# stock mbedTLS.
$(eval $(call mbedtls-build,a64,$(A64_CC),-O2 -g,-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64,))
$(eval $(call mbedtls-build,armhf,$(ARMHF_CC),-O2 -g,-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=arm,))
$(eval $(call mbedtls-build,stock,$(HOSTCC),-O2 -g,,,$(MBEDTLS_STOCK_CONFIG)))
# The stock mbedTLS for aarch64 and armhf too: bench_tls.py compares ChaCha20-Poly1305
# under qemu-user (emulated: relative rates only).
$(eval $(call mbedtls-build,a64stock,$(A64_CC),-O2 -g,-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64,,$(MBEDTLS_STOCK_CONFIG)))
$(eval $(call mbedtls-build,armhfstock,$(ARMHF_CC),-O2 -g,-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=arm,,$(MBEDTLS_STOCK_CONFIG)))
