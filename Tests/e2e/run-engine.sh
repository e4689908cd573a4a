#!/usr/bin/env bash
# One mini-engine run for ctest: run-engine.sh <engine> <root> <bundle> <shim> <prefix> <roles>
# A root left by an earlier failed run is swept first; a failed run is swept
# after (the engine's --sweep: kill holder, runc delete, umount, rmdir, rm).
set -u
engine=$1 root=$2 bundle=$3 shim=$4 prefix=$5 roles=$6
args=(--root "$root" --bundle "$bundle" --shim "$shim" --prefix "$prefix" --roles "$roles")
[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$shim" ] || { echo "e2e: shim $shim missing" >&2; exit 1; }
[ -e "$root" ] && "$engine" --sweep "${args[@]}"
export NO_COLOR=1
rc=0
timeout -k 5 100 "$engine" "${args[@]}" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "e2e: engine failed ($rc); sweeping" >&2
    "$engine" --sweep "${args[@]}" || true
fi
exit "$rc"
