# libsupervisor — see README.md. Targets install their own Debian prerequisites.
PREFIX   ?= /usr/local
DESTDIR  ?=
SWIFT    ?= swift
# The one version: SUPERVISOR_VERSION in the public header.
VERSION  := $(shell sed -n 's/^.define SUPERVISOR_VERSION "\(.*\)"$$/\1/p' Include/supervisor.h)
BUILD    := .build/release
TESTS_BUILD := build/tests
DEB_DEPS := libyajl-dev libcap-dev cmake runc busybox-static pkg-config make gcc
JOBS     ?= 2
# Packaging and ABI checks: make deb, abi/check.sh.
DEB_DEPS += debhelper dpkg-dev lintian abi-compliance-checker abigail-tools
DEB_OUT  := build/deb

.PHONY: all build deps check check-swift check-c install demo bench fuzz clean deb check-deb check-abi version

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

check: build check-swift check-deb check-c

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
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$${prefix}/lib|' -e 's|@RPATH@|-Wl,-rpath,$${libdir} |' \
	    -e 's|@VERSION@|$(VERSION)|g' supervisor.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/supervisor.pc

# Debian packages (debian/, dpkg-buildpackage) into build/deb, linted.
deb: build
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)
	DEB_OUT_DIR=$(CURDIR)/$(DEB_OUT) dpkg-buildpackage -us -uc -b -j$(JOBS) \
	  --buildinfo-option=-u$(CURDIR)/$(DEB_OUT) --changes-option=-u$(CURDIR)/$(DEB_OUT) \
	  --buildinfo-file=$(CURDIR)/$(DEB_OUT)/libsupervisor.buildinfo \
	  --changes-file=$(CURDIR)/$(DEB_OUT)/libsupervisor.changes
	debian/rules clean
	lintian --fail-on error,warning --info $(DEB_OUT)/*.deb

# Installs the packages, uses them (a C program, a runc container), purges them.
check-deb: deb
	bash Tests/packaging/deb-install-test.sh $(CURDIR) $(DEB_OUT)

# The ABI against every released baseline in abi/ (ctest runs it too).
check-abi: build
	bash abi/check.sh Include/supervisor.h $(BUILD)/libsupervisor.so

version:
	@echo $(VERSION)

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
