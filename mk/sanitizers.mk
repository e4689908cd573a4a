# Sanitizer and valgrind variants of `make check` (issue 6, item 4).
#   make check-asan      AddressSanitizer + LeakSanitizer: swift test, then the C suites
#   make check-tsan      ThreadSanitizer: swift test, then the C suites
#   make check-valgrind  memcheck on the C harness, against the release library
# Each variant has its own SwiftPM scratch dir and CMake build dir, so none of
# them disturbs `make build` / `make check`. Suppressions live next to this
# file, one commented entry per known false positive.

.PHONY: check-asan check-tsan check-valgrind clean-sanitizers

# The sanitizer runtimes must be the toolchain's own (the library is
# instrumented by swiftc's LLVM), so the C side is compiled with the clang
# that ships next to swift, not the system gcc.
SWIFT_BIN    := $(patsubst %/,%,$(dir $(realpath $(shell command -v $(SWIFT)))))
SAN_CC       ?= $(SWIFT_BIN)/clang
SWIFT_RT_DIR ?= $(SWIFT_BIN)/../lib/swift/linux
ASAN_SCRATCH ?= .build-asan
TSAN_SCRATCH ?= .build-tsan
VG_SCRATCH   ?= .build
# Everything check-c runs except the install test (it rebuilds release) and the
# release-surface check (sanitized builds link differently by design).
# Under TSan also minus the fd-hygiene cases: symbolizing a (suppressed) report makes
# the TSan runtime spawn llvm-symbolizer over pipes without FD_CLOEXEC, which
# those cases rightly count (they pass with TSAN_OPTIONS=symbolize=0).
ASAN_CTEST_ARGS ?= -E 'install_pkgconfig|abi_surface'
TSAN_CTEST_ARGS ?= -E 'install_pkgconfig|abi_surface|harness_fds'

# Debug builds: better stacks, and sanitizers need no optimiser. lld: gold
# cannot export ASan's per-register check symbols and warns once per symbol.
SAN_SWIFT = $(SWIFT)
SAN_SWIFT_BUILD = $(SAN_SWIFT) build -c debug -j $(JOBS) --build-tests -Xswiftc -use-ld=lld
# The shim the C suites run (SAN_SHIM overrides). The shim is Embedded Swift:
# ASan (with LeakSanitizer) instruments it and runs, so check-asan runs the
# sanitized shim. TSan also compiles it, but the shim is single-threaded
# (nothing to race) and its TSan build needs the toolchain's libdispatch at
# run time: check-tsan runs a plain debug shim from its own scratch dir.
SAN_SHIM ?=
TSAN_SHIM_SCRATCH ?= .build-tsan-shim
asan_SHIM = $(CURDIR)/$(ASAN_SCRATCH)/debug/isulad-shim
tsan_SHIM = $(CURDIR)/$(TSAN_SHIM_SCRATCH)/debug/isulad-shim

SAN_SYMBOLIZER = $(if $(wildcard $(SWIFT_BIN)/llvm-symbolizer),$(SWIFT_BIN)/llvm-symbolizer,llvm-symbolizer)
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/mk/lsan.supp \
           ASAN_SYMBOLIZER_PATH=$(SAN_SYMBOLIZER)
# halt_on_error=0: every race of a case is printed; the case still fails
# (exit code 66, also through the harness's _exit).
TSAN_ENV = TSAN_OPTIONS=suppressions=$(CURDIR)/mk/tsan.supp:halt_on_error=0:second_deadlock_stack=1 \
           TSAN_SYMBOLIZER_PATH=$(SAN_SYMBOLIZER)

# san_c_suites(variant, scratch, -fsanitize flag, extra exe link flags):
# the C suites built with the same sanitizer, linked to the sanitized
# library and shim. The library leaves the runtime's symbols undefined; the
# instrumented test executables carry the runtime.
define san_c_suites
	ln -sf libsupervisor.so $(2)/debug/libsupervisor.so.1
	cmake -S Tests -B build/tests-$(1) -DCMAKE_C_COMPILER=$(SAN_CC) -DCMAKE_BUILD_TYPE=Debug \
	      "-DCMAKE_C_FLAGS=$(3) -fno-omit-frame-pointer" \
	      "-DCMAKE_EXE_LINKER_FLAGS=$(3) -fuse-ld=lld $(4)" \
	      -DSUPERVISOR_LIB_DIR=$(CURDIR)/$(2)/debug \
	      -DSUPERVISOR_SHIM=$(or $(SAN_SHIM),$($(1)_SHIM)) >/dev/null
	cmake --build build/tests-$(1) -j $(JOBS)
	$($(1)_ENV) ctest --test-dir build/tests-$(1) --output-on-failure --timeout 600 $($(1)_CTEST)
endef
asan_ENV = $(ASAN_ENV)
tsan_ENV = $(TSAN_ENV)
asan_CTEST = $(ASAN_CTEST_ARGS)
tsan_CTEST = $(TSAN_CTEST_ARGS)

check-asan: deps
	$(SAN_SWIFT_BUILD) --scratch-path $(ASAN_SCRATCH) --sanitize address
	$(ASAN_ENV) $(SAN_SWIFT) test -c debug --scratch-path $(ASAN_SCRATCH) --sanitize address --skip-build
	$(call san_c_suites,asan,$(ASAN_SCRATCH),-fsanitize=address,)

# Swift's clang links a TSan runtime that also intercepts libdispatch, so
# the C executables need the toolchain's libdispatch and BlocksRuntime.
check-tsan: deps
	$(SAN_SWIFT_BUILD) --scratch-path $(TSAN_SCRATCH) --sanitize thread
	$(TSAN_ENV) $(SAN_SWIFT) test -c debug --scratch-path $(TSAN_SCRATCH) --sanitize thread --skip-build
	$(SWIFT) build -c debug -j $(JOBS) --scratch-path $(TSAN_SHIM_SCRATCH) --product isulad-shim
	$(call san_c_suites,tsan,$(TSAN_SCRATCH),-fsanitize=thread,$(TSAN_C_LINK))

TSAN_C_LINK = -L$(SWIFT_RT_DIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_RT_DIR)
empty :=
space := $(empty) $(empty)

# memcheck on the harness against the release library as shipped, minus its
# DWARF 5 debug info (valgrind 3.19 cannot read swiftc's and gives up on the
# whole object; the symbol table still names every frame). Forked children
# are silent: their heap is a copy of the parent's, minus its threads.
VG_LIB  := build/valgrind-lib
VG_LOGS := build/valgrind-logs
VALGRIND_FLAGS := --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
                  --child-silent-after-fork=yes --num-callers=40 \
                  --suppressions=$(CURDIR)/mk/valgrind.supp --log-file=$(CURDIR)/$(VG_LOGS)/vg.%p.log
# Cases valgrind 3.19 cannot run: exit_alive_killed needs pidfd_open (syscall
# 434, ENOSYS under valgrind, so the library rightly refuses to signal);
# gc_restart, option_root_dir_env and harden_big_garbage re-exec
# /proc/self/exe, which under valgrind is valgrind itself.
VG_SKIP ?= exit_alive_killed|gc_restart|option_root_dir_env|harden_big_garbage

check-valgrind: deps
	@dpkg -s valgrind >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
	$(SWIFT) build -c release -j $(JOBS) --scratch-path $(VG_SCRATCH) --product supervisor
	rm -rf $(VG_LIB) $(VG_LOGS) && mkdir -p $(VG_LIB) $(VG_LOGS)
	objcopy --strip-debug $(VG_SCRATCH)/release/libsupervisor.so $(VG_LIB)/libsupervisor.so
	ln -sf libsupervisor.so $(VG_LIB)/libsupervisor.so.1
	@# CROSSCOMPILING_EMULATOR prefixes every add_test() executable (CMake
	@# policy CMP0158 is OLD under the suites' cmake_minimum_required).
	cmake -S Tests -B build/tests-valgrind -DSUPERVISOR_LIB_DIR=$(CURDIR)/$(VG_LIB) \
	      -DSUPERVISOR_SHIM=$(CURDIR)/$(VG_SCRATCH)/release/isulad-shim \
	      "-DCMAKE_CROSSCOMPILING_EMULATOR=valgrind;$(subst $(space),;,$(strip $(VALGRIND_FLAGS)))" >/dev/null
	cmake --build build/tests-valgrind -j $(JOBS)
	rc=0; ctest --test-dir build/tests-valgrind -L harness -E '$(VG_SKIP)' -j $(JOBS) --output-on-failure || rc=$$?; \
	bash mk/valgrind-report.sh $(VG_LOGS) && exit $$rc

clean-sanitizers:
	rm -rf $(ASAN_SCRATCH) $(TSAN_SCRATCH) $(TSAN_SHIM_SCRATCH) build/tests-asan build/tests-tsan \
	       build/tests-valgrind $(VG_LIB) $(VG_LOGS)

clean: clean-sanitizers
