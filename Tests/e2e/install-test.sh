#!/usr/bin/env bash
# make install PREFIX=<tmp>, then a C program built with
# `pkg-config --cflags --libs supervisor` against the installed copy runs
# (under env -i, resolving libsupervisor.so.1 from <tmp>/lib).
set -euo pipefail
src=$(cd "${1:?usage: install-test.sh <source dir>}" && pwd)
prefix=$(mktemp -d /tmp/sup-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT

# `make install` builds first (swift); the toolchain may live outside PATH.
command -v swift >/dev/null || { [ -x /opt/swift/usr/bin/swift ] && PATH=/opt/swift/usr/bin:$PATH; }
# INSTALL_MAKE_ARGS: extra make arguments (e.g. SWIFT=true BUILD=<dir> to
# install an already built copy without touching the build directory).
# shellcheck disable=SC2086
make -C "$src" install PREFIX="$prefix" ${INSTALL_MAKE_ARGS:-} >"$prefix.log" 2>&1 || { cat "$prefix.log"; rm -f "$prefix.log"; exit 1; }
rm -f "$prefix.log"
for f in lib/libsupervisor.so lib/libsupervisor.so.1 include/supervisor.h bin/isulad-shim lib/pkgconfig/supervisor.pc; do
    [ -e "$prefix/$f" ] || { echo "missing after install: $prefix/$f" >&2; exit 1; }
done

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs supervisor)
echo "pkg-config: $flags"
cat >"$prefix/use.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <supervisor.h>
int main(void)
{
    char *name = exit_fifo_name("/run/x");
    if (!name || strcmp(name, "/run/x/exit_fifo") != 0) return 3;
    free(name);
    if (container_exit_fifo_open("") != -1 || errno != EINVAL) return 4;
    if (new_supervisor() != 0) return 5;
    if (supervisor_container_state("nobody") != SUPERVISOR_STATE_NONE) return 6;
    if (supervisor_shutdown() != 0) return 7;
    printf("installed libsupervisor %s works\n", supervisor_version());
    return 0;
}
C
# shellcheck disable=SC2086
${CC:-gcc} -Wall -Werror -o "$prefix/use" "$prefix/use.c" $flags
# Capture first: `ldd | grep -q` under pipefail fails when grep exits early (SIGPIPE).
resolved=$(ldd "$prefix/use")
grep -q "libsupervisor.so.1 => $prefix/lib/libsupervisor.so.1" <<<"$resolved" \
    || { echo "use does not resolve the installed library:" >&2; echo "$resolved" >&2; exit 1; }
out=$(env -i "$prefix/use")
echo "$out"
[[ "$out" == "installed libsupervisor "*" works" ]]
