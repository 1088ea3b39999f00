/* err: the simulator's own error codes and "first error wins" record (independent of lib/err.h).
 * Every fallible simulator function returns sim_rc and fills a sim_err passed last. */
#ifndef SIM_ERR_H
#define SIM_ERR_H

typedef enum sim_rc {
    SIM_OK = 0,
    SIM_EINVAL,   /* bad argument */
    SIM_ENOMEM,   /* allocation failed */
    SIM_EIO,      /* file or socket I/O failed */
    SIM_EPARSE,   /* untrusted bytes could not be parsed */
    SIM_ENOTFOUND,/* no such card, profile, key, file */
    SIM_EEXIST,   /* already exists */
    SIM_EVERIFY,  /* signature, MAC, cryptogram or receipt did not verify */
    SIM_ESTATE,   /* not valid in the current state */
    SIM_ELIMIT,   /* a limit (memory, size, count) was exceeded */
    SIM_EREPLAY,  /* counter replayed or too low */
    SIM_ECRYPTO,  /* OpenSSL failure */
    SIM_EPROTO,   /* peer violated the protocol */
    SIM_EPERM,    /* refused by policy (POL1) */
    SIM_RC_COUNT
} sim_rc;

typedef struct sim_err {
    sim_rc code;
    char msg[384];
} sim_err;

const char *sim_rc_name(sim_rc rc);
/* Records the error unless one is already recorded; returns rc. err may be NULL. */
sim_rc sim_errf(sim_err *err, sim_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes context to the recorded message. */
void sim_err_prefix(sim_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_err_clear(sim_err *err);

#endif
