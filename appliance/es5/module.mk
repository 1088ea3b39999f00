# appliance/es5/: ES5 delivery to eUICCs (queue, SMS/SCP80 over SMPP, HTTPS/SCP81), in libapp.a.
app_SRCS += $(wildcard appliance/es5/*.c)

# Fuzz targets of the ES5 parsers of untrusted bytes: SMPP PDUs (net/smpp.c), and what cards send
# (notifications, response scripts).
fuzz_smpp_SRCS := net/smpp.c
fuzz_es5_mo_SRCS := appliance/es5/notif_parse.c appliance/es5/outcome.c

# `make bench-es5`: SMS packets/s and HTTPS admin sessions/s against the simulator (bench/bench_es5.c).
.PHONY: bench-es5
bench-es5: $(B)/bench/bench_es5 $(B)/sim/sim $(B)/bin/smctl
	@SMBOX_BIN_DIR=$(abspath $(B))/bin $(B)/bench/bench_es5
bench: bench-es5
