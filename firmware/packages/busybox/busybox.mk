# BusyBox: init, shell, mdev, syslogd, udhcpc, ntpd, getty/login ... for the image.
# Sources are fetched and hash-checked here; the image build (board issue) configures
# and builds them.
BUSYBOX_VERSION := 1.37.0
BUSYBOX_DEBVERSION := 1:1.37.0-6
BUSYBOX_SUITE := trixie
BUSYBOX_TARBALL := busybox_1.37.0.orig.tar.bz2
BUSYBOX_SHA256 := 3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
$(eval $(call pkg-source,busybox,BUSYBOX))

# Target build: out of tree in output/build/busybox-1.37.0/target, configured from
# nothing (allnoconfig) plus our fragment, so the applet list is exactly the fragment's.
BUSYBOX_FRAGMENT := $(TOP)/firmware/packages/busybox/busybox.fragment
BUSYBOX_BUILD := $(BUSYBOX_DIR)/target
BUSYBOX_BIN := $(BUSYBOX_BUILD)/busybox

# BusyBox's allnoconfig ignores KCONFIG_ALLCONFIG, so: allnoconfig, our values merged
# over it, then oldconfig answers the sub-options the merge exposed with their defaults.
$(BUSYBOX_BUILD)/.config: $(BUSYBOX_SRC)/.stamp_extracted $(BUSYBOX_FRAGMENT) $(KCONFIG_MK)
	@echo "  CONFIG  busybox-$(BUSYBOX_VERSION) (target, $(CONFIG_TARGET_ARCH))"
	$(Q)rm -rf $(BUSYBOX_BUILD) && mkdir -p $(BUSYBOX_BUILD)
	$(Q)$(MAKE) -s -C $(BUSYBOX_SRC) O=$(BUSYBOX_BUILD) allnoconfig >$(BUSYBOX_BUILD)/config.log 2>&1 || \
		{ tail -20 $(BUSYBOX_BUILD)/config.log; exit 1; }
	$(Q)awk -F= 'NR == FNR { if ($$0 ~ /^CONFIG_/) { v[$$1] = $$0 }; next } \
		{ k = $$0; if (k ~ /^# CONFIG_.* is not set$$/) { split(k, a, " "); k = a[2] } else { sub(/=.*/, "", k) } } \
		k in v { print v[k]; delete v[k]; next } { print } \
		END { for (k in v) print v[k] }' $(BUSYBOX_FRAGMENT) $(BUSYBOX_BUILD)/.config > $(BUSYBOX_BUILD)/.config.new
	$(Q)mv $(BUSYBOX_BUILD)/.config.new $(BUSYBOX_BUILD)/.config
	$(Q)yes "" | $(MAKE) -s -C $(BUSYBOX_BUILD) oldconfig >>$(BUSYBOX_BUILD)/config.log 2>&1 || \
		{ tail -20 $(BUSYBOX_BUILD)/config.log; exit 1; }

$(BUSYBOX_BIN): $(BUSYBOX_BUILD)/.config
	@echo "  BUILD   busybox-$(BUSYBOX_VERSION) (target, $(CONFIG_TARGET_ARCH))"
	$(Q)$(MAKE) -C $(BUSYBOX_BUILD) CROSS_COMPILE=$(CONFIG_TARGET_CROSS) \
		EXTRA_CFLAGS="-O2" busybox >$(BUSYBOX_BUILD)/build.log 2>&1 || \
		{ tail -30 $(BUSYBOX_BUILD)/build.log; exit 1; }

# Installs the binary and its applet links into $(1).
define busybox-install
	$(Q)$(MAKE) -s -C $(BUSYBOX_BUILD) CROSS_COMPILE=$(CONFIG_TARGET_CROSS) \
		CONFIG_PREFIX=$(1) install >$(BUSYBOX_BUILD)/install.log 2>&1 || \
		{ tail -20 $(BUSYBOX_BUILD)/install.log; exit 1; }
endef

.PHONY: busybox
busybox: $(BUSYBOX_BIN)
