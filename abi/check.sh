#!/usr/bin/env bash
# ABI only grows: compares a header and a built libsupervisor.so with every
# released baseline under abi/<version>/ (see make-baseline.sh).
#   abi-compliance-checker  types, members, offsets, prototypes, enums, from
#                           the header (the library is Swift: no C DWARF) plus
#                           the library's exported symbols;
#   abidiff                 the ELF: exported symbols, SONAME.
# Accepted growth: new functions, new constants, and members appended to
# supervisor_engine_ops_t (versioned by its struct_size). Anything else ACC
# reports, at any severity but "Safe", fails.
# usage: check.sh <supervisor.h> <libsupervisor.so> [<baseline dir>...]
set -euo pipefail
header=$(realpath "${1:?usage: check.sh <header> <lib> [baseline...]}") lib=$(realpath "$2")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then set -- "$here"/[0-9]*/; fi
work=$(mktemp -d /tmp/sup-abi-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "abi-check: $*" >&2; status=1; }

printf '<version>current</version>\n<headers>%s</headers>\n<libs>%s</libs>\n' "$header" "$lib" >"$work/new.xml"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')

for base in "$@"; do
    base=${base%/}
    v=$(basename "$base")
    # -- header + library against the ACC dump
    rc=0
    (cd "$work" && abi-compliance-checker -lang C -l supervisor -old "$base/supervisor.acc.dump" \
        -new "$work/new.xml" -report-format xml -report-path "$work/report-$v.xml" \
        >"$work/acc-$v.log" 2>&1) || rc=$?
    if [ "$rc" -gt 1 ] || [ ! -s "$work/report-$v.xml" ]; then
        cat "$work/acc-$v.log" >&2; fail "$v: abi-compliance-checker could not run (exit $rc)"; continue
    fi
    # One line per reported problem: report kind, severity, section, where, problem id, target.
    perl -ne '
        $k = $1 if /<report kind="(\w+)"/;
        ($sec, $sev) = ($1, $2) if /<(problems_with_\w+) severity="(\w+)"/;
        $where = $1 if /<(?:type|symbol|constant) name="([^"]*)"/;
        $id = $1 if /<problem id="(\w+)"/;
        print "$k $sev $sec [$where] $id $1\n" if $id && /<change target="([^"]*)"/;
        print "$k $sev $sec [$where] $id\n" if $id && /<change(?![^>]*target=)/;
        $id = "" if m{</problem>};
        $rm = 1 if /^<removed_symbols>/; $rm = 0 if m{^</removed_symbols>};
        print "$k removed_symbol [$1]\n" if $rm && m{<name>([^<]*)</name>};
        print "$k verdict $1\n" if m{<verdict>(\w+)</verdict>};
    ' "$work/report-$v.xml" >"$work/problems-$v.txt"
    # The ops struct carries its own size: members appended to it are growth.
    growth='^Low problems_with_types \[(struct supervisor_engine_ops|supervisor_engine_ops_t)\] (Added_Field|Added_Field_And_Size|DataType_Size)( |$)'
    while read -r kind sev rest; do
        line="$sev $rest"
        if [[ $sev == verdict || $sev == Safe || $line =~ $growth ]]; then continue; fi
        [[ $line =~ ^Low\ problems_with_constants\ \[SUPERVISOR_VERSION ]] && continue
        fail "$v ($kind): $line"
    done <"$work/problems-$v.txt"
    verdict=$(sed -n "s/^\(\w*\) verdict /\1: /p" "$work/problems-$v.txt" | tr "\n" " ")
    [ "$rc" -eq 0 ] || fail "$v: abi-compliance-checker verdict: $verdict"
    # -- the ELF against abidw's baseline: bit 8 of abidiff's status is an incompatible change
    rc=0
    abidiff --no-show-locs "$base/libsupervisor.abi" "$lib" >"$work/abidiff-$v.txt" 2>&1 || rc=$?
    if [ $((rc & 11)) -ne 0 ]; then
        cat "$work/abidiff-$v.txt" >&2; fail "$v: abidiff: incompatible ELF change (status $rc)"
    fi
    want=$(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$base/libsupervisor.abi")
    [ "$soname" = "$want" ] || fail "$v: SONAME '$soname', the baseline has '$want'"
    [ "$status" -eq 0 ] && echo "abi-check: compatible with $v ($(grep -vc ' verdict ' "$work/problems-$v.txt") reported items, all accepted growth)"
done
exit "$status"
