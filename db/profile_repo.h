/* profile_repo: the SM-DP's data: profile types (templates), the stock of personalised profiles
 * (stored only as AES-GCM ciphertext made by the caller under the HSM profile key), download orders
 * and MNO transport keys (wrapped under the HSM KEK). Changes are audited in the caller's
 * transaction. The database never sees a clear profile or key. */
#ifndef SM_DB_PROFILE_REPO_H
#define SM_DB_PROFILE_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

/* ---- profile types ------------------------------------------------------------------------------- */

typedef struct db_ptype {
    char name[101];
    char mno_id[65];
    char description[256];
    int64_t required_memory;
} db_ptype;

/* Creates or replaces a type; template (the unpersonalised package, no subscriber secrets) may be NULL. */
sm_rc db_ptype_put(db_conn *c, const char *actor, const db_ptype *t, const uint8_t *tmpl, size_t len, sm_err *err);
sm_rc db_ptype_get(db_conn *c, const char *name, db_ptype *out, sm_err *err);
/* The template (malloc'd; NULL, 0 when none). */
sm_rc db_ptype_template(db_conn *c, const char *name, uint8_t **out, size_t *len, sm_err *err);

/* ---- stock ---------------------------------------------------------------------------------------- */

typedef struct db_stock {
    char iccid[21];
    char profile_type[101];
    char imsi[16];
    char msisdn[16];
    char state[12];          /* available | reserved | installed | retired */
    int64_t order_id;        /* 0 = none */
    uint8_t iv[12];          /* AES-GCM nonce */
    uint8_t *ciphertext;     /* ciphertext || tag (malloc'd by db_stock_get) */
    size_t len;
    char key_label[65];      /* HSM key that encrypted it */
} db_stock;

/* Adds one personalised profile (ciphertext and nonce from hsm_aes_gcm_encrypt). */
sm_rc db_stock_add(db_conn *c, const char *actor, const db_stock *s, sm_err *err);
/* Reserves an available profile of a type for an order (FOR UPDATE SKIP LOCKED: concurrent orders get
 * different profiles); iccid receives it. SM_ENOTFOUND when the stock is empty. */
sm_rc db_stock_reserve(db_conn *c, const char *actor, const char *profile_type, int64_t order_id, char iccid[21],
                       sm_err *err);
/* Reserves a given ICCID. SM_ESTATE when it is not available. */
sm_rc db_stock_reserve_iccid(db_conn *c, const char *actor, const char *iccid, int64_t order_id, sm_err *err);
sm_rc db_stock_get(db_conn *c, const char *iccid, db_stock *out, sm_err *err);
void db_stock_clear(db_stock *s);
/* State change from `from` (NULL = any); SM_ESTATE when not in `from`. Leaving 'reserved' for
 * 'available' releases the order. */
sm_rc db_stock_set_state(db_conn *c, const char *actor, const char *iccid, const char *from, const char *to,
                         sm_err *err);
sm_rc db_stock_available(db_conn *c, const char *profile_type, long *n, sm_err *err);

/* ---- orders ---------------------------------------------------------------------------------------- */

typedef struct db_order {
    int64_t id;
    char requester[65];
    char call_id[129];
    char mno_id[65];
    char eid[33];
    char iccid[21];
    char profile_type[101];
    char smsr_id[65];
    bool enable;
    char state[16];          /* new | in-progress | done | failed | expired */
    int64_t proc_id;
} db_order;

sm_rc db_order_create(db_conn *c, const char *actor, const db_order *o, int64_t *id, sm_err *err);
sm_rc db_order_get(db_conn *c, int64_t id, db_order *out, sm_err *err);
/* Updates state, ICCID (NULL keeps), procedure (0 keeps) and the final result (NULL keeps). */
sm_rc db_order_update(db_conn *c, const char *actor, int64_t id, const char *state, const char *iccid,
                      int64_t proc_id, const uint8_t *result, size_t len, sm_err *err);

/* ---- MNO keys -------------------------------------------------------------------------------------- */

typedef struct db_mnokey {
    char mno_id[65];
    char key_id[65];
    char purpose[32];
    uint8_t wrapped[128];    /* hsm_wrap output under the KEK */
    size_t wrapped_len;
    uint8_t kcv[8];
    size_t kcv_len;
    char kek_label[65];
} db_mnokey;

sm_rc db_mnokey_put(db_conn *c, const char *actor, const db_mnokey *k, sm_err *err);
sm_rc db_mnokey_get(db_conn *c, const char *mno_id, const char *key_id, db_mnokey *out, sm_err *err);

#endif
