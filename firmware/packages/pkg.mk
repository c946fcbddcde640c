# pkg.mk - the generic part of a package recipe.
#
# A recipe firmware/packages/<name>/<name>.mk sets, with NAME in upper case:
#   NAME_VERSION   upstream version          NAME_DEBVERSION  Debian source version
#   NAME_SUITE     Debian suite to take it from
#   NAME_TARBALL   the upstream .orig tarball NAME_SHA256      its pinned sha256
#   NAME_SUITE_VALID_UNTIL  optional: "ignore" accepts that suite's Release file past its
#                  Valid-Until date (an archive snapshot of a suite that moves on; the
#                  sha256 pin guarantees the tarball), in that suite's apt configuration only
# and then calls $(eval $(call pkg-source,name,NAME)), which defines
#   NAME_DIR (output/build/name-version), NAME_SRC (extracted sources) and the targets
#   name-source (download + hash check + extract).

define pkg-source
$(2)_DIR := $$(O)/build/$(1)-$$($(2)_VERSION)
$(2)_SRC := $$($(2)_DIR)/src

$$(DL)/$$($(2)_TARBALL): | $$(DL) $$(O)
	$$(Q)FETCH_VALID_UNTIL=$$(or $$($(2)_SUITE_VALID_UNTIL),check) \
		firmware/packages/fetch.sh $$(O) $$(DL) $$($(2)_SUITE) $(1) $$($(2)_DEBVERSION) \
		$$($(2)_TARBALL) $$($(2)_SHA256)

# Extraction re-checks the hash, so a tarball altered after download is never used.
$$($(2)_SRC)/.stamp_extracted: $$(DL)/$$($(2)_TARBALL) firmware/packages/$(1)/$(1).mk
	$$(Q)echo "$$($(2)_SHA256)  $$<" | sha256sum -c --quiet - || \
		{ echo "$$<: sha256 mismatch (pinned $$($(2)_SHA256))"; exit 1; }
	$$(Q)rm -rf $$($(2)_SRC) && mkdir -p $$($(2)_SRC)
	$$(Q)tar -xf $$< -C $$($(2)_SRC) --strip-components=1
	$$(Q)touch $$@

.PHONY: $(1)-source
$(1)-source: $$($(2)_SRC)/.stamp_extracted
endef

# A binary .deb (a kernel, boot firmware) is pinned the same way, with
#   NAME_DEB       the binary package       NAME_DEBVERSION  its Debian version
#   NAME_SUITE     Debian suite             NAME_ARCH        arm64, armhf (or the arch
#                                                            whose list carries an "all")
#   NAME_SHA256    the .deb's pinned sha256
# and $(eval $(call pkg-deb,name,NAME)) defines NAME_DIR, NAME_ROOT (the package's files,
# extracted with dpkg-deb -x, never installed) and the target name-extract.
define pkg-deb
$(2)_DIR := $$(O)/build/$(1)-$$($(2)_DEBVERSION)
$(2)_ROOT := $$($(2)_DIR)/root
$(2)_DEBFILE := $$($(2)_DEB)_$$($(2)_DEBVERSION)_$$($(2)_ARCH).deb

$$(DL)/$$($(2)_DEBFILE): | $$(DL) $$(O)
	$$(Q)firmware/packages/fetch.sh $$(O) $$(DL) $$($(2)_SUITE) $$($(2)_DEB) $$($(2)_DEBVERSION) \
		$$($(2)_DEBFILE) $$($(2)_SHA256) $$($(2)_ARCH)

$$($(2)_ROOT)/.stamp_extracted: $$(DL)/$$($(2)_DEBFILE) $$(wildcard firmware/packages/$(1)/$(1).mk)
	$$(Q)echo "$$($(2)_SHA256)  $$<" | sha256sum -c --quiet - || \
		{ echo "$$<: sha256 mismatch (pinned $$($(2)_SHA256))"; exit 1; }
	$$(Q)rm -rf $$($(2)_ROOT) && mkdir -p $$($(2)_ROOT)
	$$(Q)dpkg-deb -x $$< $$($(2)_ROOT)
	$$(Q)touch $$@

.PHONY: $(1)-extract
$(1)-extract: $$($(2)_ROOT)/.stamp_extracted
endef
