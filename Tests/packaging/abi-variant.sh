#!/usr/bin/env bash
# Proves abi/check.sh: one deliberately changed copy of the current header
# (or a stand-in library with a changed ELF surface) per case; a break must
# fail the check with the named problem, growth must pass it.
# usage: abi-variant.sh <source dir> <libsupervisor.so> <case>
set -euo pipefail
src=$(cd "${1:?usage: abi-variant.sh <source dir> <lib> <case>}" && pwd) lib=$2 case=$3
work=$(mktemp -d /tmp/sup-abi-variant-XXXXXX)
trap 'rm -rf "$work"' EXIT
hdr=$work/supervisor.h
cp "$src/Include/supervisor.h" "$hdr"
fail() { echo "abi-variant $case: $*" >&2; exit 1; }
edit() { sed -i "$@" "$hdr"; cmp -s "$hdr" "$src/Include/supervisor.h" && fail "the edit changed nothing (header reformatted? update this case)"; true; }

# A library exporting exactly the given C names, with the given SONAME: its
# ELF surface is all the checks read from a library.
stub() {
    local soname=$1; shift
    for s in "$@"; do echo "void $s(void) {}"; done >"$work/stub.c"
    gcc -shared -fPIC -o "$work/libsupervisor.so" "$work/stub.c" -Wl,-soname,"$soname"
    lib=$work/libsupervisor.so
}
exports=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//')

expect=pass
case "$case" in
    current) ;;
    # -- breaks
    remove_function)    edit '/^bool  gc_is_gc_progress(const char \*id);/d'; expect='removed_symbol \[gc_is_gc_progress\]' ;;
    change_prototype)   edit 's/^int   gc_restore(void);/int   gc_restore(int force);/'; expect='Added_Parameter force' ;;
    change_return_type) edit 's/^int   gc_restore(void);/long  gc_restore(void);/'; expect='Return_Type' ;;
    remove_member)      edit '/^    void  \*ctx; /d'; expect='Removed_Field.* ctx' ;;
    remove_last_member) edit '/^    void (\*log)(void \*ctx, int level, const char \*msg);/d'; expect='Removed_Field.* log|Renamed_Field log' ;;   # renamed: a later member took its place
    reorder_members)    edit -e '/^    void (\*gc_done)(void \*ctx, const char \*id);/d' \
                             -e 's/^    void (\*container_stopped)(/    void (*gc_done)(void *ctx, const char *id);\n&/'
                        expect='Moved_Field' ;;
    insert_member)      edit 's/^    void  \*ctx; .*/&\n    int flags;/'; expect='Added_Field_And_Layout.* flags' ;;
    change_member_type) edit 's/^    int pid;  /    long pid; /'; expect='Field_Type.* pid' ;;
    change_hook_type)   edit 's/^    void (\*gc_done)(void \*ctx, const char \*id);/    void (*gc_done)(void *ctx, const char *id, int why);/'; expect='Field_BaseType gc_done' ;;
    change_enum_value)  edit 's/SUPERVISOR_RES_MOUNT   = 2,/SUPERVISOR_RES_MOUNT   = 5,/'; expect='Enum_Member_Value SUPERVISOR_RES_MOUNT' ;;
    remove_symbol)      # shellcheck disable=SC2046
                        stub libsupervisor.so.1 $(grep -vx gc_restore <<<"$exports"); expect='abidiff: incompatible' ;;
    change_soname)      # shellcheck disable=SC2086
                        stub libsupervisor.so.2 $exports; expect="SONAME 'libsupervisor.so.2'" ;;
    # -- growth
    grow_ops_member)
        # The OOM hook as its issue adds it, or (once it is in the header) one more.
        if grep -q '(\*container_oom)' "$hdr"; then
            edit 's/^} supervisor_engine_ops_t;/    void (*container_future)(void *ctx, const char *id);\n&/'
        else
            edit 's/^} supervisor_engine_ops_t;/    void (*container_oom)(void *ctx, const char *id, unsigned long long oom_kills);\n&/'
        fi ;;
    grow_function)
        edit 's/^const char \*supervisor_version(void);/&\nint supervisor_future_call(const char *id);/'
        # shellcheck disable=SC2086
        stub libsupervisor.so.1 $exports supervisor_future_call ;;
    *) fail "unknown case" ;;
esac

rc=0
out=$(bash "$src/abi/check.sh" "$hdr" "$lib" 2>&1) || rc=$?
echo "$out"
if [ "$expect" = pass ]; then
    [ "$rc" -eq 0 ] || fail "compatible growth was refused"
else
    [ "$rc" -ne 0 ] || fail "the break passed the ABI check"
    grep -qE -- "$expect" <<<"$out" || fail "failed, but without /$expect/"
fi
echo "abi-variant $case: as expected ($expect)"
