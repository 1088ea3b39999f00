# tests/sim: the independent eUICC / device / SMSC simulator. Plain OpenSSL + libevent only:
# it never links crypto/, hsm/, db/, net/, appliance/ or lib/ (a shared bug must not hide).
# Programs under $(B)/sim/, cmocka tests $(B)/sim/test_*, objects under $(B)/sim/obj/.

SIM_DIR := tests/sim
SIM_MAIN_SRCS := $(SIM_DIR)/main.c
SIM_TEST_SRCS := $(wildcard $(SIM_DIR)/test_*.c)
SIM_FUZZ_SRCS := $(wildcard $(SIM_DIR)/fuzz_*.c)
SIM_LIB_SRCS := $(filter-out $(SIM_MAIN_SRCS) $(SIM_TEST_SRCS) $(SIM_FUZZ_SRCS) $(SIM_DIR)/testutil.c,\
                  $(wildcard $(SIM_DIR)/*.c))
SIM_OBJDIR := $(B)/sim/obj
sim_obj = $(patsubst $(SIM_DIR)/%.c,$(SIM_OBJDIR)/%.o,$(1))
SIM_LIB_OBJS := $(call sim_obj,$(SIM_LIB_SRCS))
SIM_LIBA := $(B)/sim/libsim.a
SIM_LDLIBS := $(shell pkg-config --libs openssl libevent libevent_openssl 2>/dev/null) -lpthread

SIM_BINS := $(B)/sim/sim
SIM_TEST_BINS := $(patsubst $(SIM_DIR)/%.c,$(B)/sim/%,$(SIM_TEST_SRCS))

$(SIM_OBJDIR)/%.o: $(SIM_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(SIM_LIBA): $(SIM_LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

$(B)/sim/sim: $(call sim_obj,$(SIM_MAIN_SRCS)) $(SIM_LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SIM_LDLIBS)

$(B)/sim/test_%: $(SIM_OBJDIR)/test_%.o $(SIM_OBJDIR)/testutil.o $(SIM_LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SIM_LDLIBS) $(CMOCKA_LIBS)

# libFuzzer targets (clang), built into $(BUILD_ROOT)/fuzz/ and run by tests/fuzz.sh; the simulator's
# sources are compiled once into $(BUILD_ROOT)/fuzz/sim/obj/ and linked by every target.
SIM_FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(shell pkg-config --cflags openssl libevent 2>/dev/null) \
                   -fsanitize=fuzzer,address,undefined -Wall -Wextra -Werror -Wno-unused-parameter
SIM_FUZZ_OBJDIR := $(BUILD_ROOT)/fuzz/sim/obj
SIM_FUZZ_LIBOBJS := $(patsubst $(SIM_DIR)/%.c,$(SIM_FUZZ_OBJDIR)/%.o,$(SIM_LIB_SRCS))
SIM_FUZZ_BINS := $(patsubst $(SIM_DIR)/%.c,$(BUILD_ROOT)/fuzz/%,$(SIM_FUZZ_SRCS))
$(SIM_FUZZ_OBJDIR)/%.o: $(SIM_DIR)/%.c
	@mkdir -p $(@D)
	clang $(SIM_FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD_ROOT)/fuzz/fuzz_sim_%: $(SIM_FUZZ_OBJDIR)/fuzz_sim_%.o $(SIM_FUZZ_LIBOBJS)
	@mkdir -p $(@D)
	clang $(SIM_FUZZ_CFLAGS) -o $@ $^ $(SIM_LDLIBS)
# the objects are kept (a pattern chain would delete them as intermediate files)
.SECONDARY: $(SIM_FUZZ_LIBOBJS) $(patsubst $(SIM_DIR)/%.c,$(SIM_FUZZ_OBJDIR)/%.o,$(SIM_FUZZ_SRCS))

.PHONY: sim-fuzzers bench-sim
sim-fuzzers: $(SIM_FUZZ_BINS)
fuzzers: $(SIM_FUZZ_BINS)

# Throughput of one simulator core (key establishment, SCP03t install, SCP80), with raw
# OpenSSL ratios measured in the same run. Never part of the tests.
bench-sim: $(SIM_BINS)
	@bench/bench-sim.sh $(B)
