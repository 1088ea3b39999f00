# appliance/smsr/: the SM-SR logic (eUICC registration, ES3 for the SM-DP, ES4 for MNOs and M2M SPs,
# eUICC notifications, procedures over ES5). Built into libapp.a with the rest of appliance/.
app_SRCS += $(wildcard appliance/smsr/*.c)
fuzz_euicc_batch_SRCS := appliance/smsr/batch.c
fuzz_smsr_rapdu_SRCS := appliance/smsr/apdu.c appliance/smsr/opctx.c
fuzz_smsr_xmldsig_SRCS := appliance/smsr/xmldsig.c net/xml.c
