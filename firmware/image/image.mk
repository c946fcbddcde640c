# image.mk - the configured board's image in output/images (see firmware/image/mkimage.py)
# and `make run`, which boots it in QEMU.
#
# A board layer board/<board>/ has: defconfig, board.mk (kernel package, cross sysroot,
# device trees, boot firmware), modules (the kernel modules to carry), optionally
# rootfs/ (files over the common overlay), genimage.cfg, config.txt/cmdline.txt (Pi),
# run-qemu.sh (QEMU boards).
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
# (directories too: a renamed or removed file changes its directory)
IMAGE_INPUTS := $(addprefix $(O)/target/bin/,$(PROGRAMS)) $(BUSYBOX_BIN) \
	$(KROOT)/.stamp_extracted $(if $(FW_ROOT),$(FW_ROOT)/.stamp_extracted) \
	$(shell find $(TOP)/rootfs $(BOARD_DIR) ! -type l 2>/dev/null) firmware/image/mkimage.py \
	firmware/image/image.mk $(KCONFIG_MK)

$(IMAGE_STAMP): $(IMAGE_INPUTS)
	@echo "  IMAGE   $(CONFIG_BOARD_NAME) -> $(IMAGES)"
	$(Q)rm -rf $(STAGING) && mkdir -p $(STAGING) $(IMAGES)
	$(call busybox-install,$(STAGING))
	$(Q)$(PY) firmware/image/mkimage.py --board $(CONFIG_BOARD_NAME) --board-dir $(BOARD_DIR) \
		--staging $(STAGING) --images $(IMAGES) --cross $(CONFIG_TARGET_CROSS) \
		--sysroot $(BOARD_SYSROOT) --kroot $(KROOT) --kver $(KVER) \
		--kernel-file $(BOARD_KERNEL_FILE) --overlay $(TOP)/rootfs \
		--console $(CONFIG_BOARD_CONSOLE) --version $(IMAGE_VERSION) \
		--build-time $(BUILD_TIME) --modules $(BOARD_DIR)/modules \
		--clock-max-ahead-days $(CONFIG_CLOCK_MAX_AHEAD_DAYS) \
		$(addprefix --program ,$(addprefix $(O)/target/bin/,$(PROGRAMS))) \
		$(addprefix --dtb ,$(BOARD_DTBS)) \
		$(if $(FW_ROOT),--firmware-dir $(FW_ROOT)/usr/lib/raspi-firmware) \
		$(addprefix --firmware-file ,$(BOARD_FIRMWARE_FILES))
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
	@echo "mailgw on $(CONFIG_BOARD_NAME) in QEMU. Serial console here (log in as root);"
	@echo "  quit QEMU with Ctrl-A X. /data is kept in $(RUN_DATA) (delete it for a first boot)."
	@echo "  SMTP   127.0.0.1:2525 -> 25   e.g. swaks --server 127.0.0.1:2525 --to user@your.domain"
	@echo "  IMAPS  127.0.0.1:9993 -> 993  POP3S 127.0.0.1:9995 -> 995 (client certificate required)"
	$(Q)$(BOARD_DIR)/run-qemu.sh $(IMAGES) $(RUN_DATA)

# The host build of mailgwd in the foreground (what `make run` was before the image).
run-host: deps host
	$(Q)$(PY) tests/run_host.py $(O)
