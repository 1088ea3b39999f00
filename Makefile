# smbox — GNU make build. `make run` and `make test` are the two commands README.md gives;
# everything else here serves them. Each layer lists its own sources in <layer>/module.mk.

SHELL := /bin/bash
.DEFAULT_GOAL := all

# Build in parallel on every core unless the caller chose (-jN on the command line wins).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

# ---- variants -----------------------------------------------------------------------------
# VARIANT=rel (default) or asan (ASan+UBSan). Objects and programs go to build/$(VARIANT)/.
VARIANT ?= rel
BUILD_ROOT ?= build
B := $(BUILD_ROOT)/$(VARIANT)

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

PKGS := openssl libevent libevent_openssl libevent_pthreads libpq libxml-2.0 yaml-0.1 p11-kit-1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(filter-out p11-kit-1,$(PKGS)) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=3 -fstack-clash-protection -fcf-protection
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) -I. $(PKG_CFLAGS) -MMD -MP
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack

ifeq ($(VARIANT),asan)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
HARDEN := -fstack-protector-strong -fPIE
else
OPT := -O2
LDSAN :=
endif

CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(HARDEN) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(LDHARDEN) $(LDSAN) $(EXTRA_LDFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -ldl -lpthread -lm

# ---- layers ---------------------------------------------------------------------------------
# Each module.mk appends to LIBS (layer names, link order: dependents first) and defines
# <layer>_SRCS. Programs and tests are declared the same way.
LIBS :=
PROGS :=
TESTS :=
BENCHES :=
FUZZERS :=
-include lib/module.mk
-include hsm/module.mk
-include crypto/module.mk
-include db/module.mk
-include net/module.mk
-include appliance/module.mk
-include tests/module.mk
-include tests/sim/module.mk

# layer library archives, in link order (dependents first)
LINK_ORDER := app net db crypto hsm sm
LIBFILES = $(foreach l,$(filter $(LIBS),$(LINK_ORDER)),$(B)/lib$(l).a)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

define LIB_template
$(B)/lib$(1).a: $$(call obj,$$($(1)_SRCS))
	@mkdir -p $$(@D)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach l,$(LIBS),$(eval $(call LIB_template,$(l))))

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $($(firstword $(subst /, ,$<))_CFLAGS) -c -o $@ $<

# program: name, sources (main), extra libs
define PROG_template
$(B)/bin/$(1): $$(call obj,$$($(1)_SRCS)) $$(LIBFILES)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $$(call obj,$$($(1)_SRCS)) $$(LIBFILES) $$(LDLIBS_ALL) $$($(1)_LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_template,$(p))))

# tests: each tests/**/test_*.c is one cmocka program linked against every layer + tests/lib
define TEST_template
$(B)/tests/$(basename $(notdir $(1))): $(call obj,$(1)) $$(call obj,$$(testlib_SRCS)) $$(LIBFILES)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $(call obj,$(1)) $$(call obj,$$(testlib_SRCS)) $$(LIBFILES) $$(LDLIBS_ALL) $$(CMOCKA_LIBS)
endef
$(foreach t,$(TESTS),$(eval $(call TEST_template,$(t))))

# benchmarks: bench/*.c linked like programs
define BENCH_template
$(B)/bench/$(basename $(notdir $(1))): $(call obj,$(1)) $$(LIBFILES)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $(call obj,$(1)) $$(LIBFILES) $$(LDLIBS_ALL)
endef
$(foreach t,$(BENCHES),$(eval $(call BENCH_template,$(t))))

PROG_BINS := $(addprefix $(B)/bin/,$(PROGS))
TEST_BINS := $(foreach t,$(TESTS),$(B)/tests/$(basename $(notdir $(t))))
BENCH_BINS := $(foreach t,$(BENCHES),$(B)/bench/$(basename $(notdir $(t))))

# ---- top-level targets ------------------------------------------------------------------------
.PHONY: all deps build tests run test test-unit asan fuzz fuzz-short bench bench-hsm clean \
        test-opencryptoki check-docs

all: build

deps:
	@sh mk/deps.sh

build: $(PROG_BINS) $(SIM_BINS)

tests: build $(TEST_BINS) $(SIM_TEST_BINS)

# Runs every test program of this variant; prints "N passed, N failed".
test-unit: tests
	@tests/run.sh $(B)

asan:
	@$(MAKE) --no-print-directory VARIANT=asan test-unit

# `make test`: set-up, the builds (release, ASan+UBSan, fuzzers), then tests/all.sh: release and
# ASan tests (at once where they can be isolated), short fuzz runs, docs check, one summary.
test: deps
	@s=$$(date +%s); $(MAKE) --no-print-directory VARIANT=rel tests && \
	 $(MAKE) --no-print-directory VARIANT=asan tests && \
	 $(MAKE) --no-print-directory fuzzers && \
	 echo "-- builds: $$(( $$(date +%s) - s )) s"
	@tests/all.sh $(BUILD_ROOT)

# The hsm/ suite against openCryptoki's software token (needs pkcsslotd; the script starts one).
test-opencryptoki: deps tests
	@tests/opencryptoki.sh $(B)

run: deps build
	@appliance/run.sh $(B)

# ---- fuzzing (clang libFuzzer) -----------------------------------------------------------------
# Every source is compiled once into $(FUZZ_DIR)/obj/ (with the fuzzer's instrumentation) and each
# target links the objects it names: the shared library sources are not compiled again per target.
FUZZ_CC := clang
FUZZ_DIR := $(BUILD_ROOT)/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
               -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_LIBSRCS = $(sm_SRCS) $(crypto_SRCS) $(fuzzlib_SRCS)
fuzz_obj = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

define FUZZ_template
$(FUZZ_DIR)/$(basename $(notdir $(1))): $(call fuzz_obj,$(1)) $$(call fuzz_obj,$$(FUZZ_LIBSRCS) $$($(basename $(notdir $(1)))_SRCS))
	@mkdir -p $$(@D)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $$^ $$(PKG_LIBS) -ldl -lpthread -lm
endef
$(foreach f,$(FUZZERS),$(eval $(call FUZZ_template,$(f))))
FUZZ_BINS := $(foreach f,$(FUZZERS),$(FUZZ_DIR)/$(basename $(notdir $(f))))

.PHONY: fuzzers
fuzzers: $(FUZZ_BINS)

fuzz: deps fuzzers
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} tests/fuzz.sh $(FUZZ_DIR)

# ---- benchmarks ---------------------------------------------------------------------------------
bench-hsm: deps build $(BENCH_BINS)
	@bench/bench-hsm.sh $(B)

# bench-e2e: downloads per second through the whole appliance on this box, beside the ceiling computed
# in the same run (bench/e2e/bench_e2e.c links the end-to-end harness of tests/support/ like a test)
BENCH_E2E := $(B)/bench/bench_e2e
$(BENCH_E2E): $(call obj,bench/e2e/bench_e2e.c) $(call obj,$(testlib_SRCS)) $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL) $(CMOCKA_LIBS)

.PHONY: bench-e2e
bench-e2e: deps build $(BENCH_E2E)
	@bench/bench-e2e.sh $(B)

bench: bench-hsm bench-e2e

clean:
	rm -rf build

-include $(shell find $(B) $(FUZZ_DIR) -name "*.d" 2>/dev/null)
