# tests/: one cmocka program per tests/<layer>/test_*.c (tests/sim has its own module.mk),
# linked with tests/support/. Benchmarks live in bench/, fuzz targets in tests/fuzz/.
testlib_SRCS := $(wildcard tests/support/*.c)
TESTS += $(filter-out tests/sim/%,$(wildcard tests/*/test_*.c))
BENCHES += $(wildcard bench/*.c)
FUZZERS += $(wildcard tests/fuzz/fuzz_*.c)
