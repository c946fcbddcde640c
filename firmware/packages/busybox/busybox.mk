# BusyBox: init, shell, mdev, syslogd, udhcpc, ntpd, getty/login ... for the image.
# Sources are fetched and hash-checked here; the image build (board issue) configures
# and builds them.
BUSYBOX_VERSION := 1.37.0
BUSYBOX_DEBVERSION := 1:1.37.0-6
BUSYBOX_SUITE := trixie
BUSYBOX_TARBALL := busybox_1.37.0.orig.tar.bz2
BUSYBOX_SHA256 := 3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
$(eval $(call pkg-source,busybox,BUSYBOX))
