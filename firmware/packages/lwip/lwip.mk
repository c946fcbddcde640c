# lwIP: the TCP/IP stack behind the transport interface for simulated-network tests and
# a future microcontroller build. Sources are fetched and hash-checked here.
# Debian repacks the upstream tarball (+dfsg1) without non-free files.
LWIP_VERSION := 2.2.1
LWIP_DEBVERSION := 2.2.1+dfsg1-1+deb13u1
LWIP_SUITE := trixie
LWIP_TARBALL := lwip_2.2.1+dfsg1.orig.tar.xz
LWIP_SHA256 := 83729c274c499d3348e9fbbe043a3113f3fa8953e7efddc7c21c7fcbb1f2b7b1
$(eval $(call pkg-source,lwip,LWIP))

# Built for the host only, as a library of the simulation and test build (tests/netsim):
# NO_SYS=1, raw API, IPv4 + TCP, with our lwipopts.h and port (port/). The sanitizer
# variants use the same compiler and sanitizer flags as our code, like mbedTLS.
LWIP_PORT := $(TOP)/firmware/packages/lwip/port
LWIP_INC := -I$(LWIP_PORT)/include -I$(LWIP_SRC)/src/include
LWIP_CORE_SRCS := def.c inet_chksum.c init.c ip.c mem.c memp.c netif.c pbuf.c stats.c \
	sys.c tcp.c tcp_in.c tcp_out.c timeouts.c ipv4/icmp.c ipv4/ip4.c ipv4/ip4_addr.c
LWIP_HDRS := $(wildcard $(LWIP_PORT)/include/*.h $(LWIP_PORT)/include/arch/*.h)

# $(1): host, asan or fuzz; $(2): C compiler; $(3): C flags
define lwip-build
LWIP_$(1)_LIB := $$(LWIP_DIR)/$(1)/liblwip.a
LWIP_$(1)_OBJS := $$(patsubst %.c,$$(LWIP_DIR)/$(1)/obj/%.o,$$(LWIP_CORE_SRCS)) \
	$$(LWIP_DIR)/$(1)/obj/port/sys_arch.o
$$(LWIP_DIR)/$(1)/obj/port/%.o: $$(LWIP_PORT)/%.c $$(LWIP_HDRS) firmware/packages/lwip/lwip.mk \
		| $$(LWIP_SRC)/.stamp_extracted
	@mkdir -p $$(@D)
	@echo "  CC      lwip port/$$*.c ($(1))"
	$$(Q)$(2) $(3) $$(LWIP_INC) -c $$< -o $$@
$$(LWIP_DIR)/$(1)/obj/%.o: $$(LWIP_SRC)/.stamp_extracted $$(LWIP_HDRS) firmware/packages/lwip/lwip.mk
	@mkdir -p $$(@D)
	@echo "  CC      lwip-$$(LWIP_VERSION) $$*.c ($(1))"
	$$(Q)$(2) $(3) $$(LWIP_INC) -c $$(LWIP_SRC)/src/core/$$*.c -o $$@
$$(LWIP_$(1)_LIB): $$(LWIP_$(1)_OBJS)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef

$(eval $(call lwip-build,host,$(HOSTCC),-std=gnu11 -O2 -g))
$(eval $(call lwip-build,asan,$(HOSTCC),-std=gnu11 -O1 -g $(SANITIZE)))
$(eval $(call lwip-build,fuzz,$(CLANG),-std=gnu11 -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)))

.PHONY: lwip
lwip: $(LWIP_host_LIB) $(LWIP_asan_LIB)
