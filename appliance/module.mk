# appliance/: smboxd, smctl and the SM-DP / SM-SR logic. Everything but the two mains goes into
# libapp.a so tests can link it.
LIBS += app
app_MAINS := appliance/smboxd.c appliance/smctl.c
app_SRCS := $(filter-out $(app_MAINS),$(wildcard appliance/*.c))
PROGS += smboxd smctl
smboxd_SRCS := appliance/smboxd.c
smctl_SRCS := appliance/smctl.c
-include appliance/smdp/module.mk
-include appliance/es5/module.mk
-include appliance/smsr/module.mk
