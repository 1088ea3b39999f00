/* scp81: GP Amendment B (remote administration over HTTP, PSK-TLS) as SGP.02 uses it: the TLS
 * parameters the SM-SR accepts, PSK identities, obtaining the PSK for one handshake, the push-SMS
 * session trigger, the X-Admin-* headers and content types, and the command / response scripts.
 *
 * The PSK is the one protocol secret that reaches process memory (OpenSSL needs it): it is
 * unwrapped through hsm_unwrap_psk_for_tls() into locked memory, handed to OpenSSL inside its PSK
 * callback and wiped at once (SECURITY.md, "SCP81 PSK"). Everything else here is parsing and
 * encoding, without HSM calls. */
#ifndef SM_CRYPTO_SCP81_H
#define SM_CRYPTO_SCP81_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hsm/hsm.h"
#include "lib/buf.h"
#include "lib/err.h"

/* ---- TLS ------------------------------------------------------------------------------------ */

/* TLS 1.2 PSK suites accepted (crypto.md §6.2; SGP.02's list UNCONFIRMED): TLS_PSK_WITH_AES_128_GCM_SHA256
 * (00A8) and TLS_PSK_WITH_AES_128_CBC_SHA256 (00AE). */
#define SCP81_TLS_CIPHERS "PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256"
bool scp81_cipher_allowed(uint16_t suite);

/* The parsed PSK identity: TLV 80 01 fmt | 81 10 EID | 4F L ISD-R AID | 82 01 key id | 83 01 KVN,
 * hex-encoded as text (crypto.md §6.2; element 80 UNCONFIRMED). */
typedef struct scp81_psk_id {
    uint8_t format;
    uint8_t eid[16];
    uint8_t aid[16];
    size_t aid_len;
    uint8_t key_id;
    uint8_t kvn;
} scp81_psk_id;

/* Text form (uppercase hex, NUL-terminated); cap >= 2 * 43 + 1. */
sm_rc scp81_psk_id_encode(const scp81_psk_id *id, char *out, size_t cap, sm_err *err);
/* Strict decode of the identity text a card sent (either hex case; KVN must be 40..4F). */
sm_rc scp81_psk_id_decode(const char *text, size_t len, scp81_psk_id *out, sm_err *err);

/* A PSK in locked memory for the length of one handshake. */
typedef struct scp81_psk {
    uint8_t *key;  /* sm_secmem */
    size_t len;
} scp81_psk;

/* Unwraps the stored PSK blob (wrapped under kek) into locked memory (hsm_unwrap_psk_for_tls). */
sm_rc scp81_psk_load(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, scp81_psk *out,
                     sm_err *err);
/* Wipes and frees it. */
void scp81_psk_wipe(scp81_psk *psk);

/* How the server finds the PSK for an identity: fill *psk with scp81_psk_load (or fail). Runs
 * inside the TLS handshake. */
typedef sm_rc (*scp81_psk_lookup_fn)(void *arg, const scp81_psk_id *id, scp81_psk *psk, sm_err *err);

/* Configures a server SSL_CTX for SCP81: TLS 1.2 only, the PSK suites above, no session tickets or
 * cache (no resumption), no renegotiation, no compression, and a PSK callback that decodes the
 * identity, calls lookup, copies the key into OpenSSL's buffer and wipes it. The lookup's last
 * error message is kept for the caller (scp81_tls_last_error). */
sm_rc scp81_tls_server_setup(SSL_CTX *ctx, scp81_psk_lookup_fn lookup, void *arg, sm_err *err);
/* The reason the last PSK lookup on this SSL failed ("" if none). */
const char *scp81_tls_last_error(const SSL *ssl);

/* ---- HTTP (GP Amd B remote administration protocol) ---------------------------------------- */

#define SCP81_ADMIN_PROTOCOL "globalplatform-remote-admin/1.0"
#define SCP81_CT_COMMAND "application/vnd.globalplatform.card-content-mgt;version=1.0"
#define SCP81_CT_RESPONSE "application/vnd.globalplatform.card-content-mgt-response;version=1.0"

typedef enum scp81_status {
    SCP81_ST_NONE = 0,            /* no X-Admin-Script-Status (the first POST) */
    SCP81_ST_OK,
    SCP81_ST_UNKNOWN_APPLICATION,
    SCP81_ST_NOT_A_SECURITY_DOMAIN,
    SCP81_ST_SECURITY_ERROR,
} scp81_status;
const char *scp81_status_name(scp81_status st);

/* What the card's POST said in its headers. */
typedef struct scp81_request {
    bool protocol;                 /* X-Admin-Protocol present and right */
    bool has_from;                 /* X-Admin-From: //se-id/eid/<EID>;//aa-id/aid/<RID>/<PIX> */
    uint8_t eid[16];
    uint8_t agent_aid[16];
    size_t agent_aid_len;
    scp81_status status;
    bool resume;                   /* X-Admin-Resume: true */
    bool has_content_type;
} scp81_request;

void scp81_request_init(scp81_request *r);
/* Feeds one header (name case-insensitive); unknown headers are ignored, known ones must be
 * well-formed (SM_EPROTO naming the header). */
sm_rc scp81_request_header(scp81_request *r, const char *name, const char *value, sm_err *err);
/* Checks the whole: protocol header present; a body needs the response content type and a script
 * status; a first POST (no status) has no body. */
sm_rc scp81_request_check(const scp81_request *r, size_t body_len, sm_err *err);

/* The SM-SR's answer (status line and framing are net/'s). */
typedef struct scp81_reply {
    int status;                    /* 200 (a script follows) or 204 (nothing now) */
    const char *next_uri;          /* X-Admin-Next-URI, NULL: none (204 without it ends the session) */
    const uint8_t *target_aid;     /* X-Admin-Targeted-Application //aid/<RID>/<PIX>, NULL: none */
    size_t target_aid_len;
} scp81_reply;
/* Appends the header lines ("Name: value\r\n" each) for the reply. */
sm_rc scp81_reply_headers(const scp81_reply *r, sm_buf *out, sm_err *err);

/* ---- scripts (TS 102 226 expanded format) --------------------------------------------------- */

typedef struct scp81_script {
    sm_buf *b;
    size_t mark;
    bool indefinite;
    size_t items;
} scp81_script;

/* Opens AE 80 (indefinite, the HTTP form) or AA L (definite, the SMS form). */
sm_rc scp81_script_open(scp81_script *sc, sm_buf *b, bool indefinite, sm_err *err);
/* 83 01 cc script chaining (01, 11 first; 02 more; 03 last): only as the first element. */
sm_rc scp81_script_chaining(scp81_script *sc, uint8_t cc, sm_err *err);
/* 22 L C-APDU */
sm_rc scp81_script_capdu(scp81_script *sc, const uint8_t *apdu, size_t len, sm_err *err);
/* Already-encoded TLVs (SCP03t 84/85/86, or 22 C-APDU TLVs from ecka_*), checked well-formed. */
sm_rc scp81_script_raw(scp81_script *sc, const uint8_t *tlvs, size_t len, sm_err *err);
sm_rc scp81_script_close(scp81_script *sc, sm_err *err);

/* One element of a parsed script. */
typedef struct scp81_item {
    uint32_t tag;
    const uint8_t *val;
    size_t len;
    const uint8_t *raw;
    size_t rawlen;
} scp81_item;

#define SCP81_ITEMS_MAX 4096

typedef struct scp81_parsed {
    uint32_t tag;                  /* AE/AA (command) or AF/AB (response) */
    bool indefinite;
    int chaining;                  /* 83 value (command scripts), -1 absent */
    int executed;                  /* 80 value: number of executed commands (responses), -1 absent */
    bool bad_format;               /* 90 present (responses) */
    scp81_item *items;             /* every element in order (malloc'd) */
    size_t n;
    size_t n_apdu;                 /* 22 (commands) / 23 (responses) */
} scp81_parsed;

/* Parses a command script (AE 80 .. 00 00 or AA L ..) or a response script (AF / AB), exactly one
 * TLV, elements well-formed, at most SCP81_ITEMS_MAX. Trailing bytes are an error. */
sm_rc scp81_script_parse(const uint8_t *p, size_t len, bool response, scp81_parsed *out, sm_err *err);
void scp81_parsed_free(scp81_parsed *ps);
/* An R-APDU TLV (23) as data and status word. */
sm_rc scp81_rapdu(const scp81_item *it, const uint8_t **data, size_t *dlen, uint16_t *sw, sm_err *err);

/* ---- push SMS: administration session triggering parameters (tag 81) ------------------------ */

typedef struct scp81_trigger {
    const uint8_t *conn;           /* 84: TS 102 223 OPEN CHANNEL TLVs, optional */
    size_t conn_len;
    const uint8_t *psk_id;         /* 85: PSK identity (as the card will send it, text bytes) */
    size_t psk_id_len;
    uint8_t kvn, key_id;
    bool has_retry;                /* 86: retry counter (2) || timer A5 03 hh mm ss */
    uint16_t retry_count;
    uint8_t retry_timer[3];
    const char *host;              /* 89 { 8A host, 8B agent id, 8C URI } */
    const char *agent_id;
    const char *uri;
} scp81_trigger;
/* Appends 81 { 83 { [84] 85 [86] 89 {8A 8B 8C} } } (crypto.md §6.1; framing UNCONFIRMED). */
sm_rc scp81_trigger_encode(const scp81_trigger *t, sm_buf *out, sm_err *err);

#endif
