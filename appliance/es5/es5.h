/* es5: the SM-SR's ES5 delivery to eUICCs — the contract between the SM-SR logic (appliance/smsr)
 * and the transports (SMS with SCP80 through an SMSC over SMPP 3.4; HTTPS with SCP81 PSK-TLS, RAM
 * over HTTP, opened by the card after a push SMS). Owns the per-eUICC queue: requests to one eUICC
 * are delivered one at a time, in order, each one's answer before the next; retries with backoff;
 * a request still undelivered at its deadline ends Expired. Everything durable is in PostgreSQL
 * (any node may deliver any request); results come back by waking the caller's procedure. */
#ifndef SM_ES5_H
#define SM_ES5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"
#include "lib/err.h"

typedef struct sm_app sm_app;

typedef enum es5_channel {
    ES5_CH_AUTO = 0, /* per eUICC and configuration: HTTPS when the eUICC supports it, else SMS */
    ES5_CH_SMS,
    ES5_CH_HTTPS,
} es5_channel;

/* One command script for one security domain of one eUICC.
 * script: TS 102 226 expanded remote command format content as the ISD-R or ISD-P reads it —
 *   a sequence of C-APDU TLVs (tag 22) for platform and ES8 APDU commands, or the SCP03t TLVs
 *   (84/85/86...) of an ES8 profile download addressed to an ISD-P. It is opaque to es5 (the SM-SR
 *   never reads ES8 payloads): the transport adds its own framing (RAM over HTTP script / SCP80
 *   secured packet). */
typedef struct es5_request {
    const char *eid;
    const uint8_t *aid;     /* target security domain: ISD-R, or an ISD-P AID */
    size_t aid_len;
    const uint8_t *script;
    size_t script_len;
    es5_channel channel;
    int64_t deadline_us;    /* validity deadline (microseconds since 1970); 0 = configured default */
    int64_t wake_proc;      /* procedure woken with the es5_result as its step data (0 = none) */
    const char *wake_step;  /* step it is woken at (NULL: the step it parked with) */
    const char *label;      /* for logs and the audit trail ("CreateISDP", "SendData", ...) */
} es5_request;

/* Queues a request in the caller's transaction (it is sent only if that transaction commits).
 * *req_id identifies it. Thread-safe; call on a worker. */
sm_rc es5_submit(db_conn *c, const es5_request *r, int64_t *req_id, sm_err *err);

/* Cancels a queued request that has not been sent yet (SM_ESTATE if it has). */
sm_rc es5_cancel(db_conn *c, int64_t req_id, sm_err *err);

typedef enum es5_status {
    ES5_OK = 0,        /* delivered; response holds the card's answer (R-APDU TLVs 23 / response TLVs) */
    ES5_CARD_ERROR,    /* delivered, but the script stopped on an error status (see detail) */
    ES5_SECURITY,      /* the card refused the secured packet (PoR security status, TLS failure) */
    ES5_EXPIRED,       /* not delivered before the deadline (card unreachable) */
    ES5_CANCELLED,
} es5_status;

typedef struct es5_result {
    int64_t req_id;
    es5_status status;
    es5_channel channel;    /* the channel that delivered it (or was last tried) */
    uint8_t *response;      /* malloc'd; the card's response script content */
    size_t response_len;
    char detail[200];       /* human-readable, never a secret */
    bool maybe_ran;         /* the script (or part of it) reached the card at least once: an EXPIRED or
                               unknown outcome may have had its effect there */
} es5_result;

/* Encodes a result as the step data a woken procedure receives, and decodes it there. */
sm_rc es5_result_encode(const es5_result *r, uint8_t **out, size_t *len, sm_err *err);
sm_rc es5_result_decode(const uint8_t *data, size_t len, es5_result *out, sm_err *err);
void es5_result_clear(es5_result *r);

/* A notification from an eUICC (SGP.02 default notification: profile change, first attach,
 * fall-back...), received by SMS (MO, SCP80) or HTTPS, verified and deduplicated by its sequence
 * number. */
typedef struct es5_notification {
    const char *eid;
    uint8_t type;           /* notification type as the eUICC sends it */
    uint32_t seq;           /* sequence number */
    const uint8_t *aid;     /* ISD-P concerned, when any */
    size_t aid_len;
    const uint8_t *raw;     /* the notification TLV as received */
    size_t raw_len;
    es5_channel channel;
} es5_notification;

/* The SM-SR logic's handler: runs on a worker inside the transaction that records the
 * notification; the confirmation to the card is sent by es5 after that transaction commits. */
typedef sm_rc (*es5_notification_fn)(db_conn *c, const es5_notification *n, void *arg, sm_err *err);
void es5_set_notification_handler(es5_notification_fn fn, void *arg);

/* The daemon service (SMPP client, SCP81 admin server, delivery driver). */
sm_rc es5_start(sm_app *app, sm_err *err);
void es5_stop(sm_app *app);

/* Added with the delivery (compatible extensions):
 * es5_kick: thread-safe; asks for a delivery pass now (after a transaction with es5_submit committed;
 *   without it the service finds the request on its next poll, es5.poll_ms).
 * es5_result_get: the stored outcome of a request, in the caller's transaction; *done = false (and
 *   out untouched) while it is not finished. SM_ENOTFOUND for an unknown id (or one purged after
 *   es5.retention_s). Free out with es5_result_clear. */
void es5_kick(sm_app *app);
sm_rc es5_result_get(db_conn *c, int64_t req_id, es5_result *out, bool *done, sm_err *err);

#endif
