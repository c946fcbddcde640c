#!/bin/sh
# fetch.sh - download one upstream tarball from a Debian source package and check it.
#
# usage: fetch.sh OUTDIR DLDIR SUITE SRCPKG DEBVERSION TARBALL SHA256
#
# A private apt configuration under OUTDIR/apt takes the mirror from the machine's own
# apt sources (the system configuration is never changed) and verifies the archive with
# Debian's keyring. Only the upstream .orig tarball is kept, in DLDIR, and only after its
# sha256 matches the pin in the package recipe. No registry host is named here.
set -eu
out=$1 dl=$2 suite=$3 pkg=$4 ver=$5 tarball=$6 sha=$7
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

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
printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" > "$apt/etc/sources.list.$suite"
cat > "$apt/apt.conf.$suite" <<CONF
Dir::Etc "$apt/etc";
Dir::Etc::SourceList "$apt/etc/sources.list.$suite";
Dir::Etc::SourceParts "$apt/etc/sources.list.d";
Dir::State "$apt/state/$suite";
Dir::State::Lists "$apt/state/$suite/lists";
Dir::Cache "$apt/cache/$suite";
APT::Sandbox::User "root";
CONF
mkdir -p "$apt/state/$suite/lists/partial" "$apt/cache/$suite/archives/partial"
export APT_CONFIG="$apt/apt.conf.$suite"
if [ ! -f "$apt/state/$suite/updated" ]; then
	apt-get -qq update >&2
	touch "$apt/state/$suite/updated"
fi
tmp=$(mktemp -d "$apt/src.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get -qq source --download-only "$pkg=$ver" >/dev/null 2>&1) || {
	echo "fetch.sh: $pkg=$ver not found in $suite (has the archive moved on? update the recipe's pin)" >&2
	exit 1
}
mv "$tmp/$tarball" "$dl/$tarball.part"
got=$(sha256sum "$dl/$tarball.part" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
	echo "fetch.sh: $tarball: sha256 $got, recipe pins $sha" >&2
	rm -f "$dl/$tarball.part"
	exit 1
fi
mv "$dl/$tarball.part" "$dl/$tarball"
echo "fetched $tarball (sha256 ok)" >&2
