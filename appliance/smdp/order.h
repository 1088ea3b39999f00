/* order: runs a parsed order in memory — for each profile: ICCID/IMSI from the ranges (or the
 * override), Ki from the HSM, OPc through the HSM, personalisation of the template, sealing under
 * the profile-protection key — and builds the MNO output file. Each sealed profile is handed to a
 * callback (the db layer stores it in the same transaction as the order row).
 *
 * All or nothing: the first failure (of a profile, the HSM or the callback) stops the run and the
 * caller discards what the callback received. Ki, OP and OPc exist in clear only in locked
 * memory, only while one profile is built; logs carry counts and ICCIDs, never values. */
#ifndef SM_SMDP_ORDER_H
#define SM_SMDP_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/orderfile.h"
#include "appliance/smdp/saip.h"
#include "appliance/smdp/stock.h"
#include "hsm/hsm.h"
#include "lib/buf.h"

typedef struct smdp_order_keys {
    hsm_key profile;             /* <prefix>-profile: AES-256, encrypt + decrypt (smdp_stock_key) */
    hsm_key transport;           /* the MNO's transport key: AES, encrypt + decrypt + derive */
    const char *transport_label; /* its label, written into the MNO file */
} smdp_order_keys;

/* One produced profile, valid during the callback only. */
typedef struct smdp_produced {
    uint64_t index;
    const char *iccid;
    const char *imsi;
    const char *msisdn;          /* "" when the template's EF.MSISDN was kept */
    const smdp_sealed *sealed;   /* IV, ciphertext || tag, AAD */
    size_t package_len;          /* size of the personalised package */
} smdp_produced;

typedef sm_rc (*smdp_produced_fn)(const smdp_produced *p, void *arg, sm_err *err);

/* Label of an MNO's transport key: <prefix>-mno-<mno> (SM_EINVAL if longer than a label). */
sm_rc smdp_transport_label(const char *prefix, const char *mno, char *out, size_t cap, sm_err *err);

/* Runs order o against template tpl (which must pass saip_check; its algorithm must be Milenage or
 * the usim test algorithm). On success *mno_file holds the complete MNO output file. */
sm_rc smdp_order_run(hsm_sess *s, const smdp_order *o, const saip_pkg *tpl, const smdp_order_keys *k,
                     smdp_produced_fn cb, void *arg, sm_buf *mno_file, sm_err *err);

#endif
