# libsupervisor — see README.md. Targets install their own Debian prerequisites.
PREFIX   ?= /usr/local
DESTDIR  ?=
SWIFT    ?= swift
VERSION  := 1.0.0
BUILD    := .build/release
TESTS_BUILD := build/tests
DEB_DEPS := libyajl-dev libcap-dev cmake runc busybox-static pkg-config make gcc
JOBS     ?= 2

.PHONY: all build deps check check-swift check-c install demo bench fuzz clean

all: build

# Installs missing Debian packages (root, as in CI); no-op when all present.
deps:
	@missing=""; for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build -c release -j $(JOBS)
	@# Engines link against the SONAME; make the build dir look like an install.
	ln -sfn libsupervisor.so $(BUILD)/.libsupervisor.so.1.tmp && mv -Tf $(BUILD)/.libsupervisor.so.1.tmp $(BUILD)/libsupervisor.so.1

check: build check-swift check-c

check-swift: deps
	$(SWIFT) test -j $(JOBS)

check-c: build
	cmake -S Tests -B $(TESTS_BUILD) -DSUPERVISOR_LIB_DIR=$(CURDIR)/$(BUILD) \
	      -DSUPERVISOR_SHIM=$(CURDIR)/$(BUILD)/isulad-shim >/dev/null
	cmake --build $(TESTS_BUILD) -j $(JOBS)
	ctest --test-dir $(TESTS_BUILD) --output-on-failure --timeout 300

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libsupervisor.so $(DESTDIR)$(PREFIX)/lib/libsupervisor.so.$(VERSION)
	ln -sf libsupervisor.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsupervisor.so.1
	ln -sf libsupervisor.so.1 $(DESTDIR)$(PREFIX)/lib/libsupervisor.so
	install -m 0644 Include/supervisor.h $(DESTDIR)$(PREFIX)/include/supervisor.h
	install -m 0755 $(BUILD)/isulad-shim $(DESTDIR)$(PREFIX)/bin/isulad-shim
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' supervisor.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/supervisor.pc

# The mini-engine runs real containers through the shim and the library.
demo: build
	bash examples/demo.sh

# Benchmarks against the release library; writes bench/results.json.
bench: build
	bash bench/run.sh

# Bounded libFuzzer runs of the parsers (garbage.json, process.json, exit status).
fuzz: deps
	bash fuzz/run.sh

# Sanitizer and valgrind variants of the checks (check-asan, check-tsan, check-valgrind).
-include mk/sanitizers.mk

clean:
	rm -rf .build build
