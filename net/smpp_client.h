/* smpp_client: an SMPP 3.4 ESME on the event loop — one bind_transceiver session to the SMSC,
 * enquire_link keep-alive, reconnect with backoff, a window of outstanding submit_sm (more wait in a
 * bounded queue), 8-bit binary submit_sm for SMS-PP data download (esm_class UDHI, PID 7F, DCS F6),
 * and deliver_sm (MO messages, delivery receipts) handed to the owner, acknowledged when it says.
 * Loop thread only; everything is non-blocking (no DNS, no HSM, no database here). */
#ifndef SM_NET_SMPP_CLIENT_H
#define SM_NET_SMPP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lib/err.h"

typedef struct smpp_client smpp_client;

typedef struct smpp_client_config {
    const char *server;          /* "host:port" of the SMSC (numeric address, or a name resolved by evdns) */
    const char *system_id;       /* at most 15 characters */
    const char *password;        /* at most 8; copied into locked memory, never logged */
    const char *system_type;     /* at most 12 */
    const char *source_addr;     /* our SMS address: source of MT, where PoRs come back */
    uint8_t source_ton, source_npi, dest_ton, dest_npi;
    int enquire_link_s;          /* keep-alive period while bound (0 = 30) */
    int response_timeout_s;      /* bind_resp / submit_sm_resp / enquire_link_resp (0 = 10) */
    int reconnect_min_ms;        /* first reconnect delay, doubled up to max (0 = 500 / 30000) */
    int reconnect_max_ms;
    unsigned window;             /* submit_sm awaiting their response at once (0 = 10) */
    unsigned max_queue;          /* submits waiting for the window or the bind (0 = 10000) */
    bool delivery_receipts;      /* registered_delivery = 1 */
} smpp_client_config;

typedef enum smpp_link { SMPP_LINK_DOWN = 0, SMPP_LINK_CONNECTING, SMPP_LINK_BINDING, SMPP_LINK_BOUND } smpp_link;
const char *smpp_link_name(smpp_link l);

/* A deliver_sm from the SMSC. Valid during the callback only. */
typedef struct smpp_mo {
    const char *src, *dst;
    uint8_t esm_class, protocol_id, data_coding;
    bool receipt;                /* a delivery receipt (esm_class type 04) */
    const uint8_t *ud;           /* user data (with its UDH when esm_class has UDHI) */
    size_t len;
} smpp_mo;

/* Called for each deliver_sm; the owner must call smpp_client_ack(ack, status) exactly once, now or
 * later (a late ack after a reconnect is dropped: the SMSC delivers the message again). */
typedef void (*smpp_mo_cb)(void *arg, const smpp_mo *mo, uint64_t ack);
/* Outcome of one submit: SM_OK with the SMSC's message id, or an error (status = the SMSC's
 * command_status, 0 when the failure was local: timeout, link lost, stopping). */
typedef void (*smpp_sent_cb)(void *arg, sm_rc rc, uint32_t status, const char *message_id);

sm_rc smpp_client_start(struct event_base *base, const smpp_client_config *cfg, smpp_mo_cb mo, void *arg,
                        smpp_client **out, sm_err *err);
/* Closes the session; queued and outstanding submits complete with SM_ESTATE ("stopping"). */
void smpp_client_stop(smpp_client *c);

/* Queues one SMS (user data ud with its UDH, 140 bytes at most) to dst. cb (may be NULL) is called
 * later, never from inside this call. SM_ELIMIT when the queue is full. */
sm_rc smpp_client_submit(smpp_client *c, const char *dst, const uint8_t *ud, size_t len, smpp_sent_cb cb, void *arg,
                         sm_err *err);
/* Acknowledges a deliver_sm (SMPP_ROK, or SMPP_RX_T_APPN to have the SMSC try again later). */
void smpp_client_ack(smpp_client *c, uint64_t ack, uint32_t status);

typedef struct smpp_client_stats {
    smpp_link link;
    unsigned long binds, bind_failures, submitted, submit_ok, submit_failed, mo, receipts, bad_pdus;
    unsigned queued, inflight;
} smpp_client_stats;
void smpp_client_get_stats(const smpp_client *c, smpp_client_stats *out);

#endif
