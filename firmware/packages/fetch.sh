#!/bin/sh
# fetch.sh - download one upstream tarball from a Debian source package and check it.
#
# usage: fetch.sh OUTDIR DLDIR SUITE SRCPKG DEBVERSION TARBALL SHA256
#        fetch.sh OUTDIR DLDIR SUITE BINPKG DEBVERSION DEBFILE SHA256 ARCH
#
# With ARCH (arm64, armhf; "all" packages are listed under both) a binary .deb is
# fetched instead, from main and non-free-firmware, through the same private
# configuration with APT::Architectures set to ARCH.
#
# A private apt configuration under OUTDIR/apt takes the mirror from the machine's own
# apt sources (the system configuration is never changed) and verifies the archive with
# Debian's keyring. Only the upstream .orig tarball is kept, in DLDIR, and only after its
# sha256 matches the pin in the package recipe. No registry host is named here.
#
# FETCH_VALID_UNTIL=ignore (set by a recipe's NAME_SUITE_VALID_UNTIL) accepts a Release
# file past its Valid-Until date, in this suite's private configuration only: the archive
# may serve a snapshot of a suite that has since moved on. The signature is still checked,
# and the pinned sha256 decides whether the file is used.
set -eu
out=$1 dl=$2 suite=$3 pkg=$4 ver=$5 tarball=$6 sha=$7 arch=${8:-}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
case ${FETCH_VALID_UNTIL:-check} in
check) validconf= ;;
ignore) validconf='Acquire::Check-Valid-Until "false";' ;;
*) echo "fetch.sh: FETCH_VALID_UNTIL must be check or ignore" >&2; exit 1 ;;
esac

check() {
	[ -f "$dl/$tarball" ] || return 1
	got=$(sha256sum "$dl/$tarball" | cut -d' ' -f1)
	[ "$got" = "$sha" ]
}
if check; then exit 0; fi

mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "fetch.sh: no Debian mirror found in /etc/apt sources" >&2; exit 1; }
[ -r "$keyring" ] || { echo "fetch.sh: $keyring missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

apt=$(cd "$out" && pwd)/apt
mkdir -p "$apt/etc/apt.conf.d" "$apt/etc/preferences.d" "$apt/etc/sources.list.d" \
	"$apt/state/lists/partial" "$apt/cache/archives/partial" "$dl"
if [ -n "$arch" ]; then
	tag=$suite-$arch
	printf 'deb [arch=%s signed-by=%s] %s %s main non-free-firmware\n' "$arch" "$keyring" "$mirror" "$suite" \
		> "$apt/etc/sources.list.$tag"
	archconf="APT::Architecture \"$arch\"; APT::Architectures { \"$arch\"; };"
else
	tag=$suite
	printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" > "$apt/etc/sources.list.$tag"
	archconf=
fi
cat > "$apt/apt.conf.$tag" <<CONF
Dir::Etc "$apt/etc";
Dir::Etc::SourceList "$apt/etc/sources.list.$tag";
Dir::Etc::SourceParts "$apt/etc/sources.list.d";
Dir::State "$apt/state/$tag";
Dir::State::Lists "$apt/state/$tag/lists";
Dir::Cache "$apt/cache/$tag";
APT::Sandbox::User "root";
Acquire::Retries "3";
$archconf
$validconf
CONF
mkdir -p "$apt/state/$tag/lists/partial" "$apt/cache/$tag/archives/partial"
export APT_CONFIG="$apt/apt.conf.$tag"
# The archive is sometimes briefly without a suite's Release file (seen: "does not have a
# Release file" for a suite served a minute later): try again before failing the build.
if [ ! -f "$apt/state/$tag/updated" ]; then
	n=0
	until apt-get -qq update >&2; do
		n=$((n + 1))
		[ $n -lt 4 ] || { echo "fetch.sh: apt-get update for $suite failed $n times" >&2; exit 1; }
		echo "fetch.sh: apt-get update for $suite failed, again in $((n * 15)) s" >&2
		sleep $((n * 15))
	done
	touch "$apt/state/$tag/updated"
fi
tmp=$(mktemp -d "$apt/src.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -n "$arch" ]; then
	(cd "$tmp" && apt-get -qq download "$pkg:$arch=$ver" >/dev/null 2>&1 &&
		for f in ./*.deb; do [ "$f" = "./$tarball" ] || mv "$f" "$tarball"; done) || {
		echo "fetch.sh: $pkg:$arch=$ver not found in $suite (has the archive moved on? update the recipe's pin)" >&2
		exit 1
	}
else
	(cd "$tmp" && apt-get -qq source --download-only --tar-only "$pkg=$ver" >/dev/null 2>&1) || {
		echo "fetch.sh: $pkg=$ver not found in $suite (has the archive moved on? update the recipe's pin)" >&2
		exit 1
	}
fi
# a name of this fetch's own: two builds side by side (make test) may fetch one file
part="$dl/$tarball.part.$$"
mv "$tmp/$tarball" "$part"
got=$(sha256sum "$part" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
	echo "fetch.sh: $tarball: sha256 $got, recipe pins $sha" >&2
	rm -f "$part"
	exit 1
fi
mv "$part" "$dl/$tarball"
echo "fetched $tarball (sha256 ok)" >&2
