/* download: the profile download and installation (procedures.md §3) as one durable procedure of kind
 * es2.DownloadProfile — reserve a stock profile, ES3.GetEIS and the eUICC certificate chain, ISD-P
 * clean-up, ES3.CreateISDP, key establishment with the ISD-P (ES8 through ES3.SendData), the SCP03t
 * download, ES3.ProfileDownloadCompleted, optional ES3.EnableProfile, the final answer to the requester —
 * with error management (ES3.DeleteISDP) and expiry. Each ES3 exchange is an outbox message and a WAIT
 * woken by the answer (net/es_answer.h); no worker waits for the SM-SR. Steps: docs/sm-dp.md. */
#ifndef SM_SMDP_DOWNLOAD_H
#define SM_SMDP_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "appliance/smdp/smdp.h"

typedef struct smdp_dl_request {
    const char *origin;        /* "es2" (an MNO), "es4" (an M2M SP, smbox extension), "local" (smctl demo) */
    const char *requester;     /* the caller's GSMA id */
    const char *call_id;       /* its FunctionCallIdentifier ("" when none) */
    const char *mno_id;        /* the MNO whose stock the profile comes from; NULL for es4 (the profile's) */
    const char *eid, *smsr_id;
    const char *iccid;         /* at least one of iccid and profile_type */
    const char *profile_type;
    bool enable;
    long validity_s;           /* 0: smdp.default_validity_s */
    const es_reply_to *reply;  /* where the final answer goes (NULL: none, the result stays in the database) */
} smdp_dl_request;

/* Records the order and creates the procedure with its download row in the caller's transaction. */
sm_rc smdp_download_start(const smdp_ctx *x, db_conn *c, const smdp_dl_request *r, int64_t *proc_id, sm_err *err);

/* Outcome of a finished download (the procedure's result): "success", "warning", "failed", "expired",
 * with the GSMA status sent to the requester. */
typedef struct smdp_dl_outcome {
    char outcome[16];
    char iccid[21];
    es_status status;
} smdp_dl_outcome;
sm_rc smdp_download_outcome(const uint8_t *result, size_t len, smdp_dl_outcome *out, sm_err *err);

#endif
