/* The SM-SR's ES3 and ES4 functions and its procedures, end to end over the ES server (mutual TLS,
 * SOAP, the database hooks): GetEIS filtered per caller, refusals of the wrong callers, CreateISDP /
 * SendData / ProfileDownloadCompleted / EnableProfile / DeleteProfile / AuditEIS driven step by step
 * with ES5 results woken by hand (a fake ES5 records the scripts), the EIS, its history and the audit
 * trail changed with each step or not at all, eUICC notifications fanned out through the outbox. */
#include "tests/smsr/smsr_fixture.h"

#include <pthread.h>

#include "appliance/es_db.h"
#include "appliance/smsr/apdu.h"
#include "appliance/smsr/internal.h"
#include "tests/support/nettest.h"
#include "tests/support/workers.h"

#define SOAP_CT "application/soap+xml; charset=utf-8"
#define SMDP_ID "1.3.6.1.4.1.99999.3" /* nettest's peers */
#define MNO_ID "1.3.6.1.4.1.99999.7"
#define SP_ID "1.3.6.1.4.1.99999.8"

static nettest N;
static db_pool *P0, *WPOOL;
static db_conn *C;
static db_engine *ENG;
static char CONNINFO[600];
static char EID0[33], EID1[33], EID2[33], EID4[33]; /* EID4: no HTTPS */

/* ---- a fake ES5: records what the procedures submit ------------------------------------------------- */

typedef struct sub {
    int64_t req, proc;
    char eid[33];
    uint8_t aid[16];
    size_t aidlen;
    uint8_t script[4096];
    size_t slen;
    es5_channel ch;
    char label[32];
} sub;
static sub SUBS[64];
static int NSUB;
static int64_t NEXTREQ = 1000;
static int NCANCEL;
static int FAKE_LIMIT; /* the next submission is refused as undeliverable (SM_ELIMIT) */

static sm_rc fake_submit(db_conn *c, const es5_request *r, int64_t *id, sm_err *err)
{
    (void)c;
    if (FAKE_LIMIT) {
        FAKE_LIMIT = 0;
        return sm_errf(err, SM_ELIMIT, "es5: a 3000-byte script needs 30 SMS");
    }
    if (NSUB >= 64 || r->script_len > sizeof SUBS[0].script)
        return sm_errf(err, SM_ELIMIT, "fake es5 full");
    sub *s = &SUBS[NSUB++];
    memset(s, 0, sizeof *s);
    s->req = *id = NEXTREQ++;
    s->proc = r->wake_proc;
    snprintf(s->eid, sizeof s->eid, "%s", r->eid);
    memcpy(s->aid, r->aid, r->aid_len);
    s->aidlen = r->aid_len;
    memcpy(s->script, r->script, r->script_len);
    s->slen = r->script_len;
    s->ch = r->channel;
    snprintf(s->label, sizeof s->label, "%s", r->label ? r->label : "");
    assert_string_equal(r->wake_step, "result");
    return SM_OK;
}

static sm_rc fake_cancel(db_conn *c, int64_t id, sm_err *err)
{
    (void)c;
    (void)id;
    NCANCEL++;
    return sm_errf(err, SM_ESTATE, "sent already");
}

/* ---- set-up ------------------------------------------------------------------------------------------ */

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    if (smsr_bind(&FX.x, s, &err) != SM_OK)
        fx_die("bind: %s", err.msg);
}

static void eid_of(const char *text, int i, char out[33])
{
    char *l = fx_line(text, i + 1);
    memcpy(out, strstr(l, "eid=") + 4, 32);
    out[32] = 0;
    free(l);
}

static int setup(void **state)
{
    fx_init();
    fx_db_at(&P0, &C, CONNINFO, sizeof CONNINFO);
    WPOOL = testpg_pool(CONNINFO, 4);
    static es_hooks h;
    memset(&h, 0, sizeof h);
    sm_es_db_hooks(&h, true);
    sm_worker_hook wh = tw_db_hook(WPOOL);
    nettest_opts o = {.whooks = &wh, .nwhooks = 1, .hooks = &h};
    nettest_start(&N, &o, bind_all, NULL);
    fx_token(N.hsm);
    char *t = fx_batch(NULL);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    if (fx_import(C, t, &rep, &why, &err) != SM_OK || rep.imported != 5)
        fx_die("import: %s", err.msg);
    smsr_import_report_free(&rep);
    eid_of(t, 0, EID0);
    eid_of(t, 1, EID1);
    eid_of(t, 2, EID2);
    eid_of(t, 4, EID4);
    free(t);
    FX.x.es5 = (smsr_es5_ops){.submit = fake_submit, .cancel = fake_cancel};
    ENG = db_engine_new("test/1", 0);
    if (smsr_register_kinds(&FX.x, ENG, &err) != SM_OK)
        fx_die("kinds: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    nettest_stop(&N);
    db_engine_free(ENG);
    db_pool_give(C);
    db_pool_close(P0);
    db_pool_close(WPOOL);
    fx_stop();
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

static int NCALL;

static tresp soap(const char *who, int es, const char *el, const char *fields)
{
    char *b = malloc(16384), path[32];
    NCALL++;
    snprintf(b, 16384,
             "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" "
             "xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\"><s:Header><wsa:MessageID>m-%d</wsa:MessageID>"
             "</s:Header><s:Body><rps:%s><rps:FunctionCallIdentifier>c-%d</rps:FunctionCallIdentifier>"
             "<rps:ValidityPeriod>3600</rps:ValidityPeriod>%s</rps:%s></s:Body></s:Envelope>",
             NCALL, el, NCALL, fields, el);
    snprintf(path, sizeof path, "/gsma/soap/es%d", es);
    tresp r = nettest_post(&N, who, path, SOAP_CT, b);
    free(b);
    return r;
}

static void expect(tresp *r, int http, const char *const *has)
{
    if (r->status != http)
        fail_msg("HTTP %d, expected %d: %.*s", r->status, http, (int)r->len, r->body ? r->body : "");
    for (int i = 0; has && has[i]; i++)
        if (!r->body || !strstr(r->body, has[i]))
            fail_msg("'%s' not in %.*s", has[i], (int)r->len, r->body ? r->body : "");
    tresp_free(r);
}

static void run_engine(void)
{
    for (int i = 0; i < 30; i++) {
        db_engine_stats st = {0};
        sm_err err = {0};
        sm_rc rc = db_engine_run(ENG, C, "t", 8, &st, &err);
        if (rc != SM_OK)
            fail_msg("engine: %s: %s", sm_rc_name(rc), err.msg);
        if (!st.claimed)
            return;
    }
}

/* ES5's answer to the i-th submission, for a script that reached the card (or not) */
static void wake_ran(int i, es5_status status, const char *resp_hex, const char *detail, bool ran)
{
    uint8_t resp[512];
    size_t rl = resp_hex ? testenv_unhex(resp_hex, resp, sizeof resp) : 0;
    es5_result r = {.req_id = SUBS[i].req, .status = status, .channel = ES5_CH_SMS, .response = resp,
                    .response_len = rl, .maybe_ran = ran};
    snprintf(r.detail, sizeof r.detail, "%s", detail ? detail : "");
    uint8_t *d = NULL;
    size_t dl = 0;
    sm_err err = {0};
    assert_int_equal(es5_result_encode(&r, &d, &dl, &err), SM_OK);
    assert_int_equal(db_proc_wake(C, SUBS[i].proc, "result", d, dl, &err), SM_OK);
    free(d);
}

static void wake(int i, es5_status status, const char *resp_hex, const char *detail)
{
    wake_ran(i, status, resp_hex, detail, false);
}

static uint32_t SEQ = 1;

static void notify(const char *eid, uint8_t type, const db_aid *aid)
{
    es5_notification n = {.eid = eid, .type = type, .seq = SEQ++, .aid = aid ? aid->b : NULL,
                          .aid_len = aid ? aid->len : 0, .channel = ES5_CH_SMS};
    sm_err err = {0};
    assert_int_equal(db_begin(C, &err), SM_OK);
    if (smsr_on_notification(C, &n, &FX.x, &err) != SM_OK)
        fail_msg("notification: %s", err.msg);
    assert_int_equal(db_commit(C, &err), SM_OK);
}

DB_STMT(q_outbox, 1,
        "SELECT kind, dest_id, convert_from(payload, 'UTF8'), id FROM outbox WHERE id > $1 ORDER BY id");
DB_STMT(q_outbox_max, 0, "SELECT coalesce(max(id), 0) FROM outbox");
DB_STMT(q_audit, 2, "SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2");
DB_STMT(q_proc, 1, "SELECT state, step FROM proc WHERE id = $1");
DB_STMT(q_hist_op, 2, "SELECT count(*) FROM eis_history WHERE iccid = $1 AND op_type = $2");

static int64_t OUTBOX_MARK;

static void outbox_mark(void)
{
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(C, &q_outbox_max, NULL, &r, &err), SM_OK);
    OUTBOX_MARK = db_res_int(r, 0, 0);
    db_res_free(r);
}

/* How many messages of kind to dest since the mark hold every string of has. */
static int outbox(const char *kind, const char *dest, const char *const *has)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, OUTBOX_MARK);
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(C, &q_outbox, &p, &r, &err), SM_OK);
    int n = 0;
    for (int i = 0; i < db_res_rows(r); i++) {
        if (strcmp(db_res_text(r, i, 0), kind) || (dest && strcmp(db_res_text(r, i, 1), dest)))
            continue;
        bool all = true;
        for (int k = 0; has && has[k]; k++)
            all = all && strstr(db_res_text(r, i, 2), has[k]);
        n += all;
    }
    db_res_free(r);
    return n;
}

/* the count a query of two text parameters returns */
static long count2(db_stmt *q, const char *a, const char *b)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a);
    db_p_text(&p, b);
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(C, q, &p, &r, &err), SM_OK);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static long audits(const char *action, const char *outcome) { return count2(&q_audit, action, outcome); }

static long hist_op(const char *iccid, const char *op) { return count2(&q_hist_op, iccid, op); }

static void proc_state(int64_t id, char *state, char *step)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(C, &q_proc, &p, &r, &err), SM_OK);
    assert_int_equal(db_res_rows(r), 1);
    strcpy(state, db_res_text(r, 0, 0));
    strcpy(step, db_res_text(r, 0, 1));
    db_res_free(r);
}

static void profile(const char *iccid, db_profile *p)
{
    sm_err err = {0};
    if (db_profile_get(C, iccid, p, &err) != SM_OK)
        fail_msg("profile %s: %s", iccid, err.msg);
}

static bool profile_gone(const char *iccid)
{
    db_profile p;
    sm_err err = {0};
    return db_profile_get(C, iccid, &p, &err) == SM_ENOTFOUND;
}

static const char *hexs(const uint8_t *b, size_t n)
{
    static char h[8200];
    sm_hex_encode(b, n, h);
    return h;
}

/* CreateISDP by the test SM-DP, up to the ES5 request; returns the index of the submission */
static int create_isdp(const char *eid, const char *iccid, const char *mno, long mem)
{
    char f[512];
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:Mno-id>%s</rps:Mno-id><rps:RequiredMemory>%ld"
             "</rps:RequiredMemory><rps:MoreToDo>true</rps:MoreToDo>",
             eid, iccid, mno, mem);
    tresp r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    int before = NSUB;
    run_engine();
    assert_int_equal(NSUB, before + 1);
    return before;
}

/* a profile of MNO mno installed by the test SM-DP, Disabled */
static void install(const char *eid, const char *iccid, const char *mno, const char *pol2)
{
    int s = create_isdp(eid, iccid, mno, 4096);
    wake(s, ES5_OK, "800101230290 00", NULL);
    run_engine();
    char f[1024];
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:ProfileType>test-type</rps:ProfileType>"
             "<rps:SubscriptionAddress><rps:Imsi>001019999999999</rps:Imsi><rps:Msisdn>447900555000</rps:Msisdn>"
             "</rps:SubscriptionAddress><rps:pol2>%s</rps:pol2>",
             eid, iccid, pol2 ? pol2 : "");
    tresp r = soap("smdp", 3, "ES3-ProfileDownloadCompletedRequest", f);
    const char *ok[] = {"EXECUTED_SUCCESS", NULL};
    expect(&r, 200, ok);
    db_profile p;
    profile(iccid, &p);
    assert_string_equal(p.state, "Disabled");
}

static const char *enabled_iccid(const char *eid, char out[21])
{
    db_profile *pv = NULL;
    size_t n = 0;
    sm_err err = {0};
    assert_int_equal(db_eis_profiles(C, eid, false, &pv, &n, &err), SM_OK);
    out[0] = 0;
    int count = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pv[i].state, "Enabled")) {
            strcpy(out, pv[i].iccid);
            count++;
        }
    free(pv);
    assert_true(count <= 1);
    return out;
}

/* ---- GetEIS and the wrong callers ---------------------------------------------------------------------------- */

static void test_geteis_filtered_per_caller(void **state)
{
    char f[128];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid>", EID0);
    /* the SM-DP: the ECASD certificate and ISD-P AIDs, none of the pre-loaded profiles (not its own) */
    tresp r = soap("smdp", 3, "ES3-GetEISRequest", f);
    assert_non_null(strstr(r.body, "EXECUTED_SUCCESS"));
    assert_non_null(strstr(r.body, "<rps:Ecasd>"));
    assert_non_null(strstr(r.body, "7F21")); /* CERT.ECASD.ECKA (hexBinary) */
    assert_non_null(strstr(r.body, "<rps:Isd-p-module-aid>"));
    assert_null(strstr(r.body, "<rps:ProfileInfo>"));
    assert_null(strstr(r.body, "Isd-r"));
    tresp_free(&r);
    /* an MNO: no ECASD, no AIDs, none of the other MNO's profiles */
    r = soap("mno", 4, "ES4-GetEISRequest", f);
    assert_non_null(strstr(r.body, "EXECUTED_SUCCESS"));
    assert_null(strstr(r.body, "<rps:Ecasd>"));
    assert_null(strstr(r.body, "Isd-p-module-aid"));
    assert_null(strstr(r.body, "<rps:ProfileInfo>"));
    assert_non_null(strstr(r.body, "<rps:RemainingMemory>"));
    tresp_free(&r);
    /* an M2M SP that does not own the eUICC: 8.6/1.2; once owner: every profile, no POL2 rule */
    r = soap("m2msp", 4, "ES4-GetEISRequest", f);
    assert_non_null(strstr(r.body, "<rps:Subject>8.6</rps:Subject><rps:Reason>1.2</rps:Reason>"));
    tresp_free(&r);
    sm_err err = {0};
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID0, SP_ID, &err), SM_OK);
    r = soap("m2msp", 4, "ES4-GetEISRequest", f);
    assert_non_null(strstr(r.body, "EXECUTED_SUCCESS"));
    assert_non_null(strstr(r.body, "<rps:ProfileInfo>"));
    assert_non_null(strstr(r.body, "<rps:Mno-id>2.999.40.1</rps:Mno-id>"));
    tresp_free(&r);
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID0, NULL, &err), SM_OK);
    /* unknown eUICC */
    r = soap("smdp", 3, "ES3-GetEISRequest", "<rps:Eid>89049032000000000000000000009999</rps:Eid>");
    const char *unknown[] = {"<rps:Subject>8.1.1</rps:Subject><rps:Reason>3.9</rps:Reason>", NULL};
    expect(&r, 200, unknown);
    assert_true(audits("es3.GetEIS", "failed") >= 1);
}

static void test_wrong_caller_refused_per_interface(void **state)
{
    const char *denied[] = {"<rps:Subject>1.1</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    char f[256];
    /* ES1 by an MNO */
    tresp r = soap("mno", 1, "ES1-RegisterEISRequest", "<rps:Eis><rps:Smsr-id>1.2</rps:Smsr-id></rps:Eis>");
    expect(&r, 200, denied);
    /* ES3 by an MNO */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid>", EID0);
    r = soap("mno", 3, "ES3-GetEISRequest", f);
    expect(&r, 200, denied);
    /* ES4 by the SM-DP */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988200000000000014</rps:Iccid>", EID0);
    r = soap("smdp", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 200, denied);
    /* an M2M SP may not update POL2 (ES4 UpdatePolicyRules is MNO only) */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988200000000000014</rps:Iccid><rps:pol2/>", EID0);
    r = soap("m2msp", 4, "ES4-UpdatePolicyRulesRequest", f);
    expect(&r, 200, denied);
}

/* ---- CreateISDP ----------------------------------------------------------------------------------------------- */

static void test_createisdp_ok(void **state)
{
    outbox_mark();
    const char *iccid = "8988299000000000101";
    db_euicc e0;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, EID1, &e0, &err), SM_OK);
    long ok0 = audits("smsr.CreateISDP", "ok");
    int s = create_isdp(EID1, iccid, MNO_ID, 8192);
    /* INSTALL [for install and make selectable] to the ISD-R: the ISD-P after the pre-loaded ...00001000 */
    assert_string_equal(SUBS[s].label, "CreateISDP");
    assert_int_equal(SUBS[s].ch, ES5_CH_HTTPS); /* the eUICC has HTTPS: CreateISDP goes that way */
    assert_memory_equal(SUBS[s].aid, e0.isdr_aid.b, 16);
    const char *sc = hexs(SUBS[s].script, SUBS[s].slen);
    assert_memory_equal(sc, "22", 2); /* one C-APDU TLV */
    assert_non_null(strstr(sc, "10a0000005591010ffffffff8900000d00"));
    assert_non_null(strstr(sc, "80e60c00"));
    assert_non_null(strstr(sc, "10a0000005591010ffffffff8900001100"));
    assert_non_null(strstr(sc, "0380c000"));
    assert_non_null(strstr(sc, "0cc90481020370ef0483022000")); /* SCP03 i=70, memory quota 8192 */
    /* hidden while the ISD-P does not exist: an ES3.GetEIS does not show it */
    char f[128];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid>", EID1);
    tresp r = soap("smdp", 3, "ES3-GetEISRequest", f);
    assert_null(strstr(r.body, iccid));
    tresp_free(&r);
    db_profile p;
    profile(iccid, &p);
    assert_string_equal(p.state, "creating");
    /* the card created it */
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    profile(iccid, &p);
    assert_string_equal(p.state, "Created");
    assert_string_equal(p.smdp_id, SMDP_ID);
    assert_string_equal(p.mno_id, MNO_ID);
    assert_int_equal(p.allocated_memory, 8192);
    db_euicc e1;
    assert_int_equal(db_eis_get(C, EID1, &e1, &err), SM_OK);
    assert_int_equal(e1.remaining_memory, e0.remaining_memory - 8192);
    db_euicc_clear(&e0);
    db_euicc_clear(&e1);
    assert_int_equal(hist_op(iccid, "0100"), 1);
    assert_int_equal(audits("smsr.CreateISDP", "ok"), ok0 + 1);
    const char *resp[] = {"EXECUTED_SUCCESS", "<rps:Isd-p-aid>A0000005591010FFFFFFFF8900001100</rps:Isd-p-aid>",
                          "ProfileManagementCallBack/ES3-CreateISDP", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, resp), 1);
    /* now visible to its SM-DP */
    r = soap("smdp", 3, "ES3-GetEISRequest", f);
    assert_non_null(strstr(r.body, iccid));
    assert_non_null(strstr(r.body, "<rps:State>Created</rps:State>"));
    tresp_free(&r);
}

static void test_createisdp_card_error_and_expiry(void **state)
{
    outbox_mark();
    /* the card is short of memory: 8.1/4.8, the entry removed, memory unchanged */
    db_euicc e0;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, EID2, &e0, &err), SM_OK);
    int s = create_isdp(EID2, "8988299000000000201", MNO_ID, 4096);
    wake(s, ES5_CARD_ERROR, "800101 23026a84", "script stopped on 6A84");
    run_engine();
    assert_int_equal(NSUB, s + 1); /* the card said no: nothing to clean up */
    assert_true(profile_gone("8988299000000000201"));
    const char *mem[] = {"FAILED", "<rps:Subject>8.1</rps:Subject><rps:Reason>4.8</rps:Reason>",
                         "<rps:EuiccResponseData>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, mem), 1);
    /* unreachable within the validity period: Expired, 1.6/5.3 */
    s = create_isdp(EID2, "8988299000000000202", MNO_ID, 4096);
    wake(s, ES5_EXPIRED, NULL, "no answer to 3 push SMS");
    run_engine();
    assert_true(profile_gone("8988299000000000202"));
    const char *exp[] = {"EXPIRED", "<rps:Subject>1.6</rps:Subject><rps:Reason>5.3</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, exp), 1);
    /* the card refused the secured packet */
    s = create_isdp(EID2, "8988299000000000203", MNO_ID, 4096);
    wake(s, ES5_SECURITY, NULL, "PoR 01");
    run_engine();
    const char *sec[] = {"FAILED", "<rps:Subject>8.4</rps:Subject><rps:Reason>4.2</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, sec), 1);
    db_euicc e1;
    assert_int_equal(db_eis_get(C, EID2, &e1, &err), SM_OK);
    assert_int_equal(e1.remaining_memory, e0.remaining_memory);
    db_euicc_clear(&e0);
    db_euicc_clear(&e1);
    assert_true(audits("smsr.CreateISDP", "failed") >= 2);
    assert_true(audits("smsr.CreateISDP", "expired") >= 1);
}

static void test_createisdp_refused_before_the_card(void **state)
{
    outbox_mark();
    int before = NSUB;
    char f[512];
    /* ICCID in use (the pre-loaded profile) */
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>8988200000000000014</rps:Iccid><rps:Mno-id>%s</rps:Mno-id>"
             "<rps:RequiredMemory>10</rps:RequiredMemory>",
             EID2, MNO_ID);
    tresp r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    const char *inuse[] = {"FAILED", "<rps:Subject>8.2.1</rps:Subject><rps:Reason>3.3</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, inuse), 1);
    /* more memory than the eUICC has */
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000301</rps:Iccid><rps:Mno-id>%s</rps:Mno-id>"
             "<rps:RequiredMemory>99999999</rps:RequiredMemory>",
             EID2, MNO_ID);
    r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    const char *mem[] = {"FAILED", "<rps:Subject>8.1</rps:Subject><rps:Reason>4.8</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, mem), 1);
    /* unknown eUICC */
    snprintf(f, sizeof f,
             "<rps:Eid>89049032000000000000000000009999</rps:Eid><rps:Iccid>8988299000000000302</rps:Iccid>"
             "<rps:Mno-id>%s</rps:Mno-id><rps:RequiredMemory>10</rps:RequiredMemory>",
             MNO_ID);
    r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    const char *eid[] = {"FAILED", "<rps:Subject>8.1.1</rps:Subject><rps:Reason>3.9</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, eid), 1);
    run_engine();
    assert_int_equal(NSUB, before); /* nothing went to a card */
    assert_true(profile_gone("8988299000000000301"));
}

/* A step's EIS change, history, audit entry and answer commit together or not at all. */
static void test_step_is_atomic(void **state)
{
    outbox_mark();
    const char *iccid = "8988299000000000401";
    int s = create_isdp(EID2, iccid, MNO_ID, 1024);
    wake(s, ES5_OK, "8001012302 9000", NULL);
    /* the history insert of the state change fails: nothing of the step may stay */
    assert_int_equal(testpg_sql(CONNINFO, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                          "IF NEW.op_type = '0100' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; "
                                          "END $$; CREATE TRIGGER boom BEFORE INSERT ON eis_history FOR EACH ROW "
                                          "EXECUTE FUNCTION boom()"),
                     0);
    long ok0 = audits("smsr.CreateISDP", "ok");
    run_engine();
    db_profile p;
    profile(iccid, &p);
    assert_string_equal(p.state, "creating");
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, NULL), 0);
    assert_int_equal(audits("smsr.CreateISDP", "ok"), ok0);
    /* the step is retried and goes through once the fault is gone */
    assert_int_equal(testpg_sql(CONNINFO, "DROP TRIGGER boom ON eis_history; DROP FUNCTION boom(); "
                                          "UPDATE proc SET next_run_at = now() WHERE state = 'ready'"),
                     0);
    run_engine();
    profile(iccid, &p);
    assert_string_equal(p.state, "Created");
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, NULL), 1);
    assert_int_equal(audits("smsr.CreateISDP", "ok"), ok0 + 1);
    assert_int_equal(hist_op(iccid, "0100"), 1);
}

/* ---- SendData ----------------------------------------------------------------------------------------------- */

static void test_senddata(void **state)
{
    outbox_mark();
    const char *iccid = "8988299000000000501";
    int s = create_isdp(EID1, iccid, MNO_ID, 2048);
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    db_profile p;
    profile(iccid, &p);
    char aid[40];
    smsr_aid_hex(&p.isdp_aid, aid, sizeof aid);
    /* ES8 key establishment command for the ISD-P, opaque to the SM-SR */
    char f[512];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Sd-aid>%s</rps:Sd-aid><rps:Data>220880E28900033A0100</rps:Data>"
                          "<rps:MoreToDo>true</rps:MoreToDo>",
             EID1, aid);
    tresp r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    int before = NSUB;
    run_engine();
    assert_int_equal(NSUB, before + 1);
    assert_memory_equal(SUBS[before].aid, p.isdp_aid.b, 16); /* to the ISD-P, not the ISD-R */
    assert_string_equal(hexs(SUBS[before].script, SUBS[before].slen), "220880e28900033a0100");
    wake(before, ES5_OK, "8001012312851000112233445566778899aabbccddeeff9000", NULL);
    run_engine();
    const char *ok[] = {"EXECUTED_SUCCESS", "<rps:EuiccResponseData>8001012312851000112233445566778899AABBCCDDEEFF9000",
                        NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, ok), 1);
    /* an ISD-P error: 8.3/4.2 with the card's answer */
    r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    run_engine();
    wake(NSUB - 1, ES5_CARD_ERROR, "800101 23029f4501", "SCP03t error");
    run_engine();
    const char *err8[] = {"FAILED", "<rps:Subject>8.3</rps:Subject><rps:Reason>4.2</rps:Reason>",
                          "<rps:EuiccResponseData>", NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, err8), 1);
    /* an AID that is no ISD-P of this eUICC */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Sd-aid>A0000005591010FFFFFFFF8900009900</rps:Sd-aid>"
                          "<rps:Data>00</rps:Data>",
             EID1);
    r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    const char *unk[] = {"FAILED", "<rps:Subject>8.3.1</rps:Subject><rps:Reason>3.9</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, unk), 1);
    /* the pre-loaded profile's ISD-P belongs to no SM-DP: 8.3.1/3.4 */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Sd-aid>A0000005591010FFFFFFFF8900001000</rps:Sd-aid>"
                          "<rps:Data>00</rps:Data>",
             EID1);
    r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    const char *other[] = {"FAILED", "<rps:Subject>8.3.1</rps:Subject><rps:Reason>3.4</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, other), 1);
    /* an eUICC without HTTPS: its ISD-P is created by SMS, and its ES8 traffic goes to the ISD-P with the
     * channel left to es5 (which sends it by SMS to the ISD-P's TAR: tests/es5) */
    s = create_isdp(EID4, "8988299000000000502", MNO_ID, 2048);
    assert_int_equal(SUBS[s].ch, ES5_CH_SMS);
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    db_profile p4;
    profile("8988299000000000502", &p4);
    char aid4[40];
    smsr_aid_hex(&p4.isdp_aid, aid4, sizeof aid4);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Sd-aid>%s</rps:Sd-aid><rps:Data>220880E28900033A0100</rps:Data>",
             EID4, aid4);
    before = NSUB;
    outbox_mark();
    r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    run_engine();
    assert_int_equal(NSUB, before + 1);
    assert_int_equal(SUBS[before].ch, ES5_CH_AUTO);
    assert_memory_equal(SUBS[before].aid, p4.isdp_aid.b, 16);
    wake(before, ES5_OK, "8001012312851000112233445566778899aabbccddeeff9000", NULL);
    run_engine();
    const char *bysms[] = {"EXECUTED_SUCCESS", "<rps:EuiccResponseData>8001012312851000112233445566778899AABBCCDDEEFF9000",
                           NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, bysms), 1);
    /* ES5 refuses the script for good (too long for the only bearer): answered at once, not retried */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Sd-aid>%s</rps:Sd-aid><rps:Data>220880E28900033A0100</rps:Data>",
             EID1, aid);
    r = soap("smdp", 3, "ES3-SendDataRequest", f);
    expect(&r, 202, NULL);
    FAKE_LIMIT = 1;
    run_engine();
    const char *big[] = {"FAILED", "<rps:Subject>1.6</rps:Subject><rps:Reason>3.2</rps:Reason>", "30 SMS", NULL};
    assert_int_equal(outbox("ES3.SendDataResponse", SMDP_ID, big), 1);
}

/* ---- ProfileDownloadCompleted and EnableProfile ------------------------------------------------------------- */

static void test_download_completed_then_enable(void **state)
{
    const char *iccid = "8988299000000000601";
    install(EID0, iccid, MNO_ID, "<rps:Rule><rps:Subject>PROFILE</rps:Subject><rps:Action>DELETE</rps:Action>"
                                 "<rps:Qualification>Not-Allowed</rps:Qualification></rps:Rule>");
    db_profile p;
    profile(iccid, &p);
    assert_string_equal(p.profile_type, "test-type");
    assert_string_equal(p.msisdn, "447900555000");
    assert_int_equal(p.pol2, DB_POL2_DELETE_NOT_ALLOWED);
    char old[21];
    enabled_iccid(EID0, old);
    assert_string_equal(old, "8988200000000000014");
    sm_err err = {0};
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID0, SP_ID, &err), SM_OK);
    outbox_mark();
    /* the download asks for enabling: ES3.EnableProfile by the SM-DP */
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid>", EID0, iccid);
    tresp r = soap("smdp", 3, "ES3-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    /* STORE DATA 80 E2 88 00 {3A03 {4F AID}} to the ISD-R */
    char want[80];
    snprintf(want, sizeof want, "80e28800153a03124f10%.32s", hexs(p.isdp_aid.b, 16));
    assert_non_null(strstr(hexs(SUBS[s].script, SUBS[s].slen), want));
    assert_string_equal(SUBS[s].label, "Enable");
    assert_int_equal(SUBS[s].ch, ES5_CH_AUTO); /* smsr.platform_channel auto: es5 decides per eUICC */
    /* the card accepted the command: the switch waits for the eUICC's notification */
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    char st[16], step[64];
    proc_state(SUBS[s].proc, st, step);
    assert_string_equal(st, "waiting");
    assert_string_equal(step, "notified");
    char now[21];
    assert_string_equal(enabled_iccid(EID0, now), old); /* nothing changes before the card says so */
    assert_int_equal(outbox("ES3.EnableProfileResponse", NULL, NULL), 0);
    /* the notification: EIS and history in one transaction, parties told, the response sent */
    notify(EID0, 0x02, &p.isdp_aid);
    assert_string_equal(enabled_iccid(EID0, now), iccid);
    db_profile po;
    profile(old, &po);
    assert_string_equal(po.state, "Disabled");
    assert_int_equal(hist_op(iccid, "0200"), 1);
    assert_int_equal(hist_op(old, "0200"), 1);
    run_engine();
    proc_state(SUBS[s].proc, st, step);
    assert_string_equal(st, "done");
    const char *ok[] = {"EXECUTED_SUCCESS", "PlatformManagementCallBack/ES3-EnableProfile", NULL};
    assert_int_equal(outbox("ES3.EnableProfileResponse", SMDP_ID, ok), 1);
    /* the MNO of the enabled profile on ES4; not its SM-DP, which asked; the eUICC owner of both changes */
    const char *en[] = {iccid, "<rps:CompletionTimestamp>", NULL};
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", MNO_ID, en), 1);
    assert_int_equal(outbox("ES3.HandleProfileEnabledNotification", SMDP_ID, NULL), 0);
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", SP_ID, en), 1);
    const char *dis[] = {old, NULL};
    assert_int_equal(outbox("ES4.HandleProfileDisabledNotification", SP_ID, dis), 1);
    /* the previous profile's MNO (2.999.40.1) has no ES endpoint here: skipped, nothing queued for it */
    assert_int_equal(outbox("ES4.HandleProfileDisabledNotification", "2.999.40.1", NULL), 0);
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID0, NULL, &err), SM_OK);
    /* a repeated notification changes nothing and tells nobody again */
    outbox_mark();
    notify(EID0, 0x02, &p.isdp_aid);
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", NULL, NULL), 0);
}

static void test_enable_notification_before_result_and_refusals(void **state)
{
    /* EID0 runs 8988299000000000601 now; the pre-loaded 8988200000000000014 is Disabled (MNO 2.999.40.1) */
    const char *iccid = "8988299000000000602";
    install(EID0, iccid, MNO_ID, NULL);
    db_profile p;
    profile(iccid, &p);
    outbox_mark();
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid>", EID0, iccid);
    tresp r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    /* the notification overtakes the PoR */
    notify(EID0, 0x02, &p.isdp_aid);
    char now[21];
    assert_string_equal(enabled_iccid(EID0, now), iccid);
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    const char *ok[] = {"EXECUTED_SUCCESS", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, ok), 1);
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", MNO_ID, NULL), 0); /* it asked */
    const char *ds[] = {"8988299000000000601", "<rps:Mno-id>" MNO_ID "</rps:Mno-id>", NULL};
    assert_int_equal(outbox("ES3.HandleProfileDisabledNotification", SMDP_ID, ds), 1);
    /* POL1 of the enabled profile refuses: 8.2.2/3.8, the EIS untouched */
    outbox_mark();
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000601</rps:Iccid>", EID0);
    r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    s = NSUB;
    run_engine();
    wake(s, ES5_CARD_ERROR, "800101 230269e1", "stopped on 69E1");
    run_engine();
    const char *pol1[] = {"FAILED", "<rps:Subject>8.2.2</rps:Subject><rps:Reason>3.8</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, pol1), 1);
    assert_string_equal(enabled_iccid(EID0, now), iccid);
    /* the card rolls back (notification 03): Failed, EIS unchanged */
    outbox_mark();
    r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    s = NSUB;
    run_engine();
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    notify(EID0, 0x03, &p.isdp_aid);
    run_engine();
    const char *rb[] = {"FAILED", "<rps:Subject>8.4</rps:Subject><rps:Reason>4.2</rps:Reason>", "rolled back", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, rb), 1);
    assert_string_equal(enabled_iccid(EID0, now), iccid);
    /* checks before anything is sent: not the caller's profile, already enabled, unknown */
    outbox_mark();
    int before = NSUB;
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988200000000000014</rps:Iccid>", EID0);
    r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    const char *notmine[] = {"<rps:Subject>8.2.1</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, notmine), 1);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid>", EID0, iccid);
    r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    const char *enabled[] = {"<rps:Subject>8.2.1</rps:Subject><rps:Reason>3.8</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, enabled), 1);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000009999</rps:Iccid>", EID0);
    r = soap("mno", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    const char *unknown[] = {"<rps:Subject>8.2.1</rps:Subject><rps:Reason>3.9</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", MNO_ID, unknown), 1);
    /* an M2M SP without PLMA */
    r = soap("m2msp", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    run_engine();
    assert_int_equal(NSUB, before);
}

/* ---- DeleteProfile, POL2, notifications without a pending operation ----------------------------------------- */

static void test_delete_pol2_and_fallback_notification(void **state)
{
    /* EID0: 8988299000000000602 Enabled (MNO_ID), ...601 Disabled with POL2 DELETE Not-Allowed, ...014 Disabled */
    outbox_mark();
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000601</rps:Iccid>", EID0);
    int before = NSUB;
    tresp r = soap("mno", 4, "ES4-DeleteProfileRequest", f);
    expect(&r, 202, NULL);
    const char *pol2[] = {"FAILED", "<rps:Subject>8.2.3</rps:Subject><rps:Reason>3.8</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.DeleteProfileResponse", MNO_ID, pol2), 1);
    /* the MNO lifts the rule (UpdatePolicyRules, synchronous) and deletes */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000601</rps:Iccid><rps:pol2/>", EID0);
    r = soap("mno", 4, "ES4-UpdatePolicyRulesRequest", f);
    const char *ok[] = {"EXECUTED_SUCCESS", NULL};
    expect(&r, 200, ok);
    db_euicc e0;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, EID0, &e0, &err), SM_OK);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000601</rps:Iccid>", EID0);
    r = soap("mno", 4, "ES4-DeleteProfileRequest", f);
    expect(&r, 202, NULL);
    run_engine();
    assert_int_equal(NSUB, before + 1);
    assert_non_null(strstr(hexs(SUBS[before].script, SUBS[before].slen), "80e40040124f10"));
    wake(before, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    assert_true(profile_gone("8988299000000000601"));
    assert_int_equal(hist_op("8988299000000000601", "0400"), 1);
    db_euicc e1;
    assert_int_equal(db_eis_get(C, EID0, &e1, &err), SM_OK);
    assert_int_equal(e1.remaining_memory, e0.remaining_memory + 4096);
    db_euicc_clear(&e0);
    db_euicc_clear(&e1);
    const char *done[] = {"EXECUTED_SUCCESS", NULL};
    assert_int_equal(outbox("ES4.DeleteProfileResponse", MNO_ID, done), 1);
    const char *dn[] = {"8988299000000000601", NULL};
    assert_int_equal(outbox("ES3.HandleProfileDeletedNotification", SMDP_ID, dn), 1);
    assert_int_equal(outbox("ES4.HandleProfileDeletedNotification", MNO_ID, NULL), 0);
    /* fall-back activation (notification 05, no operation pending): the pre-loaded fall-back profile runs */
    outbox_mark();
    db_profile fb;
    profile("8988200000000000014", &fb);
    notify(EID0, 0x05, &fb.isdp_aid);
    char now[21];
    assert_string_equal(enabled_iccid(EID0, now), "8988200000000000014");
    const char *dis[] = {"8988299000000000602", NULL};
    assert_int_equal(outbox("ES4.HandleProfileDisabledNotification", MNO_ID, dis), 1);
    assert_int_equal(outbox("ES3.HandleProfileDisabledNotification", SMDP_ID, dis), 1);
    /* the first attach changes nothing (es5 records every notification in the history) */
    outbox_mark();
    db_eis_change *h = NULL;
    size_t nh = 0;
    assert_int_equal(db_eis_history(C, EID1, 1, &h, &nh, &err), SM_OK);
    int64_t last = nh ? h[0].id : 0;
    free(h);
    notify(EID1, 0x01, NULL);
    assert_int_equal(db_eis_history(C, EID1, 1, &h, &nh, &err), SM_OK);
    assert_int_equal(nh ? h[0].id : 0, last);
    free(h);
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", NULL, NULL), 0);
}

/* POL2 (DISABLE, Auto-Delete): once the switch away from the profile is confirmed, the SM-SR deletes it. */
static void test_pol2_auto_delete(void **state)
{
    /* EID1 gets a profile with the rule, enabled, then the pre-loaded profile is enabled again */
    const char *iccid = "8988299000000000701";
    install(EID1, iccid, MNO_ID, "<rps:Rule><rps:Subject>PROFILE</rps:Subject><rps:Action>DISABLE</rps:Action>"
                                 "<rps:Qualification>Auto-Delete</rps:Qualification></rps:Rule>");
    db_profile p, pre;
    profile(iccid, &p);
    profile("8988200000000000022", &pre);
    notify(EID1, 0x02, &p.isdp_aid); /* enabled (no request: local, or by another party) */
    run_engine();
    int before = NSUB;
    outbox_mark();
    notify(EID1, 0x02, &pre.isdp_aid);
    run_engine();
    assert_int_equal(NSUB, before + 1);
    assert_string_equal(SUBS[before].label, "Delete");
    assert_non_null(strstr(hexs(SUBS[before].script, SUBS[before].slen), "80e40040124f10"));
    wake(before, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    assert_true(profile_gone(iccid));
    const char *dn[] = {iccid, NULL};
    assert_int_equal(outbox("ES4.HandleProfileDeletedNotification", MNO_ID, dn), 1);
    assert_int_equal(outbox("ES3.HandleProfileDeletedNotification", SMDP_ID, dn), 1);
}

static void test_disable_profile(void **state)
{
    /* EID1: the pre-loaded 8988200000000000022 (fall-back) runs; a profile of MNO_ID is enabled first */
    const char *iccid = "8988299000000000702";
    install(EID1, iccid, MNO_ID, NULL);
    db_profile p, fb;
    profile(iccid, &p);
    profile("8988200000000000022", &fb);
    notify(EID1, 0x02, &p.isdp_aid);
    char now[21];
    assert_string_equal(enabled_iccid(EID1, now), iccid);
    outbox_mark();
    /* the fall-back profile itself cannot be disabled */
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid>", EID1, iccid);
    tresp r = soap("mno", 4, "ES4-DisableProfileRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    char want[80];
    snprintf(want, sizeof want, "80e28800153a04124f10%.32s", hexs(p.isdp_aid.b, 16));
    assert_non_null(strstr(hexs(SUBS[s].script, SUBS[s].slen), want));
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    /* the card enabled its fall-back profile and says so */
    notify(EID1, 0x02, &fb.isdp_aid);
    assert_string_equal(enabled_iccid(EID1, now), "8988200000000000022");
    profile(iccid, &p);
    assert_string_equal(p.state, "Disabled");
    assert_int_equal(hist_op(iccid, "0300"), 1);
    run_engine();
    const char *ok[] = {"EXECUTED_SUCCESS", "ES4-DisableProfileResponse", NULL};
    assert_int_equal(outbox("ES4.DisableProfileResponse", MNO_ID, ok), 1);
    assert_int_equal(outbox("ES4.HandleProfileDisabledNotification", MNO_ID, NULL), 0); /* it asked */
    const char *dn[] = {iccid, NULL};
    assert_int_equal(outbox("ES3.HandleProfileDisabledNotification", SMDP_ID, dn), 1);
    /* disabling the fall-back profile is refused before anything is sent */
    outbox_mark();
    int before = NSUB;
    sm_err err = {0};
    assert_int_equal(db_profile_set_fallback(C, "test", iccid, &err), SM_OK);
    assert_int_equal(testpg_sql(CONNINFO, "UPDATE profile SET state = 'Disabled' WHERE iccid = '8988200000000000022'; "
                                          "UPDATE profile SET state = 'Enabled' WHERE iccid = '8988299000000000702'"),
                     0);
    r = soap("mno", 4, "ES4-DisableProfileRequest", f);
    expect(&r, 202, NULL);
    const char *fbk[] = {"FAILED", "<rps:Subject>8.1</rps:Subject><rps:Reason>3.8</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.DisableProfileResponse", MNO_ID, fbk), 1);
    run_engine();
    assert_int_equal(NSUB, before);
    /* back as it was for the next tests */
    assert_int_equal(testpg_sql(CONNINFO, "UPDATE profile SET state = 'Disabled' WHERE iccid = '8988299000000000702'; "
                                          "UPDATE profile SET state = 'Enabled' WHERE iccid = '8988200000000000022'"),
                     0);
    assert_int_equal(db_profile_set_fallback(C, "test", "8988200000000000022", &err), SM_OK);
}

static void test_policy_rules_and_subscription_address(void **state)
{
    const char *iccid = "8988299000000000702"; /* EID1, Disabled, MNO_ID, installed by the test SM-DP */
    char f[768];
    /* a rule smbox cannot enforce: 8.2.3/2.1, nothing changed */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:pol2><rps:Rule><rps:Subject>PROFILE"
                          "</rps:Subject><rps:Action>ENABLE</rps:Action><rps:Qualification>Auto-Delete"
                          "</rps:Qualification></rps:Rule></rps:pol2>",
             EID1, iccid);
    tresp r = soap("smdp", 3, "ES3-UpdatePolicyRulesRequest", f);
    const char *bad[] = {"FAILED", "<rps:Subject>8.2.3</rps:Subject><rps:Reason>2.1</rps:Reason>", NULL};
    expect(&r, 200, bad);
    db_profile p;
    profile(iccid, &p);
    assert_int_equal(p.pol2, 0);
    /* the SM-DP sets a rule on its profile; the MNO changes the subscription address on ES4 */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:pol2><rps:Rule><rps:Subject>PROFILE"
                          "</rps:Subject><rps:Action>DISABLE</rps:Action><rps:Qualification>Not-Allowed"
                          "</rps:Qualification></rps:Rule></rps:pol2>",
             EID1, iccid);
    r = soap("smdp", 3, "ES3-UpdatePolicyRulesRequest", f);
    const char *ok[] = {"EXECUTED_SUCCESS", NULL};
    expect(&r, 200, ok);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:newSubscriptionAddress><rps:Imsi>"
                          "001019999999998</rps:Imsi><rps:Msisdn>447900555999</rps:Msisdn></rps:newSubscriptionAddress>",
             EID1, iccid);
    r = soap("mno", 4, "ES4-UpdateSubscriptionAddressRequest", f);
    expect(&r, 200, ok);
    profile(iccid, &p);
    assert_int_equal(p.pol2, DB_POL2_DISABLE_NOT_ALLOWED);
    assert_string_equal(p.msisdn, "447900555999");
    /* the MNO sees its rule in its EIS; an M2M SP may not touch the address */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid>", EID1);
    r = soap("mno", 4, "ES4-GetEISRequest", f);
    assert_non_null(strstr(r.body, "<rps:Action>DISABLE</rps:Action><rps:Qualification>Not-Allowed"));
    assert_non_null(strstr(r.body, "<rps:Msisdn>447900555999</rps:Msisdn>"));
    tresp_free(&r);
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:newSubscriptionAddress><rps:Msisdn>"
                          "447900000000</rps:Msisdn></rps:newSubscriptionAddress>",
             EID1, iccid);
    r = soap("m2msp", 4, "ES4-UpdateSubscriptionAddressRequest", f);
    const char *sp[] = {"<rps:Subject>8.2.6</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    expect(&r, 200, sp);
    /* back to no rule for the tests that follow */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:pol2/>", EID1, iccid);
    r = soap("mno", 4, "ES4-UpdatePolicyRulesRequest", f);
    expect(&r, 200, ok);
}

/* The eUICC owner (an M2M SP) operates the profiles of its eUICC; their MNO is told. */
static void test_owner_operates_profiles(void **state)
{
    const char *iccid = "8988299000000000702"; /* EID1, Disabled, MNO_ID */
    sm_err err = {0};
    outbox_mark();
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid>", EID1, iccid);
    tresp r = soap("m2msp", 4, "ES4-EnableProfileRequest", f); /* not the owner yet */
    expect(&r, 202, NULL);
    const char *no[] = {"FAILED", "<rps:Subject>8.2.1</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", SP_ID, no), 1);
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID1, SP_ID, &err), SM_OK);
    outbox_mark();
    r = soap("m2msp", 4, "ES4-EnableProfileRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    wake(s, ES5_OK, "8001012302 9000", NULL);
    run_engine();
    db_profile p;
    profile(iccid, &p);
    notify(EID1, 0x02, &p.isdp_aid);
    run_engine();
    const char *ok[] = {"EXECUTED_SUCCESS", NULL};
    assert_int_equal(outbox("ES4.EnableProfileResponse", SP_ID, ok), 1);
    const char *en[] = {iccid, NULL};
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", MNO_ID, en), 1); /* its MNO learns it */
    assert_int_equal(outbox("ES3.HandleProfileEnabledNotification", SMDP_ID, en), 1);
    assert_int_equal(outbox("ES4.HandleProfileEnabledNotification", SP_ID, NULL), 0); /* it asked */
    const char *dis[] = {"8988200000000000022", NULL};
    assert_int_equal(outbox("ES4.HandleProfileDisabledNotification", SP_ID, dis), 1);
    /* but it may not change the subscription address, nor POL2 (the ES layer: MNO only) */
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>%s</rps:Iccid><rps:pol2/>", EID1, iccid);
    r = soap("m2msp", 4, "ES4-UpdatePolicyRulesRequest", f);
    const char *denied[] = {"<rps:Subject>1.1</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    expect(&r, 200, denied);
    /* back as it was: the fall-back profile runs again */
    db_profile fb;
    profile("8988200000000000022", &fb);
    notify(EID1, 0x05, &fb.isdp_aid);
    assert_int_equal(smsr_euicc_set_owner(C, "test", EID1, NULL, &err), SM_OK);
}

/* ---- AuditEIS ----------------------------------------------------------------------------------------------- */

static void test_audit_eis(void **state)
{
    /* EID2 holds the pre-loaded profile (Enabled) and 8988299000000000401 (Created, MNO_ID) */
    db_profile pre, mine;
    profile("8988200000000000030", &pre);
    profile("8988299000000000401", &mine);
    outbox_mark();
    char f[256];
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid><rps:Iccid>8988200000000000030</rps:Iccid>", EID2);
    tresp r = soap("mno", 4, "ES4-AuditEISRequest", f);
    expect(&r, 202, NULL);
    const char *notmine[] = {"<rps:Subject>8.2</rps:Subject><rps:Reason>1.2</rps:Reason>", NULL};
    assert_int_equal(outbox("ES4.AuditEISResponse", MNO_ID, notmine), 1);
    outbox_mark();
    snprintf(f, sizeof f, "<rps:Eid>%s</rps:Eid>", EID2);
    r = soap("mno", 4, "ES4-AuditEISRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    const char *sc = hexs(SUBS[s].script, SUBS[s].slen);
    assert_non_null(strstr(sc, "80f24002024f00"));
    assert_non_null(strstr(sc, "80caff2100"));
    /* the card: the pre-loaded profile disabled, ours enabled and holding the fall-back attribute */
    char resp[600], a1[33], a2[33];
    snprintf(a1, sizeof a1, "%.32s", hexs(pre.isdp_aid.b, 16));
    snprintf(a2, sizeof a2, "%.32s", hexs(mine.isdp_aid.b, 16));
    snprintf(resp, sizeof resp,
             "800102 2350 E3254F10%s9F70011F530100 8F0400008000 910400000000"
             " E3254F10%s9F70013F530101 8F0400001000 910400000800 9000"
             " 2314 FF210F 810102 820400065000 830400002000 9000",
             a1, a2);
    char *w = resp;
    for (char *q = resp; *q; q++)
        if (*q != ' ')
            *w++ = *q;
    *w = 0;
    wake(s, ES5_OK, resp, NULL);
    run_engine();
    char now[21];
    assert_string_equal(enabled_iccid(EID2, now), "8988299000000000401");
    profile("8988299000000000401", &mine);
    assert_true(mine.fallback);
    db_euicc e;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, EID2, &e, &err), SM_OK);
    assert_int_equal(e.remaining_memory, 0x65000);
    assert_true(e.last_audit[0]);
    db_euicc_clear(&e);
    assert_int_equal(hist_op("8988299000000000401", "0500"), 1);
    const char *ok[] = {"EXECUTED_SUCCESS", "<rps:Eis>", "8988299000000000401", "<rps:State>Enabled</rps:State>", NULL};
    assert_int_equal(outbox("ES4.AuditEISResponse", MNO_ID, ok), 1);
    const char *notpre[] = {"8988200000000000030", NULL};
    assert_int_equal(outbox("ES4.AuditEISResponse", MNO_ID, notpre), 0); /* filtered: not the MNO's */
}

/* ---- expiry of a waiting procedure --------------------------------------------------------------------------- */

static void test_validity_expiry(void **state)
{
    outbox_mark();
    char f[512];
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000801</rps:Iccid><rps:Mno-id>%s</rps:Mno-id>"
             "<rps:RequiredMemory>10</rps:RequiredMemory>",
             EID1, MNO_ID);
    tresp r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    int s = NSUB;
    run_engine();
    assert_int_equal(NSUB, s + 1);
    /* no answer from ES5 until the deadline */
    int nc = NCANCEL;
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE proc SET deadline = now() - interval '1 second', next_run_at = now() WHERE id = %lld",
             (long long)SUBS[s].proc);
    assert_int_equal(testpg_sql(CONNINFO, sql), 0);
    run_engine();
    assert_int_equal(NCANCEL, nc + 1);
    assert_true(profile_gone("8988299000000000801"));
    const char *exp[] = {"EXPIRED", "<rps:Subject>1.6</rps:Subject><rps:Reason>5.3</rps:Reason>", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, exp), 1);
    char st[16], step[64];
    proc_state(SUBS[s].proc, st, step);
    assert_string_equal(st, "expired");
}

/* A CreateISDP whose INSTALL reached the card but whose answer never came (PoR lost and the
 * retransmission refused as a replay, a session cut, the deadline passed with the packet out): the
 * SM-DP is told it failed, and a cleanup procedure deletes the AID on the card (6A88 = it was never
 * made), answering nobody. A result that never left, or a definite refusal, starts none. */
static void test_createisdp_unknown_outcome_cleaned_up(void **state)
{
    outbox_mark();
    long cl0 = audits("smsr.Cleanup", "ok");
    int s = create_isdp(EID2, "8988299000000000204", MNO_ID, 4096);
    db_profile p;
    profile("8988299000000000204", &p);
    char aid[40];
    smsr_aid_hex(&p.isdp_aid, aid, sizeof aid);
    wake_ran(s, ES5_CARD_ERROR, NULL, "the card refused a retransmission as a replay (outcome unknown)", true);
    run_engine();
    assert_true(profile_gone("8988299000000000204"));
    const char *failed[] = {"FAILED", NULL};
    assert_int_equal(outbox("ES3.CreateISDPResponse", SMDP_ID, failed), 1);
    assert_int_equal(NSUB, s + 2);
    int c = s + 1;
    assert_string_equal(SUBS[c].label, "Cleanup");
    db_euicc e;
    sm_err err = {0};
    assert_int_equal(db_eis_get(C, EID2, &e, &err), SM_OK);
    assert_memory_equal(SUBS[c].aid, e.isdr_aid.b, e.isdr_aid.len); /* to the ISD-R */
    db_euicc_clear(&e);
    const char *sc = hexs(SUBS[c].script, SUBS[c].slen);
    assert_non_null(strstr(sc, "80e40040"));
    for (char *q = aid; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'F' ? *q + 32 : *q);
    assert_non_null(strstr(sc, aid));
    /* the SM-DP's retry while the cleanup runs: its CreateISDP waits (it would get the same AID) */
    char f[512];
    snprintf(f, sizeof f,
             "<rps:Eid>%s</rps:Eid><rps:Iccid>8988299000000000204</rps:Iccid><rps:Mno-id>%s</rps:Mno-id>"
             "<rps:RequiredMemory>4096</rps:RequiredMemory><rps:MoreToDo>true</rps:MoreToDo>",
             EID2, MNO_ID);
    tresp r = soap("smdp", 3, "ES3-CreateISDPRequest", f);
    expect(&r, 202, NULL);
    run_engine();
    assert_int_equal(NSUB, c + 1);
    /* the card never made it: 6A88, done, nobody answered */
    outbox_mark();
    wake(c, ES5_CARD_ERROR, "800101 23026a88", "6A88");
    run_engine();
    assert_int_equal(outbox("ES3.DeleteISDPResponse", NULL, NULL) + outbox("ES3.CreateISDPResponse", NULL, NULL), 0);
    assert_int_equal(audits("smsr.Cleanup", "ok"), cl0 + 1);
    /* then the retry goes, with that AID */
    for (int i = 0; i < 100 && NSUB == c + 1; i++) {
        usleep(50000);
        run_engine();
    }
    assert_int_equal(NSUB, c + 2);
    assert_string_equal(SUBS[c + 1].label, "CreateISDP");
    assert_non_null(strstr(hexs(SUBS[c + 1].script, SUBS[c + 1].slen), aid));
    wake(c + 1, ES5_OK, "800101230290 00", NULL);
    run_engine();
    assert_false(profile_gone("8988299000000000204"));
    char st[16], step[64];
    proc_state(SUBS[c].proc, st, step);
    assert_string_equal(st, "done");
    /* an error whose script never reached the card: no cleanup */
    s = create_isdp(EID2, "8988299000000000205", MNO_ID, 4096);
    outbox_mark();
    wake_ran(s, ES5_EXPIRED, NULL, "not sent before the deadline", false);
    run_engine();
    assert_int_equal(NSUB, s + 1);
    assert_true(profile_gone("8988299000000000205"));
    /* expired with the packet out and no answer: cleanup */
    s = create_isdp(EID2, "8988299000000000206", MNO_ID, 4096);
    wake_ran(s, ES5_EXPIRED, NULL, "no proof of receipt before the deadline", true);
    run_engine();
    assert_int_equal(NSUB, s + 2);
    assert_string_equal(SUBS[s + 1].label, "Cleanup");
    wake(s + 1, ES5_OK, "800101 23029000", NULL);
    run_engine();
    assert_int_equal(audits("smsr.Cleanup", "ok"), cl0 + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geteis_filtered_per_caller),
        cmocka_unit_test(test_wrong_caller_refused_per_interface),
        cmocka_unit_test(test_createisdp_ok),
        cmocka_unit_test(test_createisdp_card_error_and_expiry),
        cmocka_unit_test(test_createisdp_refused_before_the_card),
        cmocka_unit_test(test_step_is_atomic),
        cmocka_unit_test(test_senddata),
        cmocka_unit_test(test_download_completed_then_enable),
        cmocka_unit_test(test_enable_notification_before_result_and_refusals),
        cmocka_unit_test(test_delete_pol2_and_fallback_notification),
        cmocka_unit_test(test_pol2_auto_delete),
        cmocka_unit_test(test_disable_profile),
        cmocka_unit_test(test_policy_rules_and_subscription_address),
        cmocka_unit_test(test_owner_operates_profiles),
        cmocka_unit_test(test_audit_eis),
        cmocka_unit_test(test_validity_expiry),
        cmocka_unit_test(test_createisdp_unknown_outcome_cleaned_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
