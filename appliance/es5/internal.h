/* es5 internals shared by the files of appliance/es5: the service's settings and state, the queue
 * row, the queue operations (queue.c), delivery (deliver.c), SCP80 packets (sms.c), keys (keys.c),
 * card answers (outcome.c, por.c, admin.c) and notifications (notif.c). Not a public contract. */
#ifndef SM_ES5_INTERNAL_H
#define SM_ES5_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "appliance/app.h"
#include "appliance/es5/es5.h"
#include "crypto/scp80.h"
#include "crypto/scp81.h"
#include "db/pg.h"
#include "hsm/hsm.h"
#include "lib/buf.h"

#define ES5_DEFAULT_VALIDITY_S 3600
#define ES5_SCRIPT_MAX (1u << 20)     /* largest script accepted by es5_submit */
#define ES5_SMS_PARTS_MAX 16
#define ES5_SMS_PARTS_DEFAULT 10      /* es5.sms_max_parts: one 1020-byte SCP03t segment fits (8 SMS) */
#define ES5_SPI1 0x16                 /* CC, ciphering, counter must be higher */
#define ES5_SPI2 0x39                 /* PoR always, CC, ciphered, by SMS-SUBMIT */
#define ES5_PRIO_CONFIRM 0
#define ES5_PRIO_NORMAL 1

/* Settings (copied from the configuration at start; immutable while running). */
typedef struct es5_settings {
    long validity_s;
    long por_timeout_ms;        /* first wait for a PoR, doubled per retransmission */
    long retry_max_ms;
    long session_wait_ms;       /* wait for the card's admin session after a push */
    long script_timeout_ms;     /* a script handed to a card in session must be answered within */
    long lease_ms;
    long poll_ms;
    long admin_idle_ms;         /* a session without work is kept this long (204 + Next-URI) */
    long admin_hold_ms;         /* a POST without work waits this long for a script (long polling) */
    long dedup_s;               /* notification sequence numbers remembered this long */
    long retention_s;           /* finished requests kept this long */
    int sms_max_parts;
    bool prefer_sms;            /* ES5_CH_AUTO: SMS when it fits and targets the ISD-R */
    bool sms_on, https_on;
    bool push_id_text;          /* push 85 carries the identity as text (else as its TLV bytes) */
    char admin_host[256];
    char admin_path[256];
    char node[64];
    char actor[80];             /* "node:<name>" */
} es5_settings;

/* What workers need from the running service. */
typedef struct es5_ctx {
    sm_app *app;
    es5_settings set;
    hsm_key kek;
} es5_ctx;

/* The running service's context (NULL when es5 is not started: es5_submit still works). */
extern es5_ctx *es5_running;
/* es5_submit's default validity when the service is not running or not configured. */
extern _Atomic long es5_default_validity_s;

/* ---- the queue row ---------------------------------------------------------------------------- */

typedef struct es5_row {
    int64_t id;
    char eid[33];
    int prio;
    uint8_t aid[16];
    size_t aid_len;
    uint8_t *script;            /* NULL until es5q_script reads it (rows are read with its length only) */
    size_t script_len;
    int channel_req, channel;
    char label[65];
    char state[8];
    char phase[16];
    bool overdue;               /* deadline passed */
    int64_t deadline_us;
    int sends;
    int kvn;
    scp80_params p;             /* of the packet in flight (valid when kvn > 0) */
    uint8_t *packet;
    size_t packet_len;
    char msisdn[16];
    char session[80];
    int64_t wake_proc;
    char wake_step[64];
    char note[200];             /* why the last attempt could not proceed (kept for the final detail) */
    /* SMS: a script longer than one command packet goes as several, cut at TLV boundaries, one after
     * the other; the request stays in flight until the last one's PoR (docs/es5.md) */
    size_t sms_off, sms_len;    /* the script bytes of the packet in flight (or next: sms_len 0) */
    int sms_done;               /* packets answered by their PoR so far */
    int sms_count;              /* commands they executed (the sum of their 80 01 n) */
    uint8_t *sms_resp;          /* their responses so far, without 80 01 n */
    size_t sms_resp_len;
    int psends;                 /* transmissions of the packet in flight */
} es5_row;
void es5_row_clear(es5_row *r);

/* ---- queue.c ------------------------------------------------------------------------------------ */

sm_rc es5q_submit(db_conn *c, const es5_request *r, int prio, int64_t *id, sm_err *err);
/* Claims up to ES5Q_CLAIM_MAX due requests that head their eUICC's queue (lease + token); ids and tokens
 * hold ES5Q_CLAIM_MAX. The bound is a literal in the statement: as a parameter, PostgreSQL's generic plan
 * (LIMIT guessed at a tenth of the rows) looked dearer than a custom one, and the statement was planned
 * again at every execution, for five times its execution time. */
#define ES5Q_CLAIM_MAX 8
sm_rc es5q_claim(db_conn *c, const char *owner, long lease_ms, int64_t *ids, int64_t *tokens, size_t *n, sm_err *err);
/* Locks a claimed request if the lease is still ours (false: someone else has it, or it is done). */
sm_rc es5q_lock_claimed(db_conn *c, int64_t id, const char *owner, int64_t token, es5_row *out, bool *ours,
                        sm_err *err);
/* Locks the eUICC's request in flight (found = false when none). */
sm_rc es5q_lock_active(db_conn *c, const char *eid, es5_row *out, bool *found, sm_err *err);
/* Locks a request by id when it is in flight. */
sm_rc es5q_lock_id(db_conn *c, int64_t id, es5_row *out, bool *found, sm_err *err);
/* Locks the head of the eUICC's queue for an HTTPS session: the request in flight, else the first
 * queued one (made active). found = false when nothing waits or the head goes by SMS. */
sm_rc es5q_lock_head_https(db_conn *c, const char *eid, es5_row *out, bool *found, sm_err *err);
/* Records a transmission: phase, packet (may be NULL: keep), the packet's share of the script and its
 * transmissions (r->sms_off, sms_len, psends, set by the caller), next look in delay_ms, lease released. */
sm_rc es5q_mark_sent(db_conn *c, const es5_row *r, const char *phase, long delay_ms, sm_err *err);
/* One packet of a script cut into several was answered (its response content, without 80 01 n, and the
 * count of commands it executed): the next one is due now. */
sm_rc es5q_sms_advance(db_conn *c, const es5_row *r, const uint8_t *resp, size_t resp_len, int count, sm_err *err);
/* Sets the phase (and the channel, when > 0) and when to look again, lease released (no transmission). */
sm_rc es5q_set_phase(db_conn *c, int64_t id, const char *phase, const char *session, long delay_ms, int channel,
                     sm_err *err);
/* Ends a request: result stored, the waiting procedure woken with it, audited. */
sm_rc es5q_finish(db_conn *c, const es5_row *r, es5_status st, const char *detail, const uint8_t *resp,
                  size_t resp_len, sm_err *err);
/* Releases a claimed request after a failed attempt: why it failed, next look in delay_ms. Outside
 * the failed transaction (fenced by the lease token). */
sm_rc es5q_note(db_conn *c, int64_t id, int64_t token, long delay_ms, const char *why, sm_err *err);
/* Removes finished requests older than retention_s; returns how many. */
sm_rc es5q_purge(db_conn *c, long retention_s, long *n, sm_err *err);

/* The eUICC facts delivery needs. */
typedef struct es5_card {
    char eid[33];
    uint8_t isdr_aid[16];
    size_t isdr_aid_len;
    uint8_t tar[3];
    bool https;                 /* EIS says HTTPS is supported */
    char msisdn[16];            /* of the enabled profile ("" = none) */
} es5_card;
sm_rc es5q_card(db_conn *c, const char *eid, es5_card *out, sm_err *err);
/* The eUICC whose profile has this MSISDN (the enabled one first). SM_ENOTFOUND if none. */
sm_rc es5q_eid_by_msisdn(db_conn *c, const char *msisdn, char eid[33], sm_err *err);
/* An admin session of this eUICC seen within max_age_ms? */
sm_rc es5q_session_open(db_conn *c, const char *eid, long max_age_ms, bool *open, sm_err *err);
sm_rc es5q_session_touch(db_conn *c, const char *id, const char *eid, const char *node, sm_err *err);
sm_rc es5q_session_end(db_conn *c, const char *id, sm_err *err);

/* ---- keys.c: per-eUICC keys, unwrapped into session objects for one use ------------------------- */

typedef struct es5_keys {
    int kvn;
    hsm_key kic, kid;
    bool have;
} es5_keys;
/* The ISD-R SCP80 key set (kvn 0: the lowest SCP80 set of the eUICC). */
sm_rc es5_keys_scp80(db_conn *c, hsm_sess *s, const hsm_key *kek, const char *eid, int kvn, es5_keys *out,
                     sm_err *err);
void es5_keys_drop(hsm_sess *s, es5_keys *k);
/* The ISD-R SCP81 key set's (kvn, key id), for the push. */
sm_rc es5_keys_scp81_ids(db_conn *c, const char *eid, int *kvn, int *key_id, sm_err *err);
/* The SCP81 PSK (key set kvn, key key_id) into locked memory for one handshake. */
sm_rc es5_keys_psk(db_conn *c, hsm_sess *s, const hsm_key *kek, const char *eid, int kvn, int key_id, scp81_psk *out,
                   sm_err *err);

/* ---- sms.c: SCP80 packets ------------------------------------------------------------------------ */

/* The bytes of a command packet (SPI 16 39, 8-byte CC, AES padding) carrying `len` script bytes in an
 * AA template, and the SMS it takes (es5's framing: 137 bytes alone, else 132 + 134 per further part). */
size_t es5_sms_packet_len(size_t len);
size_t es5_sms_parts(size_t packet_len);
/* The end of the next packet's share of the script from off: as many whole TLVs as fit max_parts SMS.
 * SM_ELIMIT (naming the element and its size) when not even the first one fits. */
sm_rc es5_sms_cut(const uint8_t *script, size_t len, size_t off, int max_parts, size_t *end, sm_err *err);
/* The TAR of a target: the ISD-R's from the EIS, an ISD-P's is bytes 13..15 of its AID (SM_EINVAL when
 * the AID is shorter than 15 bytes). */
sm_rc es5_sms_tar(const uint8_t *aid, size_t aid_len, const es5_card *card, uint8_t tar[3], sm_err *err);
/* Builds the SCP80 packet of r (the script bytes sms_off..+sms_len to r's target, or a push trigger to the
 * ISD-R when push) with a fresh counter, framed as SMS user data parts (r->p, r->kvn, r->packet filled). */
sm_rc es5_sms_build(db_conn *c, hsm_sess *s, const es5_ctx *x, const es5_card *card, es5_row *r, bool push,
                    sm_err *err);
/* Splits a stored packet back into its parts: calls fn for each. */
sm_rc es5_sms_split(const uint8_t *packet, size_t len, void (*fn)(void *arg, const uint8_t *ud, size_t n),
                    void *arg, sm_err *err);

/* ---- outcome.c: what a card's answer means ----------------------------------------------------- */

/* A response script (AB / AF container, or its content) checked: ES5_OK, or ES5_CARD_ERROR naming
 * the failing command. content/len receive the elements inside the container (pointing into resp). */
sm_rc es5_outcome_script(const uint8_t *resp, size_t len, es5_status *st, char *detail, size_t cap,
                         const uint8_t **content, size_t *clen, sm_err *err);
/* A PoR status (not 00): the es5 status it means and a description. */
es5_status es5_outcome_por(uint8_t status, char *detail, size_t cap);

/* ---- por.c / notif.c: MO messages (worker side) ---------------------------------------------------- */

/* A PoR (UDH 71) from msisdn: matched with the eUICC's packet in flight, verified, the request
 * ended. *kick when the queue moved (another request may be due now). */
sm_rc es5_por_received(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *msisdn, const uint8_t *ud, size_t len,
                       bool *kick, sm_err *err);
/* A command packet (UDH 70) from msisdn: a notification, verified and recorded, confirmed. */
sm_rc es5_mo_command(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *msisdn, const uint8_t *ud, size_t len,
                     bool *kick, sm_err *err);

/* The parsed E1 notification (notif_parse.c: no database, fuzzed). */
typedef struct es5_notif_msg {
    uint8_t eid[16];
    uint8_t type;
    uint16_t seq;
    uint8_t aid[16];
    size_t aid_len;
    const uint8_t *raw;
    size_t raw_len;
} es5_notif_msg;
sm_rc es5_notif_parse(const uint8_t *p, size_t len, es5_notif_msg *out, sm_err *err);
/* Records a verified notification in c's transaction: dedup, the SM-SR handler, audit, and the
 * confirmation queued (sent after commit). */
sm_rc es5_notif_record(db_conn *c, const es5_ctx *x, const char *eid, const es5_notif_msg *m, es5_channel ch,
                       bool *duplicate, sm_err *err);

/* ---- deliver.c: one delivery step (worker) ----------------------------------------------------- */

/* One SMS to send after commit. */
typedef struct es5_send {
    struct es5_send *next;
    int64_t req;
    char msisdn[16];
    uint8_t *packet;            /* parts as len || ud */
    size_t len;
} es5_send;
void es5_sends_free(es5_send *s);

/* Runs one pass: claims due requests and moves each one step; SMS to send come back in *sends. */
sm_rc es5_deliver_pass(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *who, es5_send **sends, int *worked,
                       sm_err *err);

/* ---- service.c ------------------------------------------------------------------------------- */

/* Thread-safe: a delivery pass soon (the queue moved). */
void es5_kick_internal(void);
/* Runs fn on a worker (its database connection and HSM session), then done (may be NULL) on the
 * loop. Thread-safe. SM_ELIMIT when the workers' queue is full, SM_ESTATE when stopping. */
sm_rc es5_job(sm_job_fn fn, sm_done_fn done, void *arg);
bool es5_stopping(void);

/* ---- admin.c: the SCP81 admin sessions (loop side + worker jobs) ----------------------------------- */

sm_rc es5_admin_start(sm_app *app, const es5_ctx *x, sm_err *err);
/* Stops the server (call once no job is outstanding). */
void es5_admin_stop(void);
/* Reads the bytes of r's script when they are not in memory yet (a row carries its length only: the
 * queue reads rows often and scripts are kilobytes). */
sm_rc es5q_script(db_conn *c, es5_row *r, sm_err *err);
/* A script was queued for eid in c's open transaction: once it commits, a POST of that card held on this
 * node looks at its queue again (es5.admin_hold_ms). Any thread. */
void es5_admin_note_queued(db_conn *c, const char *eid);
unsigned es5_admin_conns(void);
int es5_admin_port(void);

/* queue.c: the node's transport report */
sm_rc es5q_node_report(db_conn *c, const char *node, const char *link, const char *server, int conns,
                       const char *stats, sm_err *err);

#endif
