/* smctl: the operator's console. Owns the command table (smctl_cmds.c) and the context every
 * command gets: the configuration (loaded on first use) and a lazily opened HSM. */
#ifndef SM_SMCTL_H
#define SM_SMCTL_H

#include <stdio.h>

#include "appliance/config.h"
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

#endif
