# libcli: a Cisco-style command-line library (commands and sub-commands, `?` help,
# TAB completion with per-argument completion callbacks, history, unique-prefix
# abbreviations, line editing on a raw terminal). The console `mailgw` is built on it.
# Built as one static library per variant (host, asan, fuzz, target), compiled directly
# (its Makefile also builds a shared library and a test program we do not need).
#
# libcli calls crypt(3) only for passwords given to cli_allow_user()/cli_allow_enable()
# in "{crypt}"/"$1$" form; we never use its own login (the console checks the admin
# password itself with our SHA-crypt), so crypt is defined away (nocrypt.h) and the image
# needs no libcrypt.
LIBCLI_VERSION := 1.10.7
LIBCLI_DEBVERSION := 1.10.7-1
LIBCLI_SUITE := bookworm
LIBCLI_TARBALL := libcli_1.10.7.orig.tar.gz
LIBCLI_SHA256 := 179f78592f73492c22cc1b544b6f8cb0f6630a2f670430c118b8e084e6562e74
$(eval $(call pkg-source,libcli,LIBCLI))

LIBCLI_INC := $(LIBCLI_SRC)
LIBCLI_CFLAGS := -std=gnu99 -g -DLIBCLI_USE_POLL -include $(TOP)/firmware/packages/libcli/nocrypt.h \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC

# $(1): variant; $(2): C compiler; $(3): extra flags; $(4): ar prefix; $(5): extra
# prerequisites (the target build depends on the configured board's toolchain)
define libcli-build
LIBCLI_$(1)_LIB := $$(LIBCLI_DIR)/$(1)/libcli.a
$$(LIBCLI_$(1)_LIB): $$(LIBCLI_SRC)/.stamp_extracted firmware/packages/libcli/libcli.mk \
		firmware/packages/libcli/nocrypt.h $(5)
	@echo "  BUILD   libcli-$$(LIBCLI_VERSION) ($(1))"
	$$(Q)mkdir -p $$(@D)
	$$(Q)$(2) $$(LIBCLI_CFLAGS) $(3) -c $$(LIBCLI_SRC)/libcli.c -o $$(@D)/libcli.o
	$$(Q)rm -f $$@ && $(4)ar rcs $$@ $$(@D)/libcli.o
endef

$(eval $(call libcli-build,host,$(HOSTCC),-O2,,))
$(eval $(call libcli-build,asan,$(HOSTCC),-O1 $$(SANITIZE),,))
$(eval $(call libcli-build,fuzz,$(CLANG),-O1 -fsanitize=fuzzer-no-link $$(FUZZ_SANITIZE),,))
$(eval $(call libcli-build,target,$(TARGET_CC),-O2,$(CONFIG_TARGET_CROSS),$(KCONFIG_MK)))
