/* smctl: the operator's console. Owns the command table (smctl_cmds.c) and the context every
 * command gets: the configuration (loaded on first use) and a lazily opened HSM. */
#ifndef SM_SMCTL_H
#define SM_SMCTL_H

#include <stdio.h>

#include "appliance/config.h"
#include "db/pg.h"
#include "hsm/hsm.h"

typedef struct smctl_ctx {
    const char *config_path; /* -c FILE or $SMBOX_CONFIG; NULL = embedded defaults */
    sm_config *cfg;
    hsm_ctx *hsm;
    hsm_sess *sess;
} smctl_ctx;

typedef struct smctl_cmd {
    const char *name;
    const char *synopsis; /* "init | list | status" */
    const char *summary;  /* one line for `smctl help` */
    int (*run)(smctl_ctx *c, int argc, char **argv); /* argv[0] is the command name */
    void (*help)(FILE *out);                          /* long help for `smctl help NAME` */
} smctl_cmd;

extern const smctl_cmd smctl_cmds[];

/* Loads the configuration once; prints the error and returns NULL on failure. */
const sm_config *smctl_config(smctl_ctx *c);
/* Opens the HSM once (one session); prints the error and returns NULL on failure. */
hsm_sess *smctl_hsm(smctl_ctx *c);
/* Prints "smctl: <msg>" to stderr and returns the exit code 1. */
int smctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connects to the database once, as configured (smctl_db.c); prints the error and returns NULL. The
 * _try form is quiet and says why in `why` (for optional use, e.g. auditing the key ceremony). */
db_conn *smctl_db(smctl_ctx *c);
db_conn *smctl_db_try(smctl_ctx *c, char *why, size_t cap);
/* Who runs this smctl: "ssh:<user>@<client address>" over SSH, else "local:<user>" (user = the uid). */
const char *smctl_actor(void);
/* Records this command line (secret-looking option values masked) and its outcome in the audit trail,
 * when this invocation reached the database; a failure to record is reported on stderr. */
int smctl_audit_cmd(smctl_ctx *c, int argc, char **argv, const char *outcome);

/* Commands (one file each). */
int smctl_config_main(smctl_ctx *c, int argc, char **argv);
void smctl_config_help(FILE *out);
int smctl_hsm_main(smctl_ctx *c, int argc, char **argv);
void smctl_hsm_help(FILE *out);
int smctl_es_main(smctl_ctx *c, int argc, char **argv);
void smctl_es_help(FILE *out);
int smctl_profile_main(smctl_ctx *c, int argc, char **argv);
void smctl_profile_help(FILE *out);
int smctl_order_main(smctl_ctx *c, int argc, char **argv);
void smctl_order_help(FILE *out);
int smctl_mno_main(smctl_ctx *c, int argc, char **argv);
void smctl_mno_help(FILE *out);
int smctl_demo_main(smctl_ctx *c, int argc, char **argv);
void smctl_demo_help(FILE *out);
int smctl_db_main(smctl_ctx *c, int argc, char **argv);
void smctl_db_help(FILE *out);
int smctl_audit_main(smctl_ctx *c, int argc, char **argv);
void smctl_audit_help(FILE *out);
int smctl_euicc_main(smctl_ctx *c, int argc, char **argv); /* appliance/smsr/smctl_euicc.c */
void smctl_euicc_help(FILE *out);
int smctl_es5_main(smctl_ctx *c, int argc, char **argv); /* appliance/es5/smctl_es5.c */
void smctl_es5_help(FILE *out);

#endif
