# lib/: small infrastructure shared by every layer (errors, logging, hex, buffers, locked memory).
LIBS += sm
sm_SRCS := $(wildcard lib/*.c)
