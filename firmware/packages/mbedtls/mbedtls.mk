# mbedTLS 3.6 LTS: the TLS, X.509 and crypto library, built as static libraries for the
# host (tests) and the target, with our mbedtls_config.h as MBEDTLS_USER_CONFIG_FILE.
MBEDTLS_VERSION := 3.6.6
MBEDTLS_DEBVERSION := 3.6.6-0.1~deb13u1
MBEDTLS_SUITE := trixie
MBEDTLS_TARBALL := mbedtls_3.6.6.orig.tar.bz2
MBEDTLS_SHA256 := 8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
$(eval $(call pkg-source,mbedtls,MBEDTLS))

MBEDTLS_USER_CONFIG := $(TOP)/firmware/packages/mbedtls/mbedtls_config.h
MBEDTLS_CFLAGS := -DMBEDTLS_USER_CONFIG_FILE='"$(MBEDTLS_USER_CONFIG)"'
MBEDTLS_INC := $(MBEDTLS_SRC)/include
MBEDTLS_LIBNAMES := libmbedtls.a libmbedx509.a libmbedcrypto.a

# $(1): host or target; $(2): C compiler; $(3): extra cmake arguments; $(4): extra
# prerequisites (the target build depends on the configured board's toolchain)
define mbedtls-build
MBEDTLS_$(1)_LIBS := $$(addprefix $$(MBEDTLS_DIR)/$(1)/library/,$$(MBEDTLS_LIBNAMES))
$$(MBEDTLS_DIR)/$(1)/.stamp_built: $$(MBEDTLS_SRC)/.stamp_extracted $$(MBEDTLS_USER_CONFIG) \
		firmware/packages/mbedtls/mbedtls.mk $(4)
	@echo "  BUILD   mbedtls-$$(MBEDTLS_VERSION) ($(1))"
	$$(Q)rm -rf $$(MBEDTLS_DIR)/$(1) && mkdir -p $$(MBEDTLS_DIR)/$(1)
	$$(Q)cmake -S $$(MBEDTLS_SRC) -B $$(MBEDTLS_DIR)/$(1) -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_COMPILER=$(2) -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
		-DMBEDTLS_FATAL_WARNINGS=OFF -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DMBEDTLS_USER_CONFIG_FILE=$$(MBEDTLS_USER_CONFIG) -DCMAKE_C_FLAGS="-O2 -g" $(3) >$$(MBEDTLS_DIR)/$(1)/cmake.log 2>&1 || \
		{ tail -20 $$(MBEDTLS_DIR)/$(1)/cmake.log; exit 1; }
	$$(Q)$$(MAKE) -s -C $$(MBEDTLS_DIR)/$(1) >$$(MBEDTLS_DIR)/$(1)/build.log 2>&1 || \
		{ tail -30 $$(MBEDTLS_DIR)/$(1)/build.log; exit 1; }
	$$(Q)touch $$@ && touch $$(MBEDTLS_$(1)_LIBS)
$$(MBEDTLS_$(1)_LIBS): $$(MBEDTLS_DIR)/$(1)/.stamp_built ;
endef

$(eval $(call mbedtls-build,host,$(HOSTCC),,))
$(eval $(call mbedtls-build,target,$(TARGET_CC),-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=$(CONFIG_TARGET_ARCH),$(KCONFIG_MK)))
