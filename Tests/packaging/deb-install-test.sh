#!/usr/bin/env bash
# The Debian packages, used as an engine uses them:
#   apt-get install ./libsupervisor1 ./libsupervisor-dev ./isulad-shim .debs;
#   one version everywhere (package, header, .pc, supervisor_version(), file name);
#   a C program built with `pkg-config --cflags --libs supervisor` against the
#   installed files only arms an exit FIFO and sees container_stopped;
#   the mini-engine runs real runc containers through /usr/bin/isulad-shim;
#   apt-get purge leaves none of the packages' files and the same package set.
# Serialised machine-wide (other checkouts may run it at the same time).
# usage: deb-install-test.sh <source dir> <dir holding the .debs>
set -euo pipefail
src=$(cd "${1:?usage: deb-install-test.sh <source dir> <deb dir>}" && pwd)
debdir=$(cd "$2" && pwd)
pkgs=(libsupervisor1 libsupervisor-dev isulad-shim)
marker=/run/libsupervisor-deb-test.installed
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=600)
export DEBIAN_FRONTEND=noninteractive
fail() { echo "deb-install-test: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (apt-get install)"

mkdir -p /run/lock && exec 9>/run/lock/libsupervisor-deb-test.lock
flock -w 900 9 || fail "another deb-install-test held the lock for 15 minutes"

present() {  # the packages dpkg knows as installed or with config files left
    for p in "${pkgs[@]}"; do
        s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        case "$s" in ""|un*|pn*) ;; *) echo "$p" ;; esac
    done
}
purge() { apt-get purge "${apt_opts[@]}" "${pkgs[@]}" >/dev/null; }

left=$(present | tr "\n" " ")
if [ -n "$left" ]; then
    if [ -e "$marker" ]; then
        echo "deb-install-test: purging what an interrupted run left: $left"
        purge
    else
        echo "deb-install-test: SKIPPED: installed on this machine, not by this test: $left (apt-get purge them to run it)"
        exit 0
    fi
fi

version=$(make -s -C "$src" --no-print-directory version)
arch=$(dpkg --print-architecture) multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
debs=()
for p in "${pkgs[@]}"; do
    f=$debdir/${p}_${version}_${arch}.deb
    [ -f "$f" ] || fail "missing $f (make deb)"
    debs+=("$f")
done

work=$(mktemp -d /tmp/sup-deb-test-XXXXXX)
root=/run/sup-deb-test-$$
snapshot() { dpkg-query -W -f='${binary:Package} ${Version} ${db:Status-Abbrev}\n' | sort; }
snapshot >"$work/before"
grep -q libsupervisor <<<"$(ldconfig -p)" && fail "libsupervisor is already in the ld.so cache"
cleanup() {
    rc=$?
    [ -e "$root" ] && { "$work/mini-engine" --sweep --root "$root" --prefix "deb$$" --roles exit0,exit7 >/dev/null 2>&1 || true; rm -rf "$root"; }
    if [ -n "$(present)" ]; then purge || { echo "deb-install-test: purge failed; $marker kept" >&2; rc=1; }; fi
    [ -n "$(present)" ] || rm -f "$marker"
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP   # through cleanup too
echo "$$ $(date -u +%FT%TZ)" >"$marker"

# The packages' paths that exist already (/usr/bin, ...) must stay; all others go with the purge.
for f in "${debs[@]}"; do dpkg-deb -c "$f"; done | awk '{print $6}' | sed -e 's|^\./|/|' -e 's|/$||' \
    | while read -r f; do f=${f:-/}; if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done | sort -u >"$work/existing"

# apt fetches local files as _apt: give it a readable copy.
mkdir "$work/debs" && cp "${debs[@]}" "$work/debs/" && chmod 0755 "$work" "$work/debs" && chmod 0644 "$work"/debs/*
apt-get install "${apt_opts[@]}" "${debs[@]/#$debdir/$work/debs}" >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install failed"; }
for p in "${pkgs[@]}"; do dpkg -L "$p" >"$work/files.$p"; done
while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] || fail "dpkg -L lists $f, which is not there"
done < <(cat "$work"/files.*)

# One version everywhere.
v_pkg=$(dpkg-query -W -f='${Version}' libsupervisor1)
v_pc=$(env -u PKG_CONFIG_PATH pkg-config --modversion supervisor)
v_hdr=$(sed -n 's/^.define SUPERVISOR_VERSION "\(.*\)"$/\1/p' /usr/include/supervisor.h)
real=$(readlink -f "$libdir/libsupervisor.so.1")
soname=$(readelf -d "$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
for v in "$v_pkg" "$v_pc" "$v_hdr"; do [ "$v" = "$version" ] || fail "versions differ: source $version, package $v_pkg, .pc $v_pc, header $v_hdr"; done
[ "$real" = "$libdir/libsupervisor.so.$version" ] || fail "libsupervisor.so.1 -> $real, want libsupervisor.so.$version"
[ "$soname" = "libsupervisor.so.${version%%.*}" ] || fail "SONAME $soname"
for f in /usr/bin/isulad-shim /usr/include/supervisor.h "$libdir/libsupervisor.so" "$libdir/pkgconfig/supervisor.pc"; do
    [ -e "$f" ] || fail "$f not installed"
done

# A C program from the installed files only: no -I or -L into the tree, no rpath.
cat >"$work/use.c" <<'C'
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <supervisor.h>

static int stopped_pipe[2];
static void on_stopped(void *ctx, const char *id, int pid, int code)
{
    (void)ctx;
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %d %d\n", id, pid, code);
    if (write(stopped_pipe[1], line, (size_t)n) != n) abort();
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *root = argv[1], *id = argv[2];
    if (strcmp(supervisor_version(), SUPERVISOR_VERSION) != 0) { fprintf(stderr, "library %s, header %s\n", supervisor_version(), SUPERVISOR_VERSION); return 3; }
    if (pipe2(stopped_pipe, O_CLOEXEC) != 0) return 4;
    supervisor_engine_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.struct_size = sizeof(ops);
    ops.container_stopped = on_stopped;
    if (supervisor_set_option("root_dir", root) != 0 || supervisor_set_engine_ops(&ops) != 0) return 5;
    if (new_supervisor() != 0 || new_gchandler() != 0) { perror("start"); return 6; }

    char state[4096];
    snprintf(state, sizeof(state), "%s/%s", root, id);
    if (mkdir(state, 0700) != 0) { perror(state); return 7; }
    char *fifo = container_exit_fifo_create(state);
    int fd = fifo ? container_exit_fifo_open(fifo) : -1;
    if (fd < 0) { perror("exit fifo"); return 8; }
    pid_t child = fork();          /* the "container": gone before its status arrives */
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    pid_ppid_info_t info = { .pid = child, .ppid = child, .start_time = 1, .pstart_time = 1 };
    if (container_supervisor_add_exit_monitor(fd, &info, id, "runc") != 0) { perror("arm"); return 9; }

    int w = open(fifo, O_WRONLY | O_CLOEXEC), status = 42;   /* as the shim delivers it */
    if (w < 0 || write(w, &status, sizeof(status)) != (ssize_t)sizeof(status)) return 10;
    close(w);
    struct pollfd p = { .fd = stopped_pipe[0], .events = POLLIN };
    if (poll(&p, 1, 10000) != 1) { fprintf(stderr, "no container_stopped within 10 s\n"); return 11; }
    char got[256], want[256];
    ssize_t n = read(stopped_pipe[0], got, sizeof(got) - 1);
    got[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof(want), "%s %d 42\n", id, (int)child);
    if (strcmp(got, want) != 0) { fprintf(stderr, "container_stopped: %s, want %s", got, want); return 12; }
    if (supervisor_shutdown() != 0) return 13;
    free(fifo);
    printf("installed libsupervisor %s: container_stopped %s", supervisor_version(), got);
    return 0;
}
C
flags=$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs supervisor)
# shellcheck disable=SC2086
(cd "$work" && gcc -Wall -Wextra -Werror -D_GNU_SOURCE -MD -o use use.c $flags)
grep -q "/usr/include/supervisor.h" "$work/use.d" || fail "use.c did not include /usr/include/supervisor.h"
grep -qE 'RPATH|RUNPATH' <<<"$(readelf -d "$work/use")" && fail "use carries an rpath"
resolved=$(ldd "$work/use")
grep -qE "libsupervisor\.so\.1 => (/usr)?/lib/$multiarch/libsupervisor\.so\.1 " <<<"$resolved" || fail "use resolves: $resolved"
mkdir -p "$root"
env -i "$work/use" "$root" "deb-use-$$"
rm -rf "$root"

# A real runc container through the installed shim, driven by the mini-engine
# linked against the installed library.
# shellcheck disable=SC2046
gcc -O1 -Wall -Werror -o "$work/mini-engine" "$src/examples/mini-engine.c" \
    $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs supervisor yajl) -lpthread
bash "$src/examples/make-bundle.sh" "$work/bundle" >/dev/null
out=$(bash "$src/Tests/e2e/run-engine.sh" "$work/mini-engine" "$root" "$work/bundle" /usr/bin/isulad-shim "deb$$" exit0,exit7 2>&1) \
    || { echo "$out"; fail "mini-engine through /usr/bin/isulad-shim failed"; }
grep -q "PASSED: every exit code right, nothing left behind" <<<"$out" || { echo "$out"; fail "mini-engine did not pass"; }
echo "deb-install-test: runc containers through /usr/bin/isulad-shim: exit codes right, nothing left"
rm -rf "$root"

# Purge: nothing of the packages left, the package set as before.
purge
[ -z "$(present)" ] || fail "still known to dpkg after purge: $(present)"
while read -r f; do
    [ "$f" = /. ] && f=/
    if grep -qxF -- "$f" "$work/existing"; then
        [ -e "$f" ] || fail "purge removed $f, which was there before"
    elif [ -e "$f" ] || [ -L "$f" ]; then
        fail "left after purge: $f"
    fi
done < <(cat "$work"/files.*)
grep -q libsupervisor <<<"$(ldconfig -p)" && fail "libsupervisor still in the ld.so cache"
snapshot >"$work/after"
diff -u "$work/before" "$work/after" >&2 || fail "the installed package set changed"
echo "deb-install-test: installed, used and purged $(cat "$work"/files.* | wc -l) paths of ${pkgs[*]} $version; machine as before"
