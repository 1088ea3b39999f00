/* err: the project's one error space and the error record every fallible function fills.
 * Owns error codes (distinct from CKR_*, libpq, OpenSSL) and "first error wins" capture. */
#ifndef SM_ERR_H
#define SM_ERR_H

#include <stddef.h>

typedef enum sm_rc {
    SM_OK = 0,
    SM_EINVAL,     /* bad argument or malformed input */
    SM_ENOMEM,     /* allocation failed */
    SM_EIO,        /* file or socket I/O failed */
    SM_ECONFIG,    /* configuration invalid */
    SM_EPARSE,     /* untrusted bytes could not be parsed */
    SM_ENOTFOUND,  /* object, key or record does not exist */
    SM_EEXIST,     /* object already exists */
    SM_EPIN,       /* HSM PIN wrong, locked or missing */
    SM_EHSM,       /* PKCS#11 call failed */
    SM_EMECH,      /* mechanism or feature not supported by the module */
    SM_ESESSION,   /* HSM session lost (session objects gone) */
    SM_EVERIFY,    /* signature, MAC, cryptogram or receipt did not verify */
    SM_EDB,        /* database error */
    SM_ETIMEOUT,   /* deadline passed */
    SM_EPERM,      /* caller not allowed */
    SM_ESTATE,     /* operation not valid in the current state */
    SM_ELIMIT,     /* a configured limit was exceeded */
    SM_EREPLAY,    /* replayed message or counter */
    SM_ECRYPTO,    /* local cryptographic library failure */
    SM_EPROTO,     /* peer violated the protocol */
    SM_EINTERNAL,  /* bug: an invariant broke */
    SM_RC_COUNT
} sm_rc;

#define SM_ERR_MSG 512

typedef struct sm_err {
    sm_rc code;
    char msg[SM_ERR_MSG]; /* "what was being done: what failed" */
} sm_err;

/* Symbolic name of a code, e.g. "SM_EHSM". */
const char *sm_rc_name(sm_rc rc);

/* Records an error unless one is already recorded (the first error of a call chain is the
 * cause; later ones are consequences). Returns rc so callers can `return sm_errf(...)`.
 * err may be NULL. */
sm_rc sm_errf(sm_err *err, sm_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the recorded message with context ("loading config: " + old message). */
void sm_err_prefix(sm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sm_err_clear(sm_err *err);

#endif
