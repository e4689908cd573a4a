#!/usr/bin/env bash
# Builds the demo's OCI bundle: a busybox rootfs (from the static busybox of
# busybox-static) and a config.json template made by `runc spec`, edited for
# a non-interactive container. The mini-engine derives each container's
# config.json from this template (args, cgroup path, its tmpfs bind mount).
#   make-bundle.sh <dir>      -> <dir>/rootfs, <dir>/config.json
set -euo pipefail

dir=${1:?usage: make-bundle.sh <bundle-dir>}
busybox=${BUSYBOX:-/bin/busybox}

[ -x "$busybox" ] || { echo "make-bundle: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
    echo "make-bundle: $busybox is dynamically linked; need busybox-static" >&2; exit 1
fi
command -v runc >/dev/null || { echo "make-bundle: runc not found" >&2; exit 1; }

# Rebuilt from scratch each time: cheap (one binary and symlinks), never stale.
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/rootfs/bin" "$dir.tmp/rootfs/proc" "$dir.tmp/rootfs/dev" \
         "$dir.tmp/rootfs/sys" "$dir.tmp/rootfs/tmp" "$dir.tmp/rootfs/data" "$dir.tmp/rootfs/etc"
cp "$busybox" "$dir.tmp/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir.tmp/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" > "$dir.tmp/rootfs/etc/passwd"

# runc spec writes ./config.json; then the edits: no terminal (the shim runs
# the container with pipes), a plain shell as the default process.
(cd "$dir.tmp" && runc spec)
cfg="$dir.tmp/config.json"
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"sh"$/"\/bin\/sh", "-c", "exit 0"/' \
       -e 's/"hostname": "runc"/"hostname": "supdemo"/' "$cfg"
grep -q '"terminal": false' "$cfg" || { echo "make-bundle: editing config.json failed" >&2; exit 1; }

rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "bundle ready: $dir (busybox $("$busybox" | head -1 | awk '{print $2}'))"
