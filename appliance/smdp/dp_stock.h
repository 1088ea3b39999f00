/* dp_stock: the SM-DP's stock rows beyond db/profile_repo.h — each sealed profile with its template,
 * batch and owner MNO (migration 0030), the batch orders they came from, and the queries the
 * download needs: who owns an ICCID, reserving one of a type for an MNO, and counts. Every change is
 * audited in the caller's transaction; nothing here sees a clear profile. */
#ifndef SM_SMDP_DP_STOCK_H
#define SM_SMDP_DP_STOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

typedef struct dp_batch {
    int64_t id;
    char requester[129];
    char mno_id[65];
    char profile_type[101];
    char template_id[65];
    int64_t quantity;
    char first_iccid[21], last_iccid[21];
    uint8_t sha256[32];
} dp_batch;

/* A batch row (its MNO file set later by dp_batch_set_file, in the same transaction). */
sm_rc dp_batch_add(db_conn *c, const char *actor, const dp_batch *b, int64_t *id, sm_err *err);
sm_rc dp_batch_set_file(db_conn *c, int64_t id, const char *last_iccid, const uint8_t *file, size_t len, sm_err *err);
/* The MNO output file of a batch (malloc'd). */
sm_rc dp_batch_file(db_conn *c, int64_t id, uint8_t **file, size_t *len, sm_err *err);

/* One sealed profile into stock, state available (no audit entry of its own: the batch has one). */
typedef struct dp_stock_new {
    const char *iccid, *imsi, *msisdn;
    const char *profile_type, *template_id, *mno_id;
    int64_t batch_id;
    const uint8_t *iv;          /* 12 bytes */
    const uint8_t *ct;          /* ciphertext || tag */
    size_t ctlen;
    const char *key_label;
} dp_stock_new;
sm_rc dp_stock_add(db_conn *c, const dp_stock_new *s, sm_err *err);

/* What the download needs to know about a stock profile. */
typedef struct dp_stock_info {
    char iccid[21];
    char profile_type[101];
    char template_id[65];
    char mno_id[65];
    char imsi[16], msisdn[16];
    char state[12];
    int64_t batch_id, order_id;
} dp_stock_info;
/* SM_ENOTFOUND when the ICCID is not in stock. */
sm_rc dp_stock_info_get(db_conn *c, const char *iccid, dp_stock_info *out, sm_err *err);

/* Reserves one available profile of a type owned by an MNO (NULL: any) for an order (FOR UPDATE SKIP
 * LOCKED: concurrent downloads get different profiles). SM_ENOTFOUND when none is left. */
sm_rc dp_stock_reserve_type(db_conn *c, const char *actor, const char *type, const char *mno, int64_t order_id,
                            char iccid[21], sm_err *err);
/* Reserves a given ICCID for an order when it is available (SM_ESTATE otherwise). */
sm_rc dp_stock_reserve_iccid(db_conn *c, const char *actor, const char *iccid, int64_t order_id, sm_err *err);

/* Counts of a type's stock by state (mno NULL = every MNO). */
typedef struct dp_stock_counts {
    long available, reserved, installed, retired;
} dp_stock_counts;
sm_rc dp_stock_count(db_conn *c, const char *type, const char *mno, dp_stock_counts *out, sm_err *err);
/* Whether any stock profile of the type belongs to the MNO (any state). */
sm_rc dp_stock_type_owned(db_conn *c, const char *type, const char *mno, bool *owned, sm_err *err);

/* The certificate (DER) of an EUM from the SM-SR's eum table (malloc'd; NULL when none). */
sm_rc dp_eum_certificate(db_conn *c, const char *eum_id, uint8_t **der, size_t *len, sm_err *err);
/* The eUICC's owner (euicc.owner_id: the M2M SP told about its profiles); "" when none.
 * SM_ENOTFOUND for an unknown EID. */
sm_rc dp_euicc_owner(db_conn *c, const char *eid, char owner[65], sm_err *err);

#endif
