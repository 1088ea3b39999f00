# appliance/smdp/: the SM-DP — profile package codec, personalisation, personalisation data, sealed
# stock, order and MNO files, order runs, templates and batch imports, the profile download procedure
# and its ES handlers (docs/sm-dp.md). Built into libapp.a with the rest of appliance/.
app_SRCS += $(wildcard appliance/smdp/*.c)
fuzz_saip_SRCS := appliance/smdp/der.c appliance/smdp/saip.c appliance/smdp/saip_check.c \
                  appliance/smdp/saip_enc.c appliance/smdp/simenc.c
fuzz_orderfile_SRCS := appliance/smdp/orderfile.c appliance/smdp/persodata.c appliance/smdp/personalise.c \
                       appliance/smdp/secbuf.c $(fuzz_saip_SRCS)
fuzz_smdp_rscript_SRCS := appliance/smdp/rscript.c

# `make bench-smdp`: personalised+sealed profiles per second beside the bare HSM operations.
.PHONY: bench-smdp
bench-smdp: $(B)/bench/bench_smdp
	@bench/bench-smdp.sh $(B)
