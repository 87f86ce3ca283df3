# sampled: one Makefile for the daemon, the CLI, the tests and the demo.
# Objects go to build/; generated protobuf-c code to build/gen/.  Quiet unless V=1.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PKGS    := libunwind-generic libunwind libelf libdw libprotobuf-c zlib liblzma

Q := $(if $(V),,@)
E := $(if $(V),@true,@echo)

WARN   := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wshadow -Werror
# OPT and SAN are the knobs (check-asan sets them); CFLAGS, CPPFLAGS and
# LDFLAGS from the command line are added last, never replace ours.
OPT    ?= -O2 -g
ALL_CFLAGS   = -std=gnu11 -fno-omit-frame-pointer $(OPT) $(WARN) $(SAN) $(CFLAGS)
ALL_CPPFLAGS = -D_GNU_SOURCE -I. -Icommon -Iproto -I$(BUILD)/gen \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CPPFLAGS)
ALL_LDFLAGS  = $(SAN) $(LDFLAGS)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lstdc++

PROTOS     := $(wildcard proto/*.proto)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H    := $(PROTO_C:.c=.h)

COMMON_SRC := $(wildcard common/*.c) proto/wire.c
# The daemon in layers, lowest first (docs/ARCHITECTURE.md; tests/layers.py checks them).
DAEMON_DIRS := sample symbols unwind python profile serve
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c $(DAEMON_DIRS:%=daemon/%/*.c)))
CLI_SRC    := $(filter-out cli/main.c,$(wildcard cli/*.c))
HTML_ASSETS := cli/html/page.html cli/html/app.js cli/html/style.css
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
# What the unit tests share (tests/unit/helpers): one library, but for the
# allocation counter, which replaces malloc for a whole binary (see below).
HELPER_SRC := $(filter-out tests/unit/helpers/allocs.c,$(wildcard tests/unit/helpers/*.c))
TARGET_SRC := $(wildcard tests/targets/*.c)
TARGET_CXX_SRC := $(wildcard tests/targets/*.cc)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(PROTO_C:.c=.o)
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC)) $(BUILD)/gen/html_assets.o
HELPER_OBJ := $(call obj,$(HELPER_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TARGET_BIN := $(patsubst tests/targets/%.c,$(BUILD)/targets/%,$(TARGET_SRC)) \
              $(patsubst tests/targets/%.cc,$(BUILD)/targets/%,$(TARGET_CXX_SRC))

all: $(BUILD)/sampled $(BUILD)/samplectl

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	$(E) "  PROTOC  $<"
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

# The HTML page's assets are real files, embedded into samplectl at build time.
$(BUILD)/gen/html_assets.c: $(HTML_ASSETS) cli/html/embed.sh
	$(E) "  EMBED   $@"
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)sh cli/html/embed.sh $(HTML_ASSETS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/html_assets.o: $(BUILD)/gen/html_assets.c
	$(E) "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) -Icli/html $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(E) "  CC      $<"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(filter-out -Wmissing-prototypes,$(ALL_CFLAGS)) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.c | $(PROTO_H)
	$(E) "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The daemon's modules name each other's headers by folder ("symbols/maps.h");
# unit tests reach into the modules they test, and name their helpers' headers.
$(BUILD)/daemon/%.o: ALL_CPPFLAGS += -Idaemon
$(BUILD)/tests/unit/%.o: ALL_CPPFLAGS += -Idaemon -Icli -Itests/unit/helpers

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/libdaemon.a: $(DAEMON_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/libcli.a: $(CLI_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/libtesthelpers.a: $(HELPER_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/sampled: $(BUILD)/daemon/main.o $(BUILD)/libdaemon.a $(BUILD)/libcommon.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/samplectl: $(BUILD)/cli/main.o $(BUILD)/libcli.a $(BUILD)/libcommon.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libtesthelpers.a $(BUILD)/libdaemon.a \
		  $(BUILD)/libcli.a $(BUILD)/libcommon.a
	$(E) "  LD      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# In the library, the counter's malloc would be linked into every test that
# calls malloc; only the tests that count allocations link it.
ALLOC_COUNTED := test_tree test_window
$(ALLOC_COUNTED:%=$(BUILD)/tests/%): $(BUILD)/tests/unit/helpers/allocs.o

# Test targets are real programs with known profiles; the unwinder must cope
# with code built without frame pointers, so they are built that way.
$(BUILD)/targets/%: tests/targets/%.c
	$(E) "  CC      $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -o $@ $< -lpthread -lm

$(BUILD)/targets/%: tests/targets/%.cc
	$(E) "  CXX     $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -o $@ $< -lpthread -lm

targets: $(TARGET_BIN)
units: $(UNIT_BIN)

# libFuzzer harnesses (tests/fuzz) link the daemon's objects rebuilt by clang
# with the sanitizers in $(BUILD)-libfuzzer, apart from the gcc build:
# fuzz-build runs this Makefile again there, where `fuzzers` links them.
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all

$(BUILD)/tests/fuzz/%.o: ALL_CPPFLAGS += -Idaemon
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/libdaemon.a $(BUILD)/libcommon.a
	$(E) "  LD      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(subst fuzzer-no-link,fuzzer,$(ALL_LDFLAGS)) -o $@ $^ $(LDLIBS)

fuzzers: $(FUZZ_BIN)
fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)-libfuzzer CC=clang OPT="-O1 -g" \
	  SAN="$(FUZZ_SAN)" WARN="$(WARN) -Wno-gnu-variable-sized-type-not-at-end" fuzzers
fuzz: deps
	$(Q)$(MAKE) --no-print-directory targets fuzz-build
	$(Q)tests/fuzz/run.sh $(BUILD)-libfuzzer $(FUZZ_SECONDS) $(BUILD)/targets

# Build dependencies come from Debian; a fresh machine needs nothing by hand.
DEB_PKGS := build-essential pkg-config libunwind-dev libelf-dev libdw-dev libprotobuf-c-dev \
            protobuf-c-compiler libcmocka-dev protobuf-compiler zlib1g-dev liblzma-dev elfutils \
            linux-perf util-linux procps python3 binutils xz-utils libc6-dbg clang libclang-rt-dev valgrind
deps:
	@if ! tests/have-deps.sh; then \
	  echo "installing build dependencies: $(DEB_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS) >/dev/null; \
	fi

check: deps
	$(Q)$(MAKE) --no-print-directory all units targets
	$(Q)tests/run.sh $(BUILD)

check-asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all units targets
	$(Q)rm -rf build-asan/sanitizer && mkdir -p build-asan/sanitizer
	$(Q)SANITIZER_LOG_DIR=$(CURDIR)/build-asan/sanitizer \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build-asan/sanitizer/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/build-asan/sanitizer/ubsan \
	  tests/run.sh build-asan

demo: deps
	$(Q)$(MAKE) --no-print-directory all targets
	$(Q)tests/demo.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory all targets units
	$(Q)tests/bench/run.sh $(BUILD)

# SOAK_SECONDS (default 600) of sampling at 999 Hz with a tree asked every
# second: the daemon's memory and descriptors must stay flat.
soak: deps
	$(Q)$(MAKE) --no-print-directory all targets
	$(Q)tests/soak.sh $(BUILD)

# SOAK_SECONDS (default 300) of time windows at 999 Hz on thousands of
# distinct stacks: the buckets must stay within their memory cap.
soak-window: deps
	$(Q)$(MAKE) --no-print-directory all targets
	$(Q)tests/soak-window.sh $(BUILD)

# BOUNDS_SECONDS (default 180) of a target whose every sample is a new
# stack, at 999 Hz and the default --max-nodes: the tree stays bounded,
# memory flat, and every tree answers within a second.
soak-tree: deps
	$(Q)$(MAKE) --no-print-directory all targets
	$(Q)BUILD=$(CURDIR)/$(BUILD) BOUNDS_SECONDS=$${BOUNDS_SECONDS:-180} \
	  BOUNDS_MAX_NODES=$${BOUNDS_MAX_NODES:-250000} bash tests/integration/test_bounds.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/sampled $(BUILD)/samplectl $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/sampled.1 docs/samplectl.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf build build-asan build-libfuzzer build-asan-libfuzzer

.PHONY: all deps check check-asan demo bench soak soak-window soak-tree install clean targets units fuzz fuzz-build fuzzers
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
