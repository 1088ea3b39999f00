/* batch: imports a batch order (order file, docs/sm-dp-files.md) into stock — parse, load the
 * template from the database and the keys from the HSM, run the order (appliance/smdp/order: ICCIDs
 * with Luhn, IMSIs, Ki/OPc through the HSM, personalisation, sealing) and store every sealed profile
 * together with the batch row and its MNO output file, in one transaction: all or nothing. Used by
 * `smctl order import` and ES2.ImportOrder (an MNO uploading its own order). */
#ifndef SM_SMDP_BATCH_H
#define SM_SMDP_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"
#include "hsm/hsm.h"
#include "lib/buf.h"

typedef struct smdp_batch_req {
    const char *text;        /* the order file (the caller keeps it in locked memory: PINs) */
    size_t len;
    const char *key_prefix;  /* hsm.key_prefix: <prefix>-profile, <prefix>-mno-<mno> */
    const char *actor;       /* audit actor */
    const char *requester;   /* who ordered (recorded in the batch row) */
    const char *require_mno; /* when set, the order's mno must be this (an MNO ordering for itself) */
} smdp_batch_req;

typedef struct smdp_batch_result {
    int64_t batch_id;
    uint64_t quantity;
    char mno[65], profile_type[65], template_id[65];
    char first_iccid[21], last_iccid[21];
    sm_buf mno_file;         /* the MNO output file (no clear secret in it) */
} smdp_batch_result;

/* Runs and stores the order in the caller's transaction on c (or one of its own). On failure nothing
 * was stored (the caller's transaction must then be rolled back; with its own it is) and err names
 * the order line, the profile or the key at fault. */
sm_rc smdp_batch_import(db_conn *c, hsm_sess *s, const smdp_batch_req *req, smdp_batch_result *out, sm_err *err);
void smdp_batch_result_free(smdp_batch_result *r);

#endif
