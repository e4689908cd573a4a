#!/usr/bin/env bash
# make bench: builds the C benchmark against the release libsupervisor.so (as an
# engine links it) and runs it. Extra arguments go to supbench, e.g.
#   bash bench/run.sh --runs 3 --only ab
set -euo pipefail
cd "$(dirname "$0")/.."
LIB_DIR="$PWD/.build/release"
OUT_DIR="$PWD/build/bench"
[ -f "$LIB_DIR/libsupervisor.so" ] || { echo "bench: $LIB_DIR/libsupervisor.so missing (make build)" >&2; exit 1; }
[ -e "$LIB_DIR/libsupervisor.so.1" ] || ln -sf libsupervisor.so "$LIB_DIR/libsupervisor.so.1"
mkdir -p "$OUT_DIR"
${CC:-gcc} -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-format-truncation -D_GNU_SOURCE \
    -I Include -o "$OUT_DIR/supbench" bench/supbench.c \
    -L "$LIB_DIR" -lsupervisor -Wl,-rpath,"$LIB_DIR" -lpthread -lm
${CC:-gcc} -std=gnu11 -O2 -Wall -Wextra -Werror -o "$OUT_DIR/fifo_floor" bench/fifo_floor.c -lpthread
# What the machine's FIFO path alone costs, for reading (a): median of 3.
for _ in 1 2 3; do "$OUT_DIR/fifo_floor"; done | sort -t' ' -k13 -n | sed -n 2p
export SUPBENCH_SHIM="${SUPBENCH_SHIM:-$LIB_DIR/isulad-shim}"
exec "$OUT_DIR/supbench" --out bench/results.json "$@"
