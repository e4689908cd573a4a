#!/usr/bin/env bash
# The built products' surface, as SPEC section 1 holds it:
#   - libsupervisor.so exports exactly the contract's functions, SONAME libsupervisor.so.1;
#   - it and isulad-shim depend only on libc, libm, libstdc++, libgcc_s, libyajl, libcap (+ loader);
#   - a C program linked with it runs under env -i.
# usage: abi-surface.sh <lib dir> <shim> <include dir>
set -euo pipefail
lib="$1/libsupervisor.so" shim="$2" inc="$3"
fail() { echo "abi-surface: $*" >&2; exit 1; }

expected="container_exit_fifo_create container_exit_fifo_open container_supervisor_add_exit_monitor
exit_fifo_name gc_add_container gc_is_gc_progress gc_restore new_gchandler new_supervisor start_gchandler
supervisor_container_state supervisor_exit_record supervisor_set_engine_ops supervisor_set_option
supervisor_shutdown supervisor_status_json supervisor_track_resource supervisor_version"
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort | tr '\n' ' ')
want=$(echo $expected | tr ' ' '\n' | sort | tr '\n' ' ')
[ "$exported" = "$want" ] || fail "exports differ: got [$exported] want [$want]"

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libsupervisor.so.1" ] || fail "SONAME is '$soname'"

allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libyajl\.so\.2|libcap\.so\.2|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$'
for bin in "$lib" "$shim"; do
    deps=$(ldd "$bin" | awk '{print $1}')
    for d in $deps; do
        [[ "$d" =~ $allowed ]] || fail "$bin depends on $d"
    done
    grep -q swiftCore <<<"$deps" && fail "$bin links the Swift runtime dynamically"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/use.c" <<'C'
#include <stdio.h>
#include <supervisor.h>
int main(void) { puts(supervisor_version()); return supervisor_container_state("none") == SUPERVISOR_STATE_NONE ? 0 : 1; }
C
cc -I "$inc" -o "$work/use" "$work/use.c" -L "$1" -lsupervisor -Wl,-rpath,"$1"
env -i "$work/use" >/dev/null || fail "a linked C program does not run under env -i"
echo "abi-surface: exports, SONAME, dependencies and env -i all as specified"
