#!/usr/bin/env bash
# Builds the libFuzzer targets into $FUZZ_OUT (default .build-fuzz/fuzzers).
# The library's modules come from SwiftPM (own scratch path, instrumented with
# -sanitize=fuzzer,address); each target is one small Swift file compiled
# together with the parser sources it exercises. Package.swift is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
OUT=${FUZZ_OUT:-$SCRATCH/fuzzers}
JOBS=${JOBS:-2}
mkdir -p "$OUT"

swift build -c release --scratch-path "$SCRATCH" --target Cleaner -j "$JOBS" \
    -Xswiftc -sanitize=fuzzer -Xswiftc -sanitize=address >&2
# The shim's C target (its JSON reader is fuzzed as full Swift over CShim).
swift build -c release --scratch-path "$SCRATCH" --target CShim -j "$JOBS" \
    -Xcc -fsanitize=fuzzer-no-link,address >&2
B="$SCRATCH/release"
# Objects of every module that build produced (Cleaner and what it depends
# on), taken from each module's current source list so that objects of files
# since moved to another module are not linked twice.
objs=()
for dir in "$B"/*.build; do
    if [ -f "$dir/sources" ]; then
        while read -r src; do
            o="$dir/$(basename "$src").o"
            [ -f "$o" ] && objs+=("$o")
        done < "$dir/sources"
    fi
    for o in "$dir"/*.c.o; do [ -f "$o" ] && objs+=("$o"); done
done

common=(-O -g -use-ld=lld -sanitize=fuzzer,address -parse-as-library -swift-version 6
        -I "$B/Modules"
        -Xcc -fmodule-map-file="$B/CPlatform.build/module.modulemap"
        -Xcc -fmodule-map-file="$B/CShim.build/module.modulemap"
        -Xcc -I -Xcc Sources/CShim/include
        -Xcc -I -Xcc Sources/CPlatform/include
        -Xcc -fmodule-map-file=Sources/CYajl/module.modulemap
        -Xcc -fmodule-map-file=Sources/CLibcap/module.modulemap
        -Xcc -I -Xcc Sources/CLibcap
        -Xcc -fmodule-map-file="$SCRATCH/checkouts/swift-system/Sources/CSystem/include/module.modulemap"
        "${objs[@]}" -lyajl -lcap)

core=(Sources/SupervisorCore/GCFileFormat.swift Sources/SupervisorCore/GCEntry.swift
      Sources/SupervisorCore/Validate.swift Sources/SupervisorCore/GCRecordScanner.swift)

build() { # name sources...
    local name=$1; shift
    echo "fuzz: building $name" >&2
    swiftc "${common[@]}" -module-name "Fuzz_$name" "$@" -o "$OUT/fuzz_$name"
}

want=${1:-all}
[[ $want == all || $want == garbage ]] && build garbage fuzz/targets/garbage.swift "${core[@]}"
# The shim's reader: its own JSON layer, not the library's (no Platform here).
shim_json=(shim/ProcessState.swift shim/Platform/JSON.swift shim/Platform/Errno.swift shim/Platform/FD.swift)
[[ $want == all || $want == process ]] && build process fuzz/targets/process.swift "${shim_json[@]}"
[[ $want == all || $want == exit_record ]] && build exit_record fuzz/targets/exit_record.swift
[[ $want == all || $want == exit_status ]] && build exit_status fuzz/targets/exit_status.swift
echo "$OUT"
