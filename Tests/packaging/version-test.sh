#!/usr/bin/env bash
# One version (SUPERVISOR_VERSION* in Include/supervisor.h) everywhere in the
# build tree: the macros agree, supervisor_version() and the status report of
# the built library, the SONAME's major, the Makefile and debian/changelog.
# (deb-install-test.sh checks the installed package, .pc and file name.)
# usage: version-test.sh <source dir> <dir holding libsupervisor.so>
set -euo pipefail
src=$(cd "${1:?usage: version-test.sh <source dir> <lib dir>}" && pwd) libdir=$(cd "$2" && pwd)
fail() { echo "version-test: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/sup-version-XXXXXX)
trap 'rm -rf "$work"' EXIT
macro() { sed -n "s/^#define SUPERVISOR_VERSION$1 \\(.*\\)\$/\\1/p" "$src/Include/supervisor.h"; }
version=$(macro '' | tr -d '"')
[ -n "$version" ] || fail "no SUPERVISOR_VERSION in Include/supervisor.h"
[ "$(macro _MAJOR).$(macro _MINOR).$(macro _PATCH)" = "$version" ] \
    || fail "SUPERVISOR_VERSION_MAJOR/MINOR/PATCH $(macro _MAJOR).$(macro _MINOR).$(macro _PATCH) disagree with \"$version\""

cat >"$work/v.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <supervisor.h>
int main(void)
{
    char *status = supervisor_status_json();
    printf("%s\n%s\n", supervisor_version(), status ? status : "");
    free(status);
    return 0;
}
C
cc -I "$src/Include" -o "$work/v" "$work/v.c" -L "$libdir" -lsupervisor -Wl,-rpath,"$libdir"
"$work/v" >"$work/out"
[ "$(sed -n 1p "$work/out")" = "$version" ] || fail "supervisor_version() is $(sed -n 1p "$work/out"), the header says $version"
grep -q "\"version\":\"$version\"" "$work/out" || fail "supervisor_status_json() does not report version $version: $(sed -n 2p "$work/out")"
soname=$(readelf -d "$libdir/libsupervisor.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libsupervisor.so.$(macro _MAJOR)" ] || fail "SONAME $soname, SUPERVISOR_VERSION_MAJOR $(macro _MAJOR)"
[ "$(make -s -C "$src" --no-print-directory version)" = "$version" ] || fail "the Makefile's VERSION is not $version"
changelog=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$changelog" = "$version" ] || fail "debian/changelog's version is $changelog, the header's $version (add a changelog entry)"
echo "version-test: $version in the header, library, status report, SONAME major, Makefile and debian/changelog"
