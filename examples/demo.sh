#!/usr/bin/env bash
# `make demo`: the mini-engine runs real containers through isulad-shim and
# libsupervisor (see examples/mini-engine.c for the scenario), restarts, and
# checks that nothing is left behind. Run as root after `make build`.
# Environment: DEMO_ROOT (default /run/libsupervisor-demo), SUPERVISOR_LIB_DIR,
# SUPERVISOR_SHIM, DEMO_ROLES (comma list, default all), CC.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
lib_dir=${SUPERVISOR_LIB_DIR:-$top/.build/release}
shim=${SUPERVISOR_SHIM:-$lib_dir/isulad-shim}
root=${DEMO_ROOT:-/run/libsupervisor-demo}
work=$top/build/demo
cc=${CC:-gcc}

[ "$(id -u)" = 0 ] || { echo "demo: run as root (runc, mounts, cgroups)" >&2; exit 1; }
for f in "$lib_dir/libsupervisor.so" "$lib_dir/libsupervisor.so.1" "$shim"; do
    [ -e "$f" ] || { echo "demo: $f missing; run 'make build' first" >&2; exit 1; }
done
yajl_flags=$(pkg-config --cflags --libs yajl 2>/dev/null || echo -lyajl)

mkdir -p "$work"
echo "== bundle"
bash "$here/make-bundle.sh" "$work/bundle"

echo "== mini-engine"
# Linked exactly as an engine links the library: header + -lsupervisor (SONAME libsupervisor.so.1).
"$cc" -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I "$top/Include" "$here/mini-engine.c" \
    -L "$lib_dir" -Wl,-rpath,"$lib_dir" -lsupervisor $yajl_flags -lpthread -o "$work/mini-engine"

engine=("$work/mini-engine" --root "$root" --bundle "$work/bundle" --shim "$(cd "$(dirname "$shim")" && pwd)/$(basename "$shim")" --prefix demo)
[ -n "${DEMO_ROLES:-}" ] && engine+=(--roles "$DEMO_ROLES")

if [ -e "$root" ]; then
    echo "== $root left by an earlier run: sweeping it"
    "${engine[@]}" --sweep
fi

echo "== scenario"
rc=0
"${engine[@]}" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "== demo failed (exit $rc): sweeping what is left" >&2
    "${engine[@]}" --sweep || true
fi
exit "$rc"
