/* secmem: locked, non-dumpable memory for the few secrets that must reach process memory
 * (HSM PIN, PSK-TLS key, the SoftHSM2 KDF fallback). Owns allocation, locking and wiping. */
#ifndef SM_SECMEM_H
#define SM_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Allocates n bytes (zeroed) in pages that are mlock'ed and excluded from core dumps.
 * Fails (NULL) rather than hand out unlocked memory. */
void *sm_secmem_alloc(size_t n);

/* Wipes with explicit_bzero, unlocks and releases. p may be NULL. */
void sm_secmem_free(void *p, size_t n);

/* Reads a secret from a file (trailing newline stripped) into secure memory.
 * *out is NUL-terminated; *len excludes the NUL. Caller frees with sm_secmem_free(*out, *len+1). */
sm_rc sm_secmem_read_file(const char *path, char **out, size_t *len, sm_err *err);

/* Copies a secret from an environment variable into secure memory (same contract). */
sm_rc sm_secmem_from_env(const char *var, char **out, size_t *len, sm_err *err);

/* Process-wide hardening: no core dumps, not ptrace-attachable by other users (PR_SET_DUMPABLE 0). */
void sm_secmem_harden_process(void);

#endif
