/* eisview: what the SM-DP reads in an EIS an SM-SR returned (ES3.GetEIS, filtered for the SM-DP):
 * the eUICC's identity and EUM, its certificate CERT.ECASD.ECKA, free memory, and the ISD-Ps this
 * SM-DP left in state Created (ISD-P clean-up, procedures.md §3.G); and the check of the eUICC
 * certificate chain CI -> EUM -> ECASD (gpcert_verify_chain) against the trusted certificates. */
#ifndef SM_SMDP_EISVIEW_H
#define SM_SMDP_EISVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "appliance/smdp/smdp.h"
#include "crypto/gpcert.h"
#include "net/es_value.h"

#define DP_EIS_MAX_CREATED 8

typedef struct dp_eis {
    char eid[33];
    char eum_id[65];
    char smsr_id[65];
    char rpv[16];                  /* RemoteProvisioningVersion */
    int64_t remaining_memory;      /* -1 when absent */
    const uint8_t *ecasd_cert;     /* 7F21 (view into the value tree) */
    size_t ecasd_cert_len;
    char created[DP_EIS_MAX_CREATED][21]; /* ICCIDs of ISD-Ps in state Created by this SM-DP */
    size_t ncreated;
    bool iccid_present;            /* the ICCID being downloaded is already on this eUICC */
} dp_eis;

/* Reads the fields above from an ES3.GetEIS answer body ({Eis {...}}). smdp_id: ours (Created
 * leftovers); iccid: the profile about to be downloaded. SM_EPROTO naming what is missing. */
sm_rc dp_eis_read(const es_value *body, const char *smdp_id, const char *iccid, dp_eis *out, sm_err *err);

/* Verifies CERT.ECASD.ECKA up to a trusted CI through an EUM certificate (x->eum, then `eum_der`
 * from the database when given) at time now; *leaf gets the parsed certificate (views into cert). */
sm_rc dp_eis_verify_chain(const smdp_ctx *x, const uint8_t *cert, size_t len, const uint8_t *eum_der, size_t eum_len,
                          time_t now, gpcert *leaf, sm_err *err);

#endif
