#!/usr/bin/env bash
# Regenerates build-support/shim-symbol-order.txt: the functions the shim
# executes in one container's life (runc create, start, kill, delete), in
# the order the profile lists them. The linker (shimLinkerFlags,
# --symbol-ordering-file) places them together at the start of .text, so a
# running shim maps a few 64 KiB fault-around windows of its binary instead
# of ~50 scattered over 4 MB: each of those windows counts in every shim's
# RSS/PSS.
#
# Functions inside a big input section are left out: naming one would drag
# the whole section along (libswiftCore's Swift.o is one 1.6 MB .text).
#
# usage: build-support/gen-shim-symbol-order.sh [scratch path, default .build]
# needs: swift, valgrind (callgrind), runc, busybox, root. Regenerate after
# changes to the shim's start-up or wait path; stale names are harmless
# (--no-warn-symbol-ordering), missing ones only cost locality.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${1:-.build}
OUT=build-support/shim-symbol-order.txt
TMP=$(mktemp -d /tmp/shim-order.XXXXXX)
# The link map says which input section holds each function.
rm -f "$SCRATCH/release/isulad-shim"  # relink: SwiftPM does not track the order file
swift build -c release --scratch-path "$SCRATCH" --product isulad-shim -Xlinker -Map="$TMP/link.map" >/dev/null
SHIM=$(realpath "$SCRATCH/release/isulad-shim")
ID=order$$
cleanup() {
    runc --root "$TMP/wd/runc" delete --force "$ID" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# valgrind cannot read the DWARF lld emits for Swift: profile a copy without it.
objcopy --strip-debug "$SHIM" "$TMP/shim"

mkdir -p "$TMP/bundle/rootfs/bin" "$TMP/wd"
cp "$(command -v busybox)" "$TMP/bundle/rootfs/bin/busybox"
ln -s busybox "$TMP/bundle/rootfs/bin/sleep"
runc spec --bundle "$TMP/bundle"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"sleep", "600"/' "$TMP/bundle/config.json"
mkfifo "$TMP/wd/exit_fifo"
exec 9<>"$TMP/wd/exit_fifo"
echo '{"exit_fifo":"exit_fifo","runtime":"runc","exec":false,"open_stdin":false,"open_tty":false}' \
    > "$TMP/wd/process.json"

( cd "$TMP/wd" && exec setsid valgrind -q --tool=callgrind --dump-instr=yes --demangle=no \
    --callgrind-out-file="$TMP/callgrind.out" "$TMP/shim" "$ID" "$TMP/bundle" runc \
    </dev/null >/dev/null 2>"$TMP/shim.err" ) &
SHIM_PID=$!
for _ in $(seq 1 600); do [ -s "$TMP/wd/pid" ] && break; sleep 0.05; done
[ -s "$TMP/wd/pid" ] || { cat "$TMP/shim.err" >&2; echo "container not created" >&2; exit 1; }
runc --root "$TMP/wd/runc" start "$ID"
sleep 1
# Dump what start-up ran; the final profile then holds the wait loop and the
# exit path, which go first (they are what a long-lived shim keeps mapped).
callgrind_control -d "$SHIM_PID" >/dev/null
runc --root "$TMP/wd/runc" kill "$ID" KILL
wait "$SHIM_PID" || true

# Functions of the shim binary itself (not libc, not valgrind's preload).
python3 - "$TMP/shim" "$TMP/link.map" "$TMP/callgrind.out" "$TMP"/callgrind.out.*[0-9] > "$OUT" <<'PY'
import bisect, re, sys
binary, linkmap, profiles = sys.argv[1], sys.argv[2], sys.argv[3:]
BIG = 16 * 1024
# Input sections of the link map: (address, size).
sections = []
for line in open(linkmap, errors='replace'):
    f = line.split()
    if len(f) >= 5 and ':(' in f[4]:
        try:
            sections.append((int(f[0], 16), int(f[2], 16)))
        except ValueError:
            pass
sections.sort()
starts = [a for a, _ in sections]
def in_big_section(addr):
    i = bisect.bisect_right(starts, addr) - 1
    return i >= 0 and sections[i][0] <= addr < sections[i][0] + sections[i][1] and sections[i][1] > BIG
seen, order = set(), []
for path in profiles:
  obs, fns = {}, {}
  cur_ob = cur_fn = None
  addr = 0
  for line in open(path, errors='replace'):
      m = re.match(r'^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$', line.rstrip('\n'))
      if not m:
          tok = line.split()[0] if line.strip() else ''
          if tok.startswith('0x'):
              addr = int(tok, 16)
          elif tok[:1] in ('+', '-'):
              addr += int(tok)
          else:
              continue
          if cur_ob == binary and cur_fn and cur_fn not in seen:
              seen.add(cur_fn)
              if not in_big_section(addr):
                  order.append(cur_fn)
          continue
      callee, kind, ident, name = m.groups()
      table = obs if kind == 'ob' else fns
      if name is not None:
          table[ident] = name
      if not callee:
          if kind == 'ob':
              cur_ob = obs[ident]
          else:
              cur_fn = fns[ident]
names = []
for f in order:
    f = f.split("'")[0]          # callgrind's recursion-depth suffix
    if f.startswith('0x') or f == '(below main)' or f in names:
        continue
    names.append(f)
print('\n'.join(names))
PY
echo "$(wc -l < "$OUT") symbols in $OUT"
