/* db/eis_repo and db/profile_repo against a real PostgreSQL: EIS registration and GetEIS round trip,
 * profile life cycle (one Enabled, one fall-back per eUICC), history and audit of every change, key
 * sets stored only HSM-wrapped (and usable after unwrapping), strictly increasing SCP80 counters under
 * concurrency, and the SM-DP stock (encrypted profiles, concurrent reservations), orders and MNO keys. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/eis_repo.h"
#include "db/profile_repo.h"
#include "tests/support/testenv.h"
#include "tests/support/testpg.h"

static testpg PG;
static char CI[600];
static db_pool *POOL;

#define EID1 "89049032000000000000000000000001"
#define EID2 "89049032000000000000000000000002"

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "repo", CI, sizeof CI) != 0)
        return -1;
    POOL = testpg_pool(CI, 8);
    return 0;
}

static int teardown(void **state)
{
    db_pool_close(POOL);
    testpg_stop(&PG);
    return 0;
}

static long scalar(db_conn *c, const char *sql_text)
{
    db_stmt st = {sql_text, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static void aid(db_aid *a, const char *hex) { a->len = testenv_unhex(hex, a->b, sizeof a->b); }

static void euicc(db_euicc *e, const char *eid)
{
    memset(e, 0, sizeof *e);
    snprintf(e->eid, sizeof e->eid, "%s", eid);
    snprintf(e->eum_id, sizeof e->eum_id, "1.3.6.1.4.1.31746");
    snprintf(e->production_date, sizeof e->production_date, "2024-05-01T10:00:00Z");
    snprintf(e->platform_type, sizeof e->platform_type, "M2M-OS");
    snprintf(e->platform_version, sizeof e->platform_version, "1.2.3");
    snprintf(e->rsp_version, sizeof e->rsp_version, "3.1.0");
    aid(&e->isdp_loadfile_aid, "A0000005591010FFFFFFFF8900000D00");
    aid(&e->isdp_module_aid, "A0000005591010FFFFFFFF8900000E00");
    aid(&e->ecasd_aid, "A0000005591010FFFFFFFF8900000200");
    static uint8_t cert[] = {0x7f, 0x21, 0x03, 0x01, 0x02, 0x03};
    e->ecasd_cert = cert;
    e->ecasd_cert_len = sizeof cert;
    e->caps = DB_CAP_HTTPS;
    snprintf(e->http_version, sizeof e->http_version, "1.1.0");
    snprintf(e->secure_packet_version, sizeof e->secure_packet_version, "9.2.0");
    e->remaining_memory = 500000;
    e->available_memory = 800000;
    snprintf(e->smsr_id, sizeof e->smsr_id, "1.3.6.1.4.1.99999.1.2");
    aid(&e->isdr_aid, "A0000005591010FFFFFFFF8900000100");
    aid(&e->isdr_tar, "000001");
    static uint8_t signed_xml[] = "<EumSignedInfo>...</EumSignedInfo><Signature/>";
    e->eum_signed = signed_xml;
    e->eum_signed_len = sizeof signed_xml - 1;
}

static void profile(db_profile *p, const char *eid, const char *iccid, const char *aidhex, const char *state)
{
    memset(p, 0, sizeof *p);
    snprintf(p->eid, sizeof p->eid, "%s", eid);
    snprintf(p->iccid, sizeof p->iccid, "%s", iccid);
    aid(&p->isdp_aid, aidhex);
    snprintf(p->mno_id, sizeof p->mno_id, "1.3.6.1.4.1.100");
    snprintf(p->state, sizeof p->state, "%s", state);
    p->free_memory = -1;
}

static void test_eis_register_and_get(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_euicc e;
    euicc(&e, "89049032000000000000000000000001");
    db_profile pre[2];
    profile(&pre[0], EID1, "8901000000000000001", "A0000005591010FFFFFFFF8900001000", "Enabled");
    pre[0].fallback = true;
    snprintf(pre[0].msisdn, sizeof pre[0].msisdn, "491700000001");
    profile(&pre[1], EID1, "8901000000000000002", "A0000005591010FFFFFFFF8900001100", "Disabled");
    assert_int_equal(db_eis_register(c, "eum:1.3.6.1.4.1.31746", &e, pre, 2, &err), SM_OK);
    assert_int_equal(db_eis_register(c, "eum:1.3.6.1.4.1.31746", &e, NULL, 0, &err), SM_EEXIST);
    sm_err_clear(&err);

    db_euicc g;
    /* lower-case EIDs are the same eUICC */
    assert_int_equal(db_eis_get(c, "89049032000000000000000000000001", &g, &err), SM_OK);
    assert_string_equal(g.eid, EID1);
    assert_string_equal(g.eum_id, e.eum_id);
    assert_string_equal(g.production_date, "2024-05-01T10:00:00Z");
    assert_string_equal(g.platform_version, "1.2.3");
    assert_int_equal(g.isdr_aid.len, 16);
    assert_memory_equal(g.isdr_aid.b, e.isdr_aid.b, 16);
    assert_int_equal(g.isdr_tar.len, 3);
    assert_int_equal(g.isdr_sin.len, 0);
    assert_int_equal(g.ecasd_cert_len, e.ecasd_cert_len);
    assert_memory_equal(g.ecasd_cert, e.ecasd_cert, e.ecasd_cert_len);
    assert_int_equal(g.eum_signed_len, e.eum_signed_len);
    assert_int_equal(g.caps, DB_CAP_HTTPS);
    assert_int_equal(g.remaining_memory, 500000);
    assert_string_equal(g.state, "active");
    assert_int_equal(g.notif_seq, -1);
    assert_string_equal(g.last_audit, "");
    db_euicc_clear(&g);
    assert_int_equal(db_eis_get(c, EID2, &g, &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    assert_int_equal(db_eis_get(c, "8904'; DROP TABLE euicc; --", &g, &err), SM_EINVAL);
    sm_err_clear(&err);

    db_profile *v = NULL;
    size_t n = 0;
    assert_int_equal(db_eis_profiles(c, EID1, false, &v, &n, &err), SM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].iccid, "8901000000000000001");
    assert_true(v[0].fallback);
    assert_string_equal(v[0].msisdn, "491700000001");
    assert_int_equal(v[0].free_memory, -1);
    free(v);

    /* memory, audit date, state, notifications */
    assert_int_equal(db_eis_set_memory(c, "node", EID1, 420000, true, &err), SM_OK);
    assert_int_equal(db_eis_get(c, EID1, &g, &err), SM_OK);
    assert_int_equal(g.remaining_memory, 420000);
    assert_string_not_equal(g.last_audit, "");
    db_euicc_clear(&g);
    assert_int_equal(db_eis_set_state(c, "mno:1", EID1, "changing", "handed-over", &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(db_eis_set_state(c, "mno:1", EID1, "active", "change-prepared", &err), SM_OK);
    assert_int_equal(db_eis_set_state(c, "mno:1", EID1, NULL, "active", &err), SM_OK);
    bool dup = true;
    assert_int_equal(db_eis_note_notification(c, EID1, 7, &dup, &err), SM_OK);
    assert_false(dup);
    assert_int_equal(db_eis_note_notification(c, EID1, 7, &dup, &err), SM_OK);
    assert_true(dup);
    assert_int_equal(db_eis_note_notification(c, EID1, 8, &dup, &err), SM_OK);
    assert_false(dup);
    db_pool_give(c);
}

static void test_profile_life_cycle(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_euicc e;
    euicc(&e, EID2);
    db_profile p0;
    profile(&p0, EID2, "8902000000000000001", "A0000005591010FFFFFFFF8900001000", "Enabled");
    p0.fallback = true;
    assert_int_equal(db_eis_register(c, "eum:x", &e, &p0, 1, &err), SM_OK);

    /* CreateISDP: hidden while being created */
    db_profile p;
    profile(&p, EID2, "8902000000000000002", "A0000005591010FFFFFFFF8900001100", "creating");
    snprintf(p.smdp_id, sizeof p.smdp_id, "1.3.6.1.4.1.99999.1.1");
    p.allocated_memory = 40000;
    assert_int_equal(db_profile_add(c, "smdp:1.3.6.1.4.1.99999.1.1", &p, &err), SM_OK);
    assert_int_equal(db_profile_add(c, "smdp:1.3.6.1.4.1.99999.1.1", &p, &err), SM_EEXIST);
    sm_err_clear(&err);
    db_profile *v = NULL;
    size_t n = 0;
    assert_int_equal(db_eis_profiles(c, EID2, false, &v, &n, &err), SM_OK);
    assert_int_equal(n, 1);
    free(v);
    assert_int_equal(db_eis_profiles(c, EID2, true, &v, &n, &err), SM_OK);
    assert_int_equal(n, 2);
    free(v);
    assert_int_equal(db_profile_set_state(c, "smsr", p.iccid, "creating", "Created", "0100", &err), SM_OK);
    assert_int_equal(db_profile_set_state(c, "smsr", p.iccid, "creating", "Created", "0100", &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(db_profile_completed(c, "smdp:1", p.iccid, "3G_16K", "262019999999999", "491700000002",
                                          DB_POL2_DISABLE_NOT_ALLOWED, &err),
                     SM_OK);
    db_profile g;
    assert_int_equal(db_profile_get(c, p.iccid, &g, &err), SM_OK);
    assert_string_equal(g.state, "Disabled");
    assert_string_equal(g.profile_type, "3G_16K");
    assert_int_equal(g.pol2, DB_POL2_DISABLE_NOT_ALLOWED);
    assert_int_equal(g.allocated_memory, 40000);

    /* two Enabled profiles on one eUICC are impossible */
    assert_int_equal(db_profile_set_state(c, "mno:1", p.iccid, "Disabled", "Enabled", "0200", &err), SM_EEXIST);
    sm_err_clear(&err);
    /* the switch: disable the old, enable the new, in one transaction */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_profile_set_state(c, "mno:1", p0.iccid, "Enabled", "Disabled", NULL, &err), SM_OK);
    assert_int_equal(db_profile_set_state(c, "mno:1", p.iccid, "Disabled", "Enabled", "0200", &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(db_profile_by_msisdn(c, "491700000002", &g, &err), SM_OK);
    assert_string_equal(g.iccid, p.iccid);
    assert_string_equal(g.state, "Enabled");

    /* fall-back moves, one holder at a time */
    assert_int_equal(db_profile_set_fallback(c, "mno:1", p.iccid, &err), SM_OK);
    assert_int_equal(db_profile_get(c, p0.iccid, &g, &err), SM_OK);
    assert_false(g.fallback);
    assert_int_equal(db_profile_set_address(c, "mno:1", p0.iccid, "262010000000001", "491700000003", &err), SM_OK);
    assert_int_equal(db_profile_set_pol2(c, "mno:1", p0.iccid, DB_POL2_DELETE_NOT_ALLOWED, &err), SM_OK);
    assert_int_equal(db_profile_get(c, p0.iccid, &g, &err), SM_OK);
    assert_string_equal(g.msisdn, "491700000003");
    assert_int_equal(g.pol2, DB_POL2_DELETE_NOT_ALLOWED);
    assert_int_equal(db_profile_delete(c, "mno:1", p0.iccid, "0400", &err), SM_OK);
    assert_int_equal(db_profile_delete(c, "mno:1", p0.iccid, "0400", &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    assert_int_equal(db_profile_set_state(c, "x", "89x", NULL, "Enabled", NULL, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(db_eis_record(c, "eUICC", EID2, p.iccid, "notification", "0200", "profile change succeeded",
                                   &err),
                     SM_OK);

    /* the history, newest first, says who asked for what */
    db_eis_change *h = NULL;
    assert_int_equal(db_eis_history(c, EID2, 100, &h, &n, &err), SM_OK);
    assert_true(n >= 10);
    assert_string_equal(h[0].action, "notification");
    assert_string_equal(h[0].op_type, "0200");
    bool saw_enable = false, saw_register = false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(h[i].action, "profile.state") && !strcmp(h[i].op_type, "0200")) {
            saw_enable = true;
            assert_string_equal(h[i].actor, "mno:1");
            assert_string_equal(h[i].detail, "state Disabled->Enabled");
        }
        saw_register |= !strcmp(h[i].action, "register") && !strcmp(h[i].actor, "eum:x");
    }
    free(h);
    assert_true(saw_enable);
    assert_true(saw_register);
    /* and every change is in the audit trail too (the failed ones rolled back theirs) */
    assert_int_equal(scalar(c, "SELECT count(*) FROM audit_log WHERE action LIKE 'eis.%'"),
                     scalar(c, "SELECT count(*) FROM eis_history"));
    assert_int_equal(db_eis_delete(c, "smsr2", EID2, &err), SM_OK);
    assert_int_equal(db_profile_get(c, p.iccid, &g, &err), SM_ENOTFOUND);
    db_pool_give(c);
}

struct counter_arg {
    int64_t got[100];
    sm_rc rc;
};

static void *bump(void *arg)
{
    struct counter_arg *a = arg;
    db_conn *c;
    sm_err err = {0};
    a->rc = db_pool_take(POOL, &c, &err);
    for (int i = 0; a->rc == SM_OK && i < 100; i++)
        a->rc = db_keyset_next_counter(c, EID1, 1, &a->got[i], &err);
    db_pool_give(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_keysets_wrapped_only(void **state)
{
    testenv_hsm T;
    assert_int_equal(testenv_hsm_setup(&T), 0);
    hsm_ctx *hsm = testenv_hsm_open(&T, 1);
    hsm_sess *s;
    sm_err err = {0};
    assert_int_equal(hsm_session_get(hsm, &s, &err), SM_OK);
    hsm_keyspec kekspec = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    hsm_keyspec kspec = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .wrappable = true};
    hsm_key kek, k, back;
    assert_int_equal(hsm_key_generate(s, &kekspec, &kek, &err), SM_OK);
    assert_int_equal(hsm_key_generate(s, &kspec, &k, &err), SM_OK);

    db_conn *c;
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_keyset ks = {.kvn = 1, .counter = 0};
    snprintf(ks.type, sizeof ks.type, "SCP80");
    ks.nkeys = 1;
    ks.keys[0].index = 1;
    ks.keys[0].key_type = 0x88;
    snprintf(ks.keys[0].kek_label, sizeof ks.keys[0].kek_label, "smbox-kek");
    assert_int_equal(hsm_wrap(s, &kek, &k, ks.keys[0].wrapped, sizeof ks.keys[0].wrapped, &ks.keys[0].wrapped_len,
                              &err),
                     SM_OK);
    assert_int_equal(db_keyset_put(c, "eum:x", EID1, &ks, &err), SM_OK);
    /* a 16-byte value is not a wrapped key: refused */
    db_keyset bad = ks;
    bad.kvn = 2;
    bad.keys[0].wrapped_len = 16;
    assert_int_equal(db_keyset_put(c, "eum:x", EID1, &bad, &err), SM_EINVAL);
    sm_err_clear(&err);

    db_keyset got;
    assert_int_equal(db_keyset_get(c, EID1, 1, &got, &err), SM_OK);
    assert_string_equal(got.type, "SCP80");
    assert_int_equal(got.nkeys, 1);
    assert_int_equal(got.keys[0].wrapped_len, 24);
    /* unwrapped back into the HSM it is the same key */
    hsm_keyspec uspec = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    assert_int_equal(hsm_unwrap(s, &kek, got.keys[0].wrapped, got.keys[0].wrapped_len, &uspec, &back, &err), SM_OK);
    uint8_t blk[16] = {1, 2, 3}, c1[16], c2[16];
    assert_int_equal(hsm_aes_ecb_encrypt(s, &k, blk, 16, c1, &err), SM_OK);
    assert_int_equal(hsm_aes_ecb_encrypt(s, &back, blk, 16, c2, &err), SM_OK);
    assert_memory_equal(c1, c2, 16);

    /* SCP80 counters: strictly increasing across concurrent callers */
    struct counter_arg a[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, bump, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(a[0].rc, SM_OK);
    assert_int_equal(a[1].rc, SM_OK);
    int64_t all[200];
    memcpy(all, a[0].got, sizeof a[0].got);
    memcpy(all + 100, a[1].got, sizeof a[1].got);
    for (int i = 1; i < 100; i++) {
        assert_true(a[0].got[i] > a[0].got[i - 1]);
        assert_true(a[1].got[i] > a[1].got[i - 1]);
    }
    qsort(all, 200, sizeof all[0], cmp64);
    for (int i = 0; i < 200; i++)
        assert_int_equal(all[i], i + 1);
    int *kvns = NULL;
    size_t n = 0;
    assert_int_equal(db_keyset_list(c, EID1, &kvns, &n, &err), SM_OK);
    assert_int_equal(n, 1);
    free(kvns);
    assert_int_equal(db_keyset_delete(c, "smsr", EID1, 1, &err), SM_OK);
    assert_int_equal(db_keyset_get(c, EID1, 1, &got, &err), SM_ENOTFOUND);
    db_pool_give(c);
    hsm_session_put(s);
    hsm_close(hsm);
    testenv_hsm_teardown(&T);
}

struct reserver {
    char got[30][21];
    int n;
};

static void *reserve(void *arg)
{
    struct reserver *r = arg;
    db_conn *c;
    sm_err err = {0};
    if (db_pool_take(POOL, &c, &err) != SM_OK)
        return NULL;
    while (r->n < 30 && db_stock_reserve(c, "smdp", "3G_16K", 77, r->got[r->n], &err) == SM_OK)
        r->n++;
    db_pool_give(c);
    return NULL;
}

static void test_smdp_stock_orders_keys(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_ptype t = {.required_memory = 16384};
    snprintf(t.name, sizeof t.name, "3G_16K");
    snprintf(t.mno_id, sizeof t.mno_id, "1.3.6.1.4.1.100");
    assert_int_equal(db_ptype_put(c, "ssh:ops", &t, (const uint8_t *)"template", 8, &err), SM_OK);
    db_ptype gt;
    assert_int_equal(db_ptype_get(c, "3G_16K", &gt, &err), SM_OK);
    assert_int_equal(gt.required_memory, 16384);
    uint8_t *tm = NULL;
    size_t tl = 0;
    assert_int_equal(db_ptype_template(c, "3G_16K", &tm, &tl, &err), SM_OK);
    assert_int_equal(tl, 8);
    free(tm);

    uint8_t ct[64];
    for (int i = 0; i < 64; i++)
        ct[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 50; i++) {
        db_stock s = {.ciphertext = ct, .len = sizeof ct};
        snprintf(s.iccid, sizeof s.iccid, "89030000000000%05d", i % 100000);
        snprintf(s.profile_type, sizeof s.profile_type, "3G_16K");
        snprintf(s.key_label, sizeof s.key_label, "smbox-profile");
        s.iv[0] = (uint8_t)i;
        assert_int_equal(db_stock_add(c, "ssh:ops", &s, &err), SM_OK);
    }
    db_stock shortct = {.ciphertext = ct, .len = 16};
    snprintf(shortct.iccid, sizeof shortct.iccid, "8903000000000099999");
    snprintf(shortct.profile_type, sizeof shortct.profile_type, "3G_16K");
    snprintf(shortct.key_label, sizeof shortct.key_label, "smbox-profile");
    assert_int_equal(db_stock_add(c, "ssh:ops", &shortct, &err), SM_EINVAL);
    sm_err_clear(&err);
    long avail = 0;
    assert_int_equal(db_stock_available(c, "3G_16K", &avail, &err), SM_OK);
    assert_int_equal(avail, 50);
    assert_int_equal(db_stock_reserve_iccid(c, "smdp", "8903000000000000049", 5, &err), SM_OK);
    assert_int_equal(db_stock_reserve_iccid(c, "smdp", "8903000000000000049", 6, &err), SM_ESTATE);
    sm_err_clear(&err);

    /* two SM-DP workers reserving at once: every profile to one order only, then the stock runs dry */
    struct reserver r[2] = {{.n = 0}, {.n = 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reserve, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r[0].n + r[1].n, 49);
    for (int i = 0; i < r[0].n; i++)
        for (int j = 0; j < r[1].n; j++)
            assert_string_not_equal(r[0].got[i], r[1].got[j]);
    char none[21];
    assert_int_equal(db_stock_reserve(c, "smdp", "3G_16K", 78, none, &err), SM_ENOTFOUND);
    sm_err_clear(&err);

    db_stock s;
    assert_int_equal(db_stock_get(c, "8903000000000000007", &s, &err), SM_OK);
    assert_string_equal(s.state, "reserved");
    assert_int_equal(s.order_id, 77);
    assert_int_equal(s.iv[0], 7);
    assert_int_equal(s.len, sizeof ct);
    assert_memory_equal(s.ciphertext, ct, sizeof ct);
    db_stock_clear(&s);
    assert_int_equal(db_stock_set_state(c, "smdp", "8903000000000000007", "reserved", "available", &err), SM_OK);
    assert_int_equal(db_stock_get(c, "8903000000000000007", &s, &err), SM_OK);
    assert_int_equal(s.order_id, 0);
    db_stock_clear(&s);
    assert_int_equal(db_stock_set_state(c, "smdp", "8903000000000000007", "reserved", "installed", &err), SM_ESTATE);
    sm_err_clear(&err);

    db_order o = {.enable = true};
    snprintf(o.requester, sizeof o.requester, "1.3.6.1.4.1.100");
    snprintf(o.call_id, sizeof o.call_id, "dl-42");
    snprintf(o.mno_id, sizeof o.mno_id, "1.3.6.1.4.1.100");
    snprintf(o.eid, sizeof o.eid, EID1);
    snprintf(o.profile_type, sizeof o.profile_type, "3G_16K");
    int64_t oid = 0;
    assert_int_equal(db_order_create(c, "mno:1.3.6.1.4.1.100", &o, &oid, &err), SM_OK);
    assert_true(oid > 0);
    assert_int_equal(db_order_update(c, "smdp", oid, "in-progress", "8903000000000000007", 99, NULL, 0, &err), SM_OK);
    db_order go;
    assert_int_equal(db_order_get(c, oid, &go, &err), SM_OK);
    assert_string_equal(go.state, "in-progress");
    assert_string_equal(go.iccid, "8903000000000000007");
    assert_int_equal(go.proc_id, 99);
    assert_true(go.enable);

    db_mnokey k = {.wrapped_len = 40, .kcv_len = 3};
    snprintf(k.mno_id, sizeof k.mno_id, "1.3.6.1.4.1.100");
    snprintf(k.key_id, sizeof k.key_id, "transport-1");
    snprintf(k.purpose, sizeof k.purpose, "transport");
    snprintf(k.kek_label, sizeof k.kek_label, "smbox-kek");
    memset(k.wrapped, 0xab, 40);
    assert_int_equal(db_mnokey_put(c, "ssh:ops", &k, &err), SM_OK);
    db_mnokey gk;
    assert_int_equal(db_mnokey_get(c, k.mno_id, "transport-1", &gk, &err), SM_OK);
    assert_int_equal(gk.wrapped_len, 40);
    assert_int_equal(gk.kcv_len, 3);
    k.wrapped_len = 16;
    assert_int_equal(db_mnokey_put(c, "ssh:ops", &k, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_true(scalar(c, "SELECT count(*) FROM audit_log WHERE action LIKE 'smdp.%'") >= 50 + 49 + 5);
    db_pool_give(c);
}

static void test_bulk_load(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(db_eis_bulk_begin(c, &err), SM_ESTATE); /* needs the caller's transaction */
    sm_err_clear(&err);
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_eis_bulk_begin(c, &err), SM_OK);
    for (int i = 0; i < 1000; i++) {
        db_euicc e;
        char eid[40];
        snprintf(eid, sizeof eid, "8904903300000000000000000000%04d", i);
        euicc(&e, eid);
        if (i == 7)
            e.production_date[0] = 0; /* absent */
        assert_int_equal(db_eis_bulk_add(c, &e, &err), SM_OK);
    }
    long n = 0;
    assert_int_equal(db_eis_bulk_end(c, "eum:bulk", &n, &err), SM_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(db_profile_bulk_begin(c, &err), SM_OK);
    for (int i = 0; i < 1000; i++) {
        db_profile p;
        char eid[40], iccid[24];
        snprintf(eid, sizeof eid, "8904903300000000000000000000%04d", i);
        snprintf(iccid, sizeof iccid, "890330000000000%04d", i % 10000);
        profile(&p, eid, iccid, "A0000005591010FFFFFFFF8900001000", "Enabled");
        p.fallback = true;
        snprintf(p.msisdn, sizeof p.msisdn, "4917100%05d", i % 100000);
        assert_int_equal(db_profile_bulk_add(c, &p, &err), SM_OK);
    }
    assert_int_equal(db_profile_bulk_end(c, "eum:bulk", &n, &err), SM_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(db_commit(c, &err), SM_OK);
    db_euicc g;
    assert_int_equal(db_eis_get(c, "89049033000000000000000000000500", &g, &err), SM_OK);
    assert_int_equal(g.ecasd_cert_len, 6);
    assert_int_equal(g.isdr_aid.len, 16);
    assert_int_equal(g.eum_signed_len, strlen("<EumSignedInfo>...</EumSignedInfo><Signature/>"));
    assert_string_equal(g.production_date, "2024-05-01T10:00:00Z");
    db_euicc_clear(&g);
    assert_int_equal(db_eis_get(c, "89049033000000000000000000000007", &g, &err), SM_OK);
    assert_string_equal(g.production_date, "");
    db_euicc_clear(&g);
    db_profile pr;
    assert_int_equal(db_profile_by_msisdn(c, "491710000500", &pr, &err), SM_OK);
    assert_string_equal(pr.eid, "89049033000000000000000000000500");
    assert_int_equal(scalar(c, "SELECT count(*) FROM eis_history WHERE detail = 'bulk load' AND actor = 'eum:bulk'"),
                     1000);
    assert_int_equal(scalar(c, "SELECT count(*) FROM audit_log WHERE action LIKE 'eis.bulk-%'"), 2);
    /* one bad row fails the whole batch */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_eis_bulk_begin(c, &err), SM_OK);
    db_euicc e;
    euicc(&e, "89049034000000000000000000000001");
    assert_int_equal(db_eis_bulk_add(c, &e, &err), SM_OK);
    euicc(&e, "89049033000000000000000000000001"); /* exists */
    assert_int_equal(db_eis_bulk_add(c, &e, &err), SM_OK);
    assert_int_not_equal(db_eis_bulk_end(c, "eum:bulk", &n, &err), SM_OK);
    sm_err_clear(&err);
    db_rollback(c);
    assert_int_equal(db_eis_get(c, "89049034000000000000000000000001", &g, &err), SM_ENOTFOUND);
    db_pool_give(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eis_register_and_get),
        cmocka_unit_test(test_profile_life_cycle),
        cmocka_unit_test(test_keysets_wrapped_only),
        cmocka_unit_test(test_smdp_stock_orders_keys),
        cmocka_unit_test(test_bulk_load),
    };
    return cmocka_run_group_tests_name("db_repo", tests, setup, teardown);
}
