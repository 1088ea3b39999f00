/* es5test: what the ES5 tests share — a fleet made by `sim fleet` and registered the simple way (EIS,
 * profiles, ISD-R SCP80/SCP81 key sets unwrapped from the batch's transport key and re-wrapped under
 * the test KEK; the real importer is appliance/smsr's), the simulator running (`sim run` with its
 * SMSC and control socket), and an smboxd-like node in-process (configuration, HSM, keyring,
 * database pool, workers, the es5 service, its loop on a thread). */
#ifndef SM_ES5TEST_H
#define SM_ES5TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "appliance/app.h"
#include "db/pg.h"
#include "hsm/hsm.h"
#include "tests/support/testenv.h"

#define ES5T_SR_SMS "12345"     /* the SM-SR SMS address the fleet's ISD-Rs know (our source address) */

typedef struct es5t_card {
    char eid[33];
    char msisdn[16];
    char iccid[21];
    bool https;             /* the batch declares HTTPS support */
    uint8_t isdr_aid[16];
    size_t isdr_aid_len;
    uint8_t elf_aid[16], module_aid[16], isdp_aid[16];
    size_t elf_aid_len, module_aid_len, isdp_aid_len;
} es5t_card;

typedef struct es5t_fleet {
    char dir[256];
    size_t n;
    es5t_card *cards;
} es5t_fleet;

/* The simulator binary ($SMBOX_BIN_DIR/../sim/sim). */
const char *es5t_sim_bin(void);
/* `sim fleet --count n --out dir --sr-sms 12345 --no-es1`, then reads the cards from the batch. 0 = ok. */
int es5t_fleet_make(es5t_fleet *f, const char *dir, unsigned n);
/* The same with `--sms-only sms_only`: the last sms_only cards declare no HTTPS support. */
int es5t_fleet_make2(es5t_fleet *f, const char *dir, unsigned n, unsigned sms_only);
void es5t_fleet_free(es5t_fleet *f);
/* Registers every eUICC of the batch in the database, keys re-wrapped under kek. 0 = ok. */
int es5t_fleet_import(const es5t_fleet *f, db_conn *c, hsm_sess *s, const hsm_key *kek, const char *kek_label);

/* A free TCP port on 127.0.0.1 (bound and released). */
int es5t_free_port(void);

typedef struct es5t_sim {
    pid_t pid;
    char ctl[300];
    char log[300];
    int smpp_port, admin_port;
} es5t_sim;
/* Starts `sim run` on the fleet's state with its SMSC on smpp_port and the SM-SR admin URL
 * https://127.0.0.1:admin_port/ram; waits for its control socket. extra: more options ("" = none). */
int es5t_sim_start(es5t_sim *s, const es5t_fleet *f, int smpp_port, int admin_port, const char *extra);
void es5t_sim_stop(es5t_sim *s);
/* One control command; out (may be NULL) gets the data lines and the final line. 0 when it said OK. */
int es5t_simctl(const es5t_sim *s, char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A counter of `stats` ("mt_lost", "push", ...); -1 when absent. */
long es5t_sim_stat(const es5t_sim *s, const char *name);

/* An in-process node with the es5 service. */
typedef struct es5t_node {
    sm_app app;
    db_pool *pool;
    sm_worker_hook hook;        /* the workers keep a pointer to it */
    pthread_t loop;
    bool loop_running;
    char cfgpath[300];
} es5t_node;
/* Writes a configuration (node name, workers, es5 keys given in yaml_es5 as "  key: value\n" lines),
 * opens the HSM token (creating the appliance keys with prefix "t" when missing), the pool on
 * conninfo, the workers and es5_start, then runs the loop on a thread. 0 = ok. */
int es5t_node_start(es5t_node *n, testenv_hsm *T, const char *dir, const char *name, const char *conninfo,
                    const char *yaml_es5);
void es5t_node_stop(es5t_node *n);

/* Polls es5_result_get (on its own connection) until the request is done or timeout_ms passes. */
int es5t_wait_result(db_conn *c, int64_t req, int timeout_ms, void *result /* es5_result* */);

/* Builds a script of one C-APDU TLV (22 L apdu) into out; returns its length. */
size_t es5t_capdu(uint8_t *out, size_t cap, const char *apdu_hex);

#endif
