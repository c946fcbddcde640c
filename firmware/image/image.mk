# image.mk - the configured board's image in output/images (see firmware/image/mkimage.py)
# and `make run`, which boots it in QEMU.
#
# A board layer board/<board>/ has: defconfig, board.mk (kernel package, cross sysroot,
# device trees, boot firmware), modules (the kernel modules to carry), optionally
# rootfs/ (files over the common overlay), genimage.cfg and config.txt (Pi: the SD card),
# run-qemu.sh (QEMU boards), boot.cmd (U-Boot A/B script; BOARD_UBOOT, BOARD_UBOOT_BIN,
# BOARD_UBOOT_SCRIPT another board's boot.cmd, BOARD_UBOOT_BOOT bootz for a zImage,
# BOARD_UBOOT_CONSOLE the kernel's console when not CONFIG_BOARD_CONSOLE, BOARD_UBOOT_FDT
# fdt_addr to boot with the device tree the firmware before U-Boot passed),
# BOARD_EXTRA_PROGRAMS (binaries from Debian packages, with BOARD_EXTRA_STAMPS).
BOARD_DIR := $(TOP)/board/$(CONFIG_BOARD_NAME)
-include $(BOARD_DIR)/board.mk
IMAGES := $(O)/images
STAGING := $(O)/target/rootfs
IMAGE_STAMP := $(IMAGES)/.stamp_image
KROOT := $($(BOARD_KERNEL)_ROOT)
KVER := $($(BOARD_KERNEL)_KVER)
FW_ROOT := $(if $(BOARD_FIRMWARE),$($(BOARD_FIRMWARE)_ROOT))
IMAGE_VERSION := $(shell git -C $(TOP) describe --always --dirty 2>/dev/null || echo unknown)
# The clock is never set earlier than this at boot (SOURCE_DATE_EPOCH if given).
BUILD_TIME = $(or $(SOURCE_DATE_EPOCH),$(shell date +%s))
IMAGE_REVISION := $(shell git -C $(TOP) rev-parse HEAD 2>/dev/null || echo unknown)
UBOOT_ROOT := $(if $(BOARD_UBOOT),$($(BOARD_UBOOT)_ROOT))

# ---- the update key: MGW_UPDATE_KEY (a P-256 private key, PEM), else a throwaway
# development key made once in output/update-key/ (the image and `mailgw status` say so).
# Only its public half goes into the image (/etc/mailgw/update-keys/).
UPDATE_KEY_DIR := $(O)/update-key
ifneq ($(MGW_UPDATE_KEY),)
UPDATE_KEY := $(abspath $(MGW_UPDATE_KEY))
UPDATE_KEY_KIND := release
else
UPDATE_KEY := $(UPDATE_KEY_DIR)/development.key
UPDATE_KEY_KIND := development
endif
UPDATE_PUB := $(UPDATE_KEY_DIR)/$(UPDATE_KEY_KIND).pem
MGW_BUNDLE := $(O)/host/bin/mgw-bundle

$(UPDATE_KEY_DIR)/development.key: | $(MGW_BUNDLE)
	@mkdir -p $(@D)
	@echo "  KEYGEN  $@ (throwaway development update key: NOT for release builds)"
	$(Q)$(MGW_BUNDLE) keygen $@ $@.pub && rm -f $@.pub

$(UPDATE_PUB): $(UPDATE_KEY) $(MGW_BUNDLE)
	@mkdir -p $(@D)
	$(Q)$(MGW_BUNDLE) pubkey $(UPDATE_KEY) $@

# The files of a slot (what an update replaces), in the order the bundle holds them.
SLOT_FILES := $(IMAGES)/$(BOARD_KERNEL_FILE) $(IMAGES)/rootfs.cpio.gz
# A board with an SD card (genimage.cfg, the Pi) has its boot firmware, config.txt and
# device trees beside U-Boot on the boot partition: the firmware's part, not a slot's.
SDCARD_CFG := $(wildcard $(BOARD_DIR)/genimage.cfg)
BOOT_ROOT_FILES := $(IMAGES)/u-boot.bin $(addprefix $(IMAGES)/,$(BOARD_FIRMWARE_FILES) \
	$(if $(wildcard $(BOARD_DIR)/config.txt),config.txt) $(notdir $(BOARD_DTBS)))

# (directories too: a renamed or removed file changes its directory)
IMAGE_INPUTS := $(addprefix $(O)/target/bin/,$(PROGRAMS)) $(BUSYBOX_BIN) \
	$(KROOT)/.stamp_extracted $(if $(FW_ROOT),$(FW_ROOT)/.stamp_extracted) \
	$(shell find $(TOP)/rootfs $(BOARD_DIR) ! -type l 2>/dev/null) firmware/image/mkimage.py \
	firmware/image/image.mk firmware/image/mkbootdisk.py $(KCONFIG_MK) $(UPDATE_PUB) $(MGW_BUNDLE) \
	$(if $(UBOOT_ROOT),$(UBOOT_ROOT)/.stamp_extracted) $(BOARD_UBOOT_SCRIPT) $(BOARD_EXTRA_STAMPS)

$(IMAGE_STAMP): $(IMAGE_INPUTS)
	@echo "  IMAGE   $(CONFIG_BOARD_NAME) -> $(IMAGES)"
	$(Q)rm -rf $(STAGING) && mkdir -p $(STAGING) $(IMAGES)
	$(call busybox-install,$(STAGING))
	$(Q)bt=$(BUILD_TIME); $(PY) firmware/image/mkimage.py --board $(CONFIG_BOARD_NAME) --board-dir $(BOARD_DIR) \
		--staging $(STAGING) --images $(IMAGES) --cross $(CONFIG_TARGET_CROSS) \
		--sysroot $(BOARD_SYSROOT) --kroot $(KROOT) --kver $(KVER) \
		--kernel-file $(BOARD_KERNEL_FILE) --overlay $(TOP)/rootfs \
		--console $(CONFIG_BOARD_CONSOLE) --version $(IMAGE_VERSION) \
		--build-time $$bt --modules $(BOARD_DIR)/modules \
		--clock-max-ahead-days $(CONFIG_CLOCK_MAX_AHEAD_DAYS) \
		$(addprefix --program ,$(addprefix $(O)/target/bin/,$(PROGRAMS)) $(BOARD_EXTRA_PROGRAMS)) \
		$(addprefix --dtb ,$(BOARD_DTBS)) \
		$(if $(FW_ROOT),--firmware-dir $(FW_ROOT)/usr/lib/raspi-firmware) \
		$(addprefix --firmware-file ,$(BOARD_FIRMWARE_FILES)) \
		--revision $(IMAGE_REVISION) --update-pubkey $(UPDATE_PUB) \
		--update-key-kind $(UPDATE_KEY_KIND) && \
	$(MGW_BUNDLE) create -k $(UPDATE_KEY) -K $(UPDATE_KEY_KIND) -b $(CONFIG_BOARD_NAME) \
		-v $(IMAGE_VERSION) -r $(IMAGE_REVISION) -t $$bt -o $(IMAGES)/update.mgwfw \
		-m $(IMAGES)/manifest $(SLOT_FILES)
ifneq ($(BOARD_UBOOT),)
	$(Q)cp $(UBOOT_ROOT)/$(BOARD_UBOOT_BIN) $(IMAGES)/u-boot.bin
	$(Q)$(PY) firmware/image/mkbootdisk.py --script $(or $(BOARD_UBOOT_SCRIPT),$(BOARD_DIR)/boot.cmd) \
		--kernel-file $(BOARD_KERNEL_FILE) --boot-command $(or $(BOARD_UBOOT_BOOT),booti) \
		--arch $(if $(filter bootz,$(BOARD_UBOOT_BOOT)),arm,arm64) \
		--console $(or $(BOARD_UBOOT_CONSOLE),$(CONFIG_BOARD_CONSOLE)) \
		--fdt $(or $(BOARD_UBOOT_FDT),fdtcontroladdr) --manifest $(IMAGES)/manifest \
		$(if $(SDCARD_CFG),--sdcard $(SDCARD_CFG) --data $(IMAGES)/data.img \
			$(addprefix --root-file ,$(BOOT_ROOT_FILES)),--out $(IMAGES)/boot.img) \
		$(SLOT_FILES)
	@echo "  BOOT    $(IMAGES)/$(if $(SDCARD_CFG),sdcard.img: the SD card,boot.img: U-Boot A/B boot disk), slot a = this build"
endif
	$(Q)touch $@

.PHONY: image
image: $(IMAGE_STAMP)

# ---- make run: boot the configured QEMU board; /data persists in output/run/data.img --
RUN_DATA := $(O)/run/data.img
.PHONY: run run-host
run: deps
	$(Q)$(MAKE) --no-print-directory image
	$(Q)test -x $(BOARD_DIR)/run-qemu.sh || \
		{ echo "make run: $(CONFIG_BOARD_NAME) is not a QEMU board (make qemu_aarch64_virt_defconfig)"; exit 1; }
	$(Q)mkdir -p $(O)/run && { test -f $(RUN_DATA) || cp $(IMAGES)/data.img $(RUN_DATA); }
	$(Q)if test -f $(IMAGES)/boot.img && ! test $(O)/run/boot.img -nt $(IMAGES)/boot.img; then \
		echo "  BOOT    $(O)/run/boot.img: slot a = this build (/data is kept)"; \
		cp --sparse=always $(IMAGES)/boot.img $(O)/run/boot.img; fi
	@echo "mailgw on $(CONFIG_BOARD_NAME) in QEMU. Serial console here (log in as root);"
	@echo "  quit QEMU with Ctrl-A X. /data is kept in $(RUN_DATA) (delete it for a first boot)."
	@echo "  SMTP   127.0.0.1:2525 -> 25   e.g. swaks --server 127.0.0.1:2525 --to user@your.domain"
	@echo "  IMAPS  127.0.0.1:9993 -> 993  POP3S 127.0.0.1:9995 -> 995 (client certificate required)"
	$(Q)$(BOARD_DIR)/run-qemu.sh $(IMAGES) $(RUN_DATA)

# The host build of mailgwd in the foreground (what `make run` was before the image).
run-host: deps host
	$(Q)$(PY) tests/run_host.py $(O)
