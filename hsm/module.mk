# hsm/: PKCS#11 access (module, sessions, key templates, operations). Nothing else includes pkcs11.h.
LIBS += hsm
hsm_SRCS := $(wildcard hsm/*.c)
