/* dl_fixture: the world of the download tests — PostgreSQL, the ES server (nettest) carrying the SM-DP's
 * handlers and an SM-SR double bound on the ES3 SmSr functions, the card double (dl_card.h), a test
 * GSMA PKI (CI -> EUM -> ECASD, CERT.DP.ECDSA for the keyring's SM-DP key), stock imported from the
 * TS.48 template, and a driver that runs engine passes and the outbox pump on the server's workers until
 * the procedures end (no timing: bounded rounds). */
#ifndef SM_TESTS_SMDP_DL_FIXTURE_H
#define SM_TESTS_SMDP_DL_FIXTURE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/es_db.h"
#include "appliance/keyring.h"
#include "appliance/smdp/batch.h"
#include "appliance/smdp/download.h"
#include "appliance/smdp/dp_stock.h"
#include "appliance/smdp/mnokey.h"
#include "appliance/smdp/smdp.h"
#include "appliance/smdp/template.h"
#include "db/profile_repo.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "net/rest.h"
#include "net/soap.h"
#include "tests/smdp/dl_card.h"
#include "tests/support/workers.h"
#include "tests/smdp/smdp_test.h"
#include "tests/support/nettest.h"
#include "tests/support/testpg.h"

/* a fixture: each test program uses part of it */
#pragma GCC diagnostic ignored "-Wunused-function"

#define EID "89001012012341234012345678901224"
#define OUR_DP "1.3.6.1.4.1.99999.1.1"
#define OUR_SR "1.3.6.1.4.1.99999.1.2"
#define MNO "1.3.6.1.4.1.99999.7"
#define M2MSP "1.3.6.1.4.1.99999.8"
#define AIDHEX "A0000005591010FFFFFFFF8900001100"
#define TEMPLATE "TS48v7_SAIP2.3_NoBERTLV"

static testpg PG;
static char CONNINFO[512];
static db_pool *POOL;
static nettest N;
static smdp_ctx X;
static db_engine *ENG;
static card CARD;
static hsm_sess *S;
static EVP_PKEY *CI_KEY, *EUM_KEY;
static uint8_t ECASD_CERT[400];
static size_t ECASD_CERT_LEN;

/* ---- the SM-SR double --------------------------------------------------------------------------- */

typedef struct sr_faults {
    bool eid_unknown;        /* GetEIS: 8.1.1/3.9 */
    bool create_expired;     /* CreateISDP: Expired 1.6/5.3 */
    bool create_silent;      /* CreateISDP: accepted, never answered */
    bool enable_fails;       /* EnableProfile: Failed 8.4/4.2 */
} sr_faults;

static sr_faults SRF;
static pthread_mutex_t SR_MU = PTHREAD_MUTEX_INITIALIZER;
static int SR_CALLS[8]; /* geteis, create, senddata, pdc, enable, delete */
static char SR_CALLER[ES_ID_MAX];
static es_role SR_ROLE;

static void sr_note(es_call *c, int which)
{
    pthread_mutex_lock(&SR_MU);
    SR_CALLS[which]++;
    snprintf(SR_CALLER, sizeof SR_CALLER, "%s", c->caller.id);
    SR_ROLE = c->caller.role;
    pthread_mutex_unlock(&SR_MU);
}

static void sr_geteis(es_call *c, void *arg)
{
    sr_note(c, 0);
    if (SRF.eid_unknown) {
        es_status_fail(&c->status, ES_SUBJ_EID, ES_RSN_UNKNOWN_OBJ, "unknown EID");
        return;
    }
    es_value *eis = es_add_struct(c->out, "Eis");
    es_value *si = es_add_struct(eis, "EumSignedInfo");
    es_add_str(si, "Eid", es_str(c->in, "Eid"));
    es_add_str(si, "Eum-id", "2.999.10.1");
    es_value *ec = es_add_struct(si, "Ecasd");
    es_add_str(ec, "Aid", "A0000005591010FFFFFFFF8900000200");
    es_add_str(ec, "Sin", "");
    es_add_str(ec, "Sdin", "");
    es_add_str(ec, "Role", "ECASD");
    es_value *ks = es_add_struct(es_add_list(ec, "Keyset"), NULL);
    es_add_int(ks, "Version", 1);
    es_value *cert = es_add_struct(es_add_list(ks, "Certificate"), NULL);
    es_add_int(cert, "Index", 0);
    es_add_str(cert, "CaId", "2.999.1");
    pthread_mutex_lock(&CARD.mu);
    es_add_bytes(cert, "Value", ECASD_CERT, ECASD_CERT_LEN);
    es_add_int(eis, "RemainingMemory", 200000);
    es_add_int(eis, "AvailableMemoryForProfiles", 300000);
    es_add_str(eis, "Smsr-id", OUR_SR);
    if (CARD.isdp && CARD.iccid[0]) {
        es_value *pi = es_add_struct(es_add_list(eis, "ProfileInfo"), NULL);
        es_add_str(pi, "Iccid", CARD.iccid);
        es_add_str(pi, "Isd-p-aid", AIDHEX);
        es_add_str(pi, "State", CARD.enabled ? "Enabled" : "Disabled");
        es_add_str(pi, "Smdp-id", OUR_DP);
    }
    pthread_mutex_unlock(&CARD.mu);
}

static void sr_createisdp(es_call *c, void *arg)
{
    sr_note(c, 1);
    if (SRF.create_expired) {
        es_status_expired(&c->status);
        return;
    }
    if (SRF.create_silent) {
        c->deferred = true;
        return;
    }
    pthread_mutex_lock(&CARD.mu);
    CARD.isdp = true;
    CARD.aid_len = 16;
    size_t al = 0;
    sm_hex_decode(AIDHEX, CARD.aid, 16, &al, NULL);
    pthread_mutex_unlock(&CARD.mu);
    es_add_str(c->out, "Isd-p-aid", AIDHEX);
}

static void sr_senddata(es_call *c, void *arg)
{
    sr_note(c, 2);
    const uint8_t *d;
    size_t len;
    if (strcasecmp(es_str(c->in, "Sd-aid"), AIDHEX) || !es_bytes(c->in, "Data", &d, &len)) {
        es_status_fail(&c->status, "8.3.1", ES_RSN_UNKNOWN_OBJ, "unknown SD");
        return;
    }
    sm_buf out;
    sm_buf_init(&out);
    pthread_mutex_lock(&CARD.mu);
    card_run(&CARD, d, len, &out);
    pthread_mutex_unlock(&CARD.mu);
    es_add_bytes(c->out, "EuiccResponseData", out.data, out.len);
    sm_buf_free(&out);
}

static void sr_pdc(es_call *c, void *arg) { sr_note(c, 3); }

static void sr_enable(es_call *c, void *arg)
{
    sr_note(c, 4);
    if (SRF.enable_fails) {
        es_status_fail(&c->status, "8.4", ES_RSN_EXEC_ERROR, "the ISD-R refused (69E1)");
        return;
    }
    pthread_mutex_lock(&CARD.mu);
    CARD.enabled = true;
    pthread_mutex_unlock(&CARD.mu);
}

static void sr_delete(es_call *c, void *arg)
{
    sr_note(c, 5);
    pthread_mutex_lock(&CARD.mu);
    CARD.isdp = CARD.installed = CARD.keys = false;
    CARD.iccid[0] = 0;
    CARD.deletes++;
    pthread_mutex_unlock(&CARD.mu);
}

static void bind_sr_double(es_server *s)
{
    sm_err err = {0};
    if (es_server_bind(s, "ES3.GetEIS", ES_KIND_REQUEST, sr_geteis, NULL, &err) != SM_OK ||
        es_server_bind(s, "ES3.CreateISDP", ES_KIND_REQUEST, sr_createisdp, NULL, &err) != SM_OK ||
        es_server_bind(s, "ES3.SendData", ES_KIND_REQUEST, sr_senddata, NULL, &err) != SM_OK ||
        es_server_bind(s, "ES3.ProfileDownloadCompleted", ES_KIND_REQUEST, sr_pdc, NULL, &err) != SM_OK ||
        es_server_bind(s, "ES3.EnableProfile", ES_KIND_REQUEST, sr_enable, NULL, &err) != SM_OK ||
        es_server_bind(s, "ES3.DeleteISDP", ES_KIND_REQUEST, sr_delete, NULL, &err) != SM_OK) {
        fprintf(stderr, "binding the SM-SR double: %s\n", err.msg);
        abort();
    }
}

/* ---- workers ------------------------------------------------------------------------------------------ */

/* fn on one of the server's workers; the test thread waits */
static void on_worker(void (*fn)(sm_worker *w, void *arg), void *arg) { tw_on_worker(N.workers, fn, arg); }

static void pump_job(sm_worker *w, void *arg)
{
    sm_es_pump_env env = {.client = es_server_client(N.srv), .server = N.srv, .smdp_id = OUR_DP, .smsr_id = OUR_SR};
    sm_err err = {0};
    int sent = 0, failed = 0;
    if (sm_es_outbox_pump_env(w->db, "test", &env, &sent, &failed, &err) != SM_OK)
        fprintf(stderr, "pump: %s\n", err.msg);
    if (arg)
        *(int *)arg = sent + failed;
}

typedef struct eng_arg {
    int max;
    db_engine_stats st;
} eng_arg;

static void engine_job(sm_worker *w, void *arg)
{
    eng_arg *a = arg;
    sm_err err = {0};
    if (db_engine_run(ENG, w->db, "w", a->max, &a->st, &err) != SM_OK)
        fprintf(stderr, "engine: %s\n", err.msg);
}

/* ---- database helpers --------------------------------------------------------------------------- */

static db_conn *conn(void)
{
    db_conn *c = NULL;
    sm_err err = {0};
    if (db_pool_take(POOL, &c, &err) != SM_OK)
        abort();
    return c;
}

static long sql_long(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long sql_long(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    db_conn *c = conn();
    db_stmt st = {q, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    long v = -1;
    if (db_exec(c, &st, NULL, &r, &err) == SM_OK && db_res_rows(r) == 1)
        v = (long)db_res_int(r, 0, 0);
    else if (err.msg[0])
        fprintf(stderr, "sql: %s\n", err.msg);
    db_res_free(r);
    db_pool_give(c);
    return v;
}

static void proc_state(int64_t id, char *state, size_t cap, char *step, size_t scap)
{
    db_conn *c = conn();
    db_proc_info in;
    sm_err err = {0};
    if (db_proc_get(c, id, &in, &err) != SM_OK)
        abort();
    snprintf(state, cap, "%s", in.state);
    snprintf(step, scap, "%s", in.step);
    db_proc_info_clear(&in);
    db_pool_give(c);
}

static bool proc_ended(int64_t id)
{
    char st[16], step[64];
    proc_state(id, st, sizeof st, step, sizeof step);
    return !strcmp(st, "done") || !strcmp(st, "failed") || !strcmp(st, "expired");
}

/* The final answers go to a requester that is not there: the test reads them in the outbox instead. */
static void consume_answers(void)
{
    testpg_sql(CONNINFO, "UPDATE outbox SET state = 'delivered' WHERE kind IN ('ES2.DownloadProfileResponse', "
                         "'ES4.DownloadProfileResponse', 'ES2.HandleProfileEnabledNotification') AND state <> 'delivered'");
}

/* Runs engine passes and the pump until every procedure of ids ended (at most `rounds` rounds). */
static void drive(const int64_t *ids, size_t n, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        bool all = true;
        for (size_t k = 0; k < n; k++)
            all = all && proc_ended(ids[k]);
        if (all)
            return;
        eng_arg ea = {.max = 8};
        on_worker(engine_job, &ea);
        consume_answers();
        on_worker(pump_job, NULL);
    }
}

/* The final answer the requester was sent for a request whose MessageID was mid. */
typedef struct final_answer {
    bool found;
    es_status st;
    char iccid[21];
} final_answer;

static final_answer final_of(const char *kind, const char *mid)
{
    final_answer fa = {0};
    db_conn *c = conn();
    db_stmt st = {"SELECT payload FROM outbox WHERE kind = $1 AND relates_to = $2 ORDER BY id DESC LIMIT 1", 2, 0};
    db_params p;
    db_params_init(&p);
    db_p_text(&p, kind);
    db_p_text(&p, mid);
    db_res *r = NULL;
    sm_err err = {0};
    uint8_t *pl = NULL;
    size_t len = 0;
    if (db_exec(c, &st, &p, &r, &err) == SM_OK && db_res_rows(r) == 1 && db_res_bytea(r, 0, 0, &pl, &len, &err) == SM_OK) {
        /* smbox-es-outbox/1, binding, URL, action, empty line, message */
        size_t off = 0;
        for (int nl = 0; off < len && nl < 5; off++)
            if (pl[off] == '\n')
                nl++;
        bool rest = len > 23 && !memcmp(pl + 18, "rest\n", 5);
        xml_limits lim = {.max_bytes = len, .max_depth = 64, .max_nodes = 100000};
        json_limits jl = {.max_bytes = len, .max_depth = 64, .max_nodes = 100000};
        es_msg m;
        es_status fst;
        soap_fault fault;
        char qn[64];
        snprintf(qn, sizeof qn, "%.*s", (int)(strstr(kind, "Response") ? strstr(kind, "Response") - kind : 0), kind);
        sm_rc drc = rest ? rest_decode((const char *)pl + off, len - off, &jl, es_function_by_qname(qn),
                                       ES_KIND_RESPONSE, &m, &fst, &err)
                         : soap_decode((const char *)pl + off, len - off, &lim, 0, &m, &fst, &fault, &err);
        if (drc == SM_OK) {
            fa.found = true;
            fa.st = m.status;
            const char *ic = es_str(m.body, "Iccid");
            snprintf(fa.iccid, sizeof fa.iccid, "%s", ic ? ic : "");
        } else {
            fprintf(stderr, "final answer: %s\n", err.msg);
        }
        es_msg_clear(&m);
    }
    free(pl);
    db_res_free(r);
    db_pool_give(c);
    return fa;
}

/* ---- the test GSMA PKI and the SM-DP's context ------------------------------------------------------ */

static hsm_key hsm_signer_of(EVP_PKEY *k)
{
    uint8_t d[32];
    ref_ec_priv(k, d);
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key out;
    sm_err err = {0};
    if (hsm_ec_import_private(S, &sp, d, 32, &out, &err) != SM_OK)
        abort();
    return out;
}

static void make_pki(void)
{
    ref_x509_opts ca = {.days_from = -1, .days_to = 3650, .ca = true, .key_cert_sign = true, .ski = true};
    uint8_t *ci_der = NULL, *eum_der = NULL;
    size_t ci_len = 0, eum_len = 0;
    CI_KEY = ref_ec_gen("P-256");
    EUM_KEY = ref_ec_gen("P-256");
    CARD.ecasd = ref_ec_gen("P-256");
    ref_ec_pub(CI_KEY, CARD.ci_pub);
    ref_x509_make(CI_KEY, "Test CI", CI_KEY, NULL, 0, &ca, &ci_der, &ci_len);
    ref_x509_make(EUM_KEY, "Test EUM", CI_KEY, ci_der, ci_len, &ca, &eum_der, &eum_len);
    uint8_t ci_ski[20], eum_ski[20];
    ref_x509_ski(ci_der, ci_len, ci_ski);
    ref_x509_ski(eum_der, eum_len, eum_ski);
    static const uint8_t serial[] = {1, 2, 3, 4}, caid[] = {0x2B, 0x06, 0x01};
    sm_err err = {0};
    /* CERT.ECASD.ECKA by the EUM */
    uint8_t pub[65];
    ref_ec_pub(CARD.ecasd, pub);
    gpcert_tbs t = {.serial = serial, .serial_len = 4, .ca_id = caid, .ca_id_len = 3,
                    .subject_id = (const uint8_t *)"ECASD", .subject_id_len = 5,
                    .key_usage = GPCERT_KU_KEY_AGREEMENT, .key_usage_len = 2, .has_effective = true,
                    .effective = {2020, 1, 1}, .expiry = {2099, 12, 31}, .has_disc = true, .cert_type = -1,
                    .aki = eum_ski, .aki_len = 20, .pubkey = pub, .pubkey_len = 65, .curve = HSM_CURVE_P256};
    hsm_key eum = hsm_signer_of(EUM_KEY), ci = hsm_signer_of(CI_KEY);
    sm_buf b;
    sm_buf_init(&b);
    if (gpcert_issue(S, &eum, &t, &b, &err) != SM_OK || b.len > sizeof ECASD_CERT)
        abort();
    memcpy(ECASD_CERT, b.data, b.len);
    ECASD_CERT_LEN = b.len;
    sm_buf_reset(&b);
    /* CERT.DP.ECDSA for the keyring's SM-DP key, by the CI */
    hsm_key dp;
    uint8_t dpub[HSM_EC_POINT_MAX];
    size_t dl = 0;
    if (hsm_key_find(S, X.sign_label, HSM_KT_EC_PRIV, &dp, &err) != SM_OK ||
        hsm_ec_public(S, &dp, dpub, sizeof dpub, &dl, NULL, &err) != SM_OK)
        abort();
    gpcert_tbs td = t;
    td.subject_id = (const uint8_t *)"SMDP";
    td.subject_id_len = 4;
    td.key_usage = GPCERT_KU_SIGN;
    td.key_usage_len = 1;
    td.cert_type = GPCERT_TYPE_SMDP;
    td.aki = ci_ski;
    td.pubkey = dpub;
    if (gpcert_issue(S, &ci, &td, &b, &err) != SM_OK)
        abort();
    X.dp_cert = sm_buf_steal(&b, &X.dp_cert_len);
    X.ci[0] = ci_der;
    X.ci_len[0] = ci_len;
    X.nci = 1;
    X.eum[0] = eum_der;
    X.eum_len[0] = eum_len;
    X.neum = 1;
    hsm_key_destroy(S, &eum, NULL);
    hsm_key_destroy(S, &ci, NULL);
}

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    if (smdp_bind(&X, s, &err) != SM_OK) {
        fprintf(stderr, "smdp_bind: %s\n", err.msg);
        abort();
    }
    bind_sr_double(s);
}

/* A batch of n profiles of type `type` into stock, ICCIDs from iccid_start. */
static void order(const char *type, const char *iccid_start, unsigned n)
{
    static const uint8_t TK[16] = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                   0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
    static const uint8_t OP[16] = {0xcd, 0xc2, 0x02, 0xd5, 0x12, 0x3e, 0x20, 0xf6,
                                   0x2b, 0x6d, 0x67, 0x6a, 0xc7, 0x2c, 0xb3, 0x18};
    uint8_t enc[16];
    ref_aes_ecb(TK, 16, OP, enc);
    char hex[33];
    sm_hex_encode(enc, 16, hex);
    char text[1024];
    snprintf(text, sizeof text,
             "smbox-order 1\nprofile-type %s\ntemplate " TEMPLATE "\nmno " MNO "\niccid-start %s\n"
             "imsi-start 001010000000001\nmnc-digits 2\nquantity %u\nop-enc %s\nend\n",
             type, iccid_start, n, hex);
    smdp_batch_req req = {.text = text, .len = strlen(text), .key_prefix = "smbox", .actor = "test", .requester = MNO};
    smdp_batch_result res;
    sm_err err = {0};
    db_conn *c = conn();
    if (smdp_batch_import(c, S, &req, &res, &err) != SM_OK) {
        fprintf(stderr, "order: %s\n", err.msg);
        abort();
    }
    smdp_batch_result_free(&res);
    db_pool_give(c);
}

static int dl_setup(size_t send_data_max)
{
    sm_log_init("test", SM_LOG_WARN, 2);
    pthread_mutex_init(&CARD.mu, NULL);
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "dl", CONNINFO, sizeof CONNINFO) != 0)
        return -1;
    POOL = testpg_pool(CONNINFO, 8);
    memset(&X, 0, sizeof X);
    snprintf(X.smdp_id, sizeof X.smdp_id, OUR_DP);
    snprintf(X.smsr_id, sizeof X.smsr_id, OUR_SR);
    snprintf(X.key_prefix, sizeof X.key_prefix, "smbox");
    sm_keyring_label("smbox", AK_SMDP_SIGN, X.sign_label, sizeof X.sign_label);
    sm_keyring_label("smbox", AK_KEK, X.kek_label, sizeof X.kek_label);
    X.es3_binding = ES_BIND_SOAP;
    X.default_validity_s = 600;
    X.send_data_max = send_data_max;
    X.isdp_kvn = 0x30;
    snprintf(X.peers[0].id, sizeof X.peers[0].id, OUR_SR);
    snprintf(X.peers[0].endpoint, sizeof X.peers[0].endpoint, "local");
    X.npeers = 1;
    static es_hooks h;
    sm_es_db_hooks(&h, true);
    sm_worker_hook wh = tw_db_hook(POOL);
    nettest_opts o = {.whooks = &wh, .nwhooks = 1, .hooks = &h};
    nettest_start(&N, &o, bind_all, NULL);
    snprintf(X.public_url, sizeof X.public_url, "https://127.0.0.1:%d", N.port);
    sm_err err = {0};
    if (hsm_session_get(N.hsm, &S, &err) != SM_OK || sm_keyring_ceremony(S, "smbox", NULL, NULL, &err) != SM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    make_pki();
    ENG = db_engine_new("test", 0);
    if (smdp_register_kinds(&X, ENG, &err) != SM_OK)
        return -1;
    /* the template, the MNO's transport key, stock */
    size_t len;
    uint8_t *der = smdp_test_load("tests/profiles/" TEMPLATE ".der", &len);
    db_conn *c = conn();
    static const uint8_t TK[16] = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                   0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
    char label[HSM_LABEL_MAX + 1];
    uint8_t kcv[3];
    if (smdp_template_import(c, "test", der, len, TEMPLATE, NULL, NULL, &err) != SM_OK ||
        smdp_mnokey_import(S, "smbox", MNO, TK, 16, label, kcv, &err) != SM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    db_pool_give(c);
    free(der);
    return 0;
}

static int dl_teardown(void)
{
    db_engine_free(ENG);
    hsm_session_put(S);
    nettest_stop(&N);
    db_pool_close(POOL);
    testpg_stop(&PG);
    EVP_PKEY_free(CI_KEY);
    EVP_PKEY_free(EUM_KEY);
    EVP_PKEY_free(CARD.ecasd);
    free(CARD.pkg);
    smdp_ctx_free(&X);
    return 0;
}

/* Starts a download in-process (as the ES2 handler does), its final answer addressed to an MNO that is
 * not listening (the test reads it in the outbox under mid). */
static int64_t start(const char *iccid, const char *type, bool enable, long validity, const char *mid)
{
    es_reply_to rt;
    memset(&rt, 0, sizeof rt);
    snprintf(rt.qname, sizeof rt.qname, "ES2.DownloadProfile");
    rt.binding = ES_BIND_SOAP;
    snprintf(rt.relates_to, sizeof rt.relates_to, "%s", mid);
    snprintf(rt.fcid, sizeof rt.fcid, "%s", mid);
    snprintf(rt.address, sizeof rt.address, "https://127.0.0.1:1/gsma/soap/es2");
    snprintf(rt.peer_id, sizeof rt.peer_id, MNO);
    rt.peer_role = ES_ROLE_MNO;
    smdp_dl_request r = {.origin = "es2", .requester = MNO, .call_id = mid, .mno_id = MNO, .eid = EID,
                         .smsr_id = OUR_SR, .iccid = iccid, .profile_type = type, .enable = enable,
                         .validity_s = validity, .reply = &rt};
    db_conn *c = conn();
    int64_t id = 0;
    sm_err err = {0};
    if (db_begin(c, &err) != SM_OK || smdp_download_start(&X, c, &r, &id, &err) != SM_OK ||
        db_commit(c, &err) != SM_OK) {
        fprintf(stderr, "start: %s\n", err.msg);
        abort();
    }
    db_pool_give(c);
    return id;
}

static const char *stock_state(const char *iccid)
{
    static char st[16];
    db_conn *c = conn();
    db_stock s;
    sm_err err = {0};
    st[0] = 0;
    if (db_stock_get(c, iccid, &s, &err) == SM_OK)
        snprintf(st, sizeof st, "%s", s.state);
    db_stock_clear(&s);
    db_pool_give(c);
    return st;
}

static void reset_world(void)
{
    pthread_mutex_lock(&CARD.mu);
    card_reset(&CARD);
    pthread_mutex_unlock(&CARD.mu);
    memset(&SRF, 0, sizeof SRF);
    memset(SR_CALLS, 0, sizeof SR_CALLS);
}

#endif
