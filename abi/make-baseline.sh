#!/usr/bin/env bash
# Records a released ABI as abi/<version>/ (run once per release, see README):
#   supervisor.h         the public header as released
#   supervisor.acc.dump  abi-compliance-checker's dump of header + library
#                        (types, members, offsets, prototypes, exported symbols)
#   libsupervisor.abi    abidw's view of the ELF: SONAME and exported symbols
#   exports.txt          the exported symbols, one a line
# usage: make-baseline.sh <version> <header> <libsupervisor.so>
set -euo pipefail
version=${1:?usage: make-baseline.sh <version> <header> <lib>} header=$2 lib=$3
here=$(cd "$(dirname "$0")" && pwd)
out=$here/$version
[ -e "$out" ] && { echo "make-baseline: $out exists; a released baseline never changes" >&2; exit 1; }
work=$(mktemp -d /tmp/sup-abi-baseline-XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/out"
cp "$header" "$work/out/supervisor.h"
# The dump names the library file; use the released file name.
cp "$lib" "$work/libsupervisor.so.$version"
printf '<version>%s</version>\n<headers>%s</headers>\n<libs>%s</libs>\n' \
    "$version" "$work/out/supervisor.h" "$work/libsupervisor.so.$version" >"$work/desc.xml"
abi-compliance-checker -lang C -l supervisor -dump "$work/desc.xml" -dump-format xml \
    -dump-path "$work/acc.dump" -log-path "$work/acc.log" >/dev/null
# dep_symbols lists every symbol of libc, libstdc++, ... on the machine that
# made the dump: machine noise, only used to excuse a symbol that moved into a
# dependency, which cannot happen to this library's C names.
sed '/^<dep_symbols>/,/^<\/dep_symbols>/c\<dep_symbols>\n</dep_symbols>' "$work/acc.dump" \
    >"$work/out/supervisor.acc.dump"
abidw --no-corpus-path --no-comp-dir-path --no-show-locs --drop-undefined-syms \
    --out-file "$work/out/libsupervisor.abi" "$work/libsupervisor.so.$version"
nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort >"$work/out/exports.txt"
mv "$work/out" "$out"
echo "make-baseline: wrote $out"
