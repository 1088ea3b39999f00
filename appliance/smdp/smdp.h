/* smdp: the SM-DP logic of smbox — templates and stock, batch orders, and the profile download
 * (ES2.DownloadProfile and the ES4.DownloadProfile extension) as a durable procedure over ES3 to the
 * SM-SR named in the request (in-process when it is this appliance). This header is the module's
 * contract with the daemon, smctl and the tests: its context. docs/sm-dp.md describes the whole. */
#ifndef SM_SMDP_H
#define SM_SMDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appliance/config.h"
#include "db/pg.h"
#include "db/proc.h"
#include "hsm/hsm.h"
#include "net/es_server.h"

#define SMDP_MAX_CERTS 8
#define SMDP_MAX_PEERS 32
#define SMDP_KIND_DOWNLOAD "es2.DownloadProfile"
#define SMDP_KIND_CLEANUP "smdp.DeleteISDP"

/* An SM-SR we may talk to over ES3 (es.peers entries of role smsr; endpoint "local" = this appliance). */
typedef struct smdp_peer {
    char id[ES_ID_MAX];
    char endpoint[ES_URL_MAX];
} smdp_peer;

/* Ownership of an eUICC for the ES4.DownloadProfile extension: SM_OK when `caller` (an M2M SP) owns
 * `eid`, SM_EPERM when it does not, SM_ENOTFOUND for an unknown EID. */
typedef sm_rc (*smdp_owner_fn)(db_conn *c, const char *eid, const char *caller, void *arg, sm_err *err);

typedef struct smdp_ctx {
    char smdp_id[ES_ID_MAX];          /* our GSMA identifiers (gsma.*) */
    char smsr_id[ES_ID_MAX];
    char public_url[ES_URL_MAX];      /* es.public_url: where remote SM-SRs send their answers */
    char key_prefix[48];              /* hsm.key_prefix */
    char sign_label[HSM_LABEL_MAX + 1]; /* SK.DP.ECDSA */
    char kek_label[HSM_LABEL_MAX + 1];  /* wraps the ISD-P keys stored */
    uint8_t *dp_cert;                 /* CERT.DP.ECDSA (7F21) sent in STORE DATA 3A01 */
    size_t dp_cert_len;
    uint8_t *ci[SMDP_MAX_CERTS];      /* trusted CI certificates (DER) */
    size_t ci_len[SMDP_MAX_CERTS], nci;
    uint8_t *eum[SMDP_MAX_CERTS];     /* EUM certificates from smdp.eum_cert_file (the eum table too) */
    size_t eum_len[SMDP_MAX_CERTS], neum;
    smdp_peer peers[SMDP_MAX_PEERS];
    size_t npeers;
    es_binding es3_binding;           /* binding of our ES3 requests */
    long default_validity_s;          /* downloads whose request named no ValidityPeriod */
    size_t send_data_max;             /* bytes of Data per ES3.SendData */
    uint8_t isdp_kvn;                 /* SCP03 key set version established in ISD-Ps (30..3F) */
    es_server *srv;                   /* final responses and notifications (NULL: none sent) */
    void (*kick)(void *arg);          /* a procedure was created or woken: run the engine soon */
    void *kick_arg;
    smdp_owner_fn owner;              /* eUICC ownership for ES4.DownloadProfile (NULL: euicc.owner_id) */
    void *owner_arg;
} smdp_ctx;

/* Fills a context from the configuration: identifiers, key labels, CERT.DP.ECDSA (smdp.cert_file;
 * missing: downloads fail at key establishment with a clear error), CI and EUM certificates, SM-SR
 * peers. srv and kick are left for the caller. */
sm_rc smdp_ctx_init(smdp_ctx *x, const sm_config *cfg, sm_err *err);
/* Reads PEM (one or more certificates) or DER certificates from a file into x->ci or x->eum. */
sm_rc smdp_ctx_load_certs(const char *path, uint8_t **v, size_t *lens, size_t *n, sm_err *err);
/* Reads CERT.DP.ECDSA (binary 7F21 or its hex) from a file. */
sm_rc smdp_ctx_load_dp_cert(smdp_ctx *x, const char *path, sm_err *err);
void smdp_ctx_free(smdp_ctx *x);

/* The SM-SR peer of an id (NULL when not configured); this appliance's own SM-SR without an es.peers
 * entry counts as local. */
const smdp_peer *smdp_peer_find(const smdp_ctx *x, const char *smsr_id);

/* Registers the SM-DP procedure kinds on an engine (x must outlive e). */
sm_rc smdp_register_kinds(smdp_ctx *x, db_engine *e, sm_err *err);
/* Binds the SM-DP's ES handlers: ES2 requests, ES3 callbacks and notifications, the ES2.ImportOrder and
 * ES4.DownloadProfile extensions (sets x->srv). */
sm_rc smdp_bind(smdp_ctx *x, es_server *srv, sm_err *err);

#endif
