# mailgw - buildroot-style top-level Makefile.
#
#   make <board>_defconfig   start .config from board/<board>/defconfig
#   make menuconfig          edit .config (kconfiglib)
#   make olddefconfig        update .config for a changed Kconfig
#   make savedefconfig       write the minimal defconfig back to board/<board>/defconfig
#   make                     build the configured board's image (output/images)
#   make host                build mailgwd for this machine (used by the tests)
#   make test                everything CI runs
#   make run                 boot the appliance in QEMU (see README)
#   make run-host            run mailgwd on this machine
#   make deps                install the Debian packages building and testing need
#   make bench               benchmarks against peers (make bench-deps installs the peers)
#   make clean / distclean   remove build output / also downloads and .config
#
# Without a .config the reference board qemu_aarch64_virt is used.

TOP := $(CURDIR)
O := $(TOP)/output
DL := $(TOP)/dl
CONFIG := $(TOP)/.config
DEFAULT_BOARD := qemu_aarch64_virt
PY := /usr/bin/python3
MGWCONFIG := $(PY) $(TOP)/firmware/kconfig/mgwconfig.py $(TOP)/Kconfig $(CONFIG)
KCONFIG_H := $(O)/include/mgw_config.h
KCONFIG_MK := $(O)/include/config.mk

ifeq ($(V),1)
Q :=
else
Q := @
endif

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

# Goals that must not need (or create) a .config first.
NOCONFIG_GOALS := %_defconfig menuconfig clean distclean deps bench-deps help
ifeq ($(filter-out $(NOCONFIG_GOALS),$(MAKECMDGOALS)),)
ifneq ($(MAKECMDGOALS),)
NOCONFIG := 1
endif
endif

# ---- a missing package: one line naming it and the way out, never a traceback ----------
# Goals that install the packages themselves (they depend on `deps`) run it first; every
# other goal that needs one stops here with one line. $(call mgw-need,TEST,WHAT)
mgw-need = $(if $(shell $(1) >/dev/null 2>&1 && echo y),,$(error $(2) is missing: run 'make deps' first (it installs the Debian packages building and testing need)))
NEED_GOALS := $(if $(MAKECMDGOALS),$(MAKECMDGOALS),all)
DEPS_FIRST_GOALS := run run-host test bench
ifneq ($(filter-out clean distclean deps bench-deps help,$(NEED_GOALS)),)
ifeq ($(shell $(PY) -c 'import kconfiglib' >/dev/null 2>&1 && echo y),)
ifneq ($(filter $(DEPS_FIRST_GOALS),$(NEED_GOALS)),)
$(info   DEPS    $(PY) has no kconfiglib: running make deps first)
$(shell $(MAKE) --no-print-directory deps >&2)
endif
$(call mgw-need,$(PY) -c 'import kconfiglib',the Python module kconfiglib for $(PY) (Debian package python3-kconfiglib))
endif
ifneq ($(filter host asan all target test-unit test-integration test-fuzz,$(NEED_GOALS)),)
$(call mgw-need,command -v cmake,cmake (Debian package cmake))
endif
endif

ifneq ($(NOCONFIG),1)
-include $(KCONFIG_MK)
endif

$(O) $(DL):
	$(Q)mkdir -p $@

$(CONFIG):
	@echo "  CONFIG  no .config: using board $(DEFAULT_BOARD)"
	$(Q)$(MGWCONFIG) defconfig $(TOP)/board/$(DEFAULT_BOARD)/defconfig

$(KCONFIG_H): $(CONFIG) Kconfig | $(O)
	$(Q)$(MGWCONFIG) header $@

$(KCONFIG_MK): $(CONFIG) Kconfig | $(O)
	$(Q)$(MGWCONFIG) mk $@

%_defconfig: board/%/defconfig
	$(Q)$(MGWCONFIG) defconfig $(TOP)/$<
	@echo "  CONFIG  .config for board $*"

.PHONY: menuconfig olddefconfig savedefconfig
menuconfig:
	$(Q)test -f $(CONFIG) || $(MGWCONFIG) defconfig $(TOP)/board/$(DEFAULT_BOARD)/defconfig
	$(Q)KCONFIG_CONFIG=$(CONFIG) $(PY) -m menuconfig $(TOP)/Kconfig

olddefconfig: $(CONFIG)
	$(Q)$(MGWCONFIG) olddefconfig

savedefconfig: $(CONFIG)
	$(Q)$(MGWCONFIG) savedefconfig $(TOP)/board/$(CONFIG_BOARD_NAME)/defconfig

# ---- toolchains --------------------------------------------------------------------
HOSTCC := gcc
TARGET_CC := $(CONFIG_TARGET_CROSS)gcc
CLANG := clang
# cross compilers of the GCM unit test run under qemu-user, whatever the board
A64_CC := aarch64-linux-gnu-gcc
ARMHF_CC := arm-linux-gnueabihf-gcc
# The sanitizer flags of the asan (gcc) and fuzz (clang) variants; mbedTLS is built with
# them too (firmware/packages/mbedtls/mbedtls.mk).
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# ThreadSanitizer (make tsan, by hand, not part of make test): the worker threads, the TLS
# handshakes on them and mbedTLS's own locking (README "TLS cost").
TSAN := -fsanitize=thread -fno-omit-frame-pointer

# ---- packages ----------------------------------------------------------------------
include firmware/packages/pkg.mk
include $(sort $(wildcard firmware/packages/*/*.mk))

# ---- our code ----------------------------------------------------------------------
LIB_SRCS := $(sort $(wildcard firmware/lib/*/*.c) $(wildcard drivers/*/*.c))
PROGRAMS := mailgwd
mailgwd_SRCS := $(sort $(wildcard firmware/mailgwd/*.c))
PROGRAMS += mailgw-keygen
mailgw-keygen_SRCS := firmware/tools/keygen/main.c
PROGRAMS += mailgw
mailgw_SRCS := $(sort $(wildcard firmware/cli/*.c))
# the console is built on libcli (firmware/packages/libcli): $(1) is the variant
mailgw_EXTRA = $(LIBCLI_$(1)_LIB)
PROGRAMS += mailgw-passwd
mailgw-passwd_SRCS := $(sort $(wildcard firmware/tools/passwd/*.c))
PROGRAMS += mailgw-layout
mailgw-layout_SRCS := $(sort $(wildcard firmware/tools/layout/*.c))
PROGRAMS += crlwatch
crlwatch_SRCS := $(sort $(wildcard firmware/crlwatch/*.c))
# Build-machine tools: built for the host variants only, never put in the image.
HOST_TOOLS := mgw-bundle
mgw-bundle_SRCS := $(sort $(wildcard firmware/tools/bundle/*.c))

WARN := -Wall -Wextra -Werror -Wundef -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -pthread $(WARN) -g -I$(TOP)/firmware/lib -I$(TOP)/drivers -I$(O)/include \
	-I$(MBEDTLS_INC) $(MBEDTLS_CFLAGS) -I$(LIBCLI_INC) -fstack-protector-strong -D_FORTIFY_SOURCE=2

# $(1) variant, $(2) compiler, $(3) extra CFLAGS, $(4) extra LDFLAGS, $(5) mbedTLS libs
define mgw-variant
$(1)_OBJDIR := $$(O)/$(1)/obj
$(1)_LIB := $$(O)/$(1)/libmgw.a
$(1)_LIB_OBJS := $$(patsubst %.c,$$($(1)_OBJDIR)/%.o,$$(LIB_SRCS))
$(1)_CC := $(2)
$(1)_CFLAGS := $$(CFLAGS_COMMON) $(3)
$(1)_LDFLAGS := $(4)
$(1)_MBEDTLS := $(5)

$$($(1)_OBJDIR)/%.o: %.c $$(KCONFIG_H) | $$(MBEDTLS_SRC)/.stamp_extracted $$(LIBCLI_SRC)/.stamp_extracted
	@mkdir -p $$(@D)
	@echo "  CC      $$< ($(1))"
	$$(Q)$(2) $$($(1)_CFLAGS) -MMD -MP -c $$< -o $$@

$$($(1)_LIB): $$($(1)_LIB_OBJS)
	$$(Q)rm -f $$@ && $$(CROSS_AR_$(1))ar rcs $$@ $$^

$$(foreach p,$$(PROGRAMS) $$(HOST_TOOLS),$$(eval $$(call mgw-program,$(1),$$(p))))
-include $$($(1)_LIB_OBJS:.o=.d)
endef

define mgw-program
$(1)_$(2)_OBJS := $$(patsubst %.c,$$($(1)_OBJDIR)/%.o,$$($(2)_SRCS))
$(1)_$(2)_EXTRA := $$(call $(2)_EXTRA,$(1))
$$(O)/$(1)/bin/$(2): $$($(1)_$(2)_OBJS) $$($(1)_LIB) $$($(1)_MBEDTLS) $$($(1)_$(2)_EXTRA)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$$(Q)$$($(1)_CC) $$($(1)_CFLAGS) -o $$@ $$($(1)_$(2)_OBJS) $$($(1)_$(2)_EXTRA) $$($(1)_LIB) $$($(1)_MBEDTLS) $$($(1)_LDFLAGS)
-include $$($(1)_$(2)_OBJS:.o=.d)
endef

CROSS_AR_host :=
CROSS_AR_asan :=
CROSS_AR_target := $(CONFIG_TARGET_CROSS)
$(eval $(call mgw-variant,host,$(HOSTCC),-O2,,$(MBEDTLS_host_LIBS)))
$(eval $(call mgw-variant,asan,$(HOSTCC),-O1 $(SANITIZE),$(SANITIZE),$(MBEDTLS_asan_LIBS)))
$(eval $(call mgw-variant,target,$(TARGET_CC),-O2,,$(MBEDTLS_target_LIBS)))
CROSS_AR_tsan :=
$(eval $(call mgw-variant,tsan,$(HOSTCC),-O1 $(TSAN),$(TSAN),$(MBEDTLS_tsan_LIBS)))
CROSS_AR_fuzz :=
$(eval $(call mgw-variant,fuzz,$(CLANG),-O1 -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE),,$(MBEDTLS_fuzz_LIBS)))

.PHONY: all host asan tsan target
all: target image
host: $(addprefix $(O)/host/bin/,$(PROGRAMS) $(HOST_TOOLS))
asan: $(addprefix $(O)/asan/bin/,$(PROGRAMS) $(HOST_TOOLS))
tsan: $(O)/tsan/bin/mailgwd
target: $(addprefix $(O)/target/bin/,$(PROGRAMS))

include tests/tests.mk

# ---- image and run (board image, QEMU) ----------------------------------------------
include firmware/image/image.mk

# ---- deps ---------------------------------------------------------------------------
DEPS_PKGS := build-essential git cmake bzip2 xz-utils python3 python3-kconfiglib \
	debian-archive-keyring libcmocka-dev python3-pytest python3-pytest-xdist python3-pexpect clang \
	libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf \
	libc6-dev-armhf-cross qemu-system-arm openssl curl fetchmail swaks isync mutt \
	genimage e2fsprogs dosfstools mtools cpio kmod xz-utils \
	libnet-ssleay-perl postfix libnss3-tools nginx u-boot-tools \
	dovecot-core dovecot-imapd libssl-dev qemu-user

# Peers the benchmarks measure against (make bench), never needed by make test.
BENCH_PKGS := dovecot-core dovecot-pop3d dovecot-imapd

.PHONY: deps bench-deps
bench-deps:
	$(Q)$(MAKE) --no-print-directory deps DEPS_PKGS="$(BENCH_PKGS)"

deps:
	$(Q)missing=$$(for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS    installing:" $$missing; \
		apt-get -o Acquire::Retries=3 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 install -y -q \
			--no-install-recommends $$missing; \
	fi

# ---- housekeeping --------------------------------------------------------------------
.PHONY: clean distclean help
clean:
	$(Q)rm -rf $(O)

distclean: clean
	$(Q)rm -rf $(DL) $(CONFIG) $(CONFIG).old

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'
