# crypto/: BER-TLV, GP certificates, key establishment, SCP03/SCP03t, SCP80, SCP81 — on top of hsm/.
# Private- and secret-key work goes through hsm/; OpenSSL only for public-key checks.
LIBS += crypto
crypto_SRCS := $(wildcard crypto/*.c)

# Every fuzz target is linked with all crypto/ sources. crypto/ references hsm/ symbols (never
# reached by the fuzzed parsers, which make no hsm calls), so the hsm/ sources are linked too.
fuzzlib_SRCS += $(hsm_SRCS)

# `make bench-crypto`: protocol-layer throughput beside the bare hsm/ primitives underneath.
.PHONY: bench-crypto
bench-crypto: $(B)/bench/bench_crypto
	@$(B)/bench/bench_crypto
