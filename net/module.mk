# net/: the ES interfaces — HTTPS server and client (mutual TLS, key in the HSM through the libp11
# engine), SOAP and REST bindings driven by one function table, limits, peer identity.
LIBS += net
net_SRCS := $(wildcard net/*.c)
# tls.c must call the (deprecated) OpenSSL ENGINE API to reach the libp11 engine: that file only.
net_CFLAGS = $(if $(filter net/tls.c,$<),-Wno-deprecated-declarations)

# The decoders link alone (no HSM, no database, no event loop) for the fuzz targets.
NET_CODEC_SRCS := net/es_value.c net/es_table.c net/es_functions.c net/status.c net/xml.c net/soap.c net/json.c \
                  net/rest.c
fuzz_soap_SRCS := $(NET_CODEC_SRCS)
fuzz_rest_SRCS := $(NET_CODEC_SRCS)

# `make bench-net`: SOAP over mutual TLS against a bare libevent HTTPS server, same run.
.PHONY: bench-net
bench-net: $(B)/bench/bench_net $(B)/bench/bench_net_bare $(B)/bench/bench_net_load
	@bench/bench-net.sh $(B)
