# lwIP: the TCP/IP stack behind the transport interface for simulated-network tests and
# a future microcontroller build. Sources are fetched and hash-checked here.
# Debian repacks the upstream tarball (+dfsg1) without non-free files.
LWIP_VERSION := 2.2.1
LWIP_DEBVERSION := 2.2.1+dfsg1-1+deb13u1
LWIP_SUITE := trixie
LWIP_TARBALL := lwip_2.2.1+dfsg1.orig.tar.xz
LWIP_SHA256 := 83729c274c499d3348e9fbbe043a3113f3fa8953e7efddc7c21c7fcbb1f2b7b1
$(eval $(call pkg-source,lwip,LWIP))
