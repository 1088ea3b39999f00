/* eUICC registration from EUM batch files (appliance/smsr/batch.c, register.c, import.c): the parser's
 * whole-file and per-record refusals, then imports into a throw-away PostgreSQL with a SoftHSM2 token:
 * registration with keys re-wrapped under the KEK, bad chain, unknown EUM, EUM mismatch, bad record
 * signature, wrong transport key, duplicates, re-import as a no-op, all-or-nothing per record with the
 * report. The batches come from the simulator (`sim fleet`) and are tampered with here. */
#include "tests/smsr/smsr_fixture.h"

#include "appliance/smsr/batch.h"

DB_STMT(q_count_ks, 1, "SELECT count(*) FROM euicc_keyset WHERE eid = $1");
DB_STMT(q_count_euicc, 0, "SELECT count(*) FROM euicc");
DB_STMT(q_count_prof, 1, "SELECT count(*) FROM profile WHERE eid = $1");
DB_STMT(q_audit_actions, 1, "SELECT count(*) FROM audit_log WHERE action = $1");
DB_STMT(q_smsr_sms, 1, "SELECT coalesce(smsr_sms, '') FROM euicc WHERE eid = $1");

static long count(db_conn *c, db_stmt *st, const char *arg)
{
    db_params p;
    db_params_init(&p);
    if (arg)
        db_p_text(&p, arg);
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(c, st, arg ? &p : NULL, &r, &err), SM_OK);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static int setup(void **state)
{
    fx_start();
    return 0;
}

static int teardown(void **state)
{
    fx_stop();
    return 0;
}

/* EID of the i-th record (0-based) */
static void eid_of(const char *text, int i, char out[33])
{
    char *l = fx_line(text, i + 1);
    const char *p = strstr(l, "eid=");
    assert_non_null(p);
    memcpy(out, p + 4, 32);
    out[32] = 0;
    free(l);
}

/* ---- the parser ----------------------------------------------------------------------------------- */

static void test_parse_fleet(void **state)
{
    size_t len;
    char *t = fx_batch(&len);
    smsr_batch b;
    sm_err err = {0};
    assert_int_equal(smsr_batch_open(t, len, &b, &err), SM_OK);
    assert_string_equal(b.hdr.eum_id, FX_EUM_ID);
    assert_string_equal(b.hdr.tk_id, FX_TK_ID);
    assert_int_equal(b.count, 5);
    smsr_brec *r = malloc(sizeof *r);
    size_t n = 0;
    while (smsr_batch_next(&b, r, &err) == SM_OK) {
        assert_true(smsr_eid_ok(r->eid));
        assert_int_equal(r->line, n + 2);
        assert_int_equal(r->scp80_kvn, 0x01);
        assert_int_equal(r->scp81_kvn, 0x40);
        assert_int_equal(r->kic.wrapped_len, 24);
        assert_int_equal(r->nprof, 1);
        assert_true(r->prof[0].enabled);
        assert_string_equal(r->smsr_id, FX_SMSR_ID);
        assert_memory_equal(r->text + r->signed_len, ";sig=", 5);
        n++;
    }
    assert_int_equal(n, 5);
    free(r);
    free(t);
}

static void expect_refused(const char *text, const char *what)
{
    smsr_batch b;
    sm_err err = {0};
    assert_int_not_equal(smsr_batch_open(text, strlen(text), &b, &err), SM_OK);
    if (!strstr(err.msg, what))
        fail_msg("expected '%s' in '%s'", what, err.msg);
}

static void test_parse_whole_file_refused(void **state)
{
    size_t len;
    char *t = fx_batch(&len);
    /* truncated: no trailer */
    char *tr = strstr(t, "#end;");
    char *cut = strndup(t, (size_t)(tr - t));
    expect_refused(cut, "no #end trailer");
    free(cut);
    /* a flipped byte in a record: the trailer hash catches it */
    char *flip = strdup(t);
    char *p = strstr(flip, "platform-type=smbox-sim");
    p[15] = 'X';
    expect_refused(flip, "SHA-256");
    free(flip);
    /* CR line ends */
    char *cr = strdup(t);
    *strchr(cr, '\n') = '\r';
    expect_refused(cr, "CR");
    free(cr);
    /* unknown version */
    char *v2 = strdup(t);
    memcpy(strstr(v2, ";v=1;"), ";v=2;", 5);
    expect_refused(v2, "version 1");
    free(v2);
    /* a record line removed (hash fixed): the count no longer matches */
    char *drop = strdup(t);
    char *l2 = strchr(drop, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    memmove(l2, l3, strlen(l3) + 1);
    char *tr2 = strstr(drop, "#end;count=5");
    tr2[11] = '5'; /* keep the announced count */
    expect_refused(drop, "announces 5 records");
    free(drop);
    /* empty */
    smsr_batch b;
    sm_err err = {0};
    assert_int_equal(smsr_batch_open("", 0, &b, &err), SM_EPARSE);
    free(t);
}

static void test_parse_bad_records_reported(void **state)
{
    size_t len;
    char *t = fx_batch(&len);
    /* record 1: two fields swapped; record 2: EID check digits wrong; record 3: unknown field */
    char *l1 = fx_line(t, 1);
    char *a = strstr(l1, ";rpv="), *b2 = strstr(l1, ";spv="), *c = strstr(l1, ";cattp=");
    size_t la = (size_t)(b2 - a), lb = (size_t)(c - b2);
    char tmp[64];
    memcpy(tmp, a, la);
    memmove(a, b2, lb);
    memcpy(a + lb, tmp, la);
    t = fx_set_line(t, 1, l1);
    char *l2 = fx_line(t, 2);
    char *e = strstr(l2, "eid=") + 4 + 31;
    *e = *e == '9' ? '0' : (char)(*e + 1);
    t = fx_set_line(t, 2, l2);
    char *l3 = fx_line(t, 3);
    char *nl = malloc(strlen(l3) + 16);
    char *pos = strstr(l3, ";msisdn=");
    sprintf(nl, "%.*s;color=blue%s", (int)(pos - l3), l3, pos);
    t = fx_set_line(t, 3, nl);
    free(nl);
    t = fx_retrail(t);
    smsr_batch bt;
    sm_err err = {0};
    assert_int_equal(smsr_batch_open(t, strlen(t), &bt, &err), SM_OK);
    smsr_brec *r = malloc(sizeof *r);
    int ok = 0, bad = 0;
    for (;;) {
        sm_err re = {0};
        sm_rc rc = smsr_batch_next(&bt, r, &re);
        if (rc == SM_ENOTFOUND)
            break;
        if (rc == SM_OK) {
            ok++;
            continue;
        }
        bad++;
        if (r->line == 2)
            assert_non_null(strstr(re.msg, "rpv expected here, found field 'spv'"));
        else if (r->line == 3) {
            assert_non_null(strstr(re.msg, "eid has a malformed value"));
            assert_string_equal(r->eid, "");
        } else if (r->line == 4)
            assert_non_null(strstr(re.msg, "found field 'color'"));
        else
            fail_msg("unexpected refusal of line %zu: %s", r->line, re.msg);
        if (r->line != 3)
            assert_true(smsr_eid_ok(r->eid)); /* the report can name the record */
    }
    assert_int_equal(ok, 2);
    assert_int_equal(bad, 3);
    free(r);
    free(l1);
    free(l2);
    free(l3);
    free(t);
}

/* ---- imports --------------------------------------------------------------------------------------- */

static void test_import_registers_and_rewraps(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    size_t len;
    char *t = fx_batch(&len);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    assert_int_equal(rep.records, 5);
    assert_int_equal(rep.imported, 5);
    assert_int_equal(rep.nrej, 0);
    assert_false(rep.seen_before);
    smsr_import_report_free(&rep);
    assert_int_equal(count(c, &q_count_euicc, NULL), 5);
    char eid[33];
    eid_of(t, 0, eid);
    db_euicc e;
    assert_int_equal(db_eis_get(c, eid, &e, &err), SM_OK);
    assert_string_equal(e.eum_id, FX_EUM_ID);
    assert_string_equal(e.smsr_id, FX_SMSR_ID);
    assert_int_equal(e.available_memory, 524288);
    assert_true(e.caps & DB_CAP_HTTPS);
    assert_int_equal(e.isdr_tar.len, 3);
    /* the EUM-signed record is kept verbatim */
    char *l1 = fx_line(t, 1);
    assert_int_equal(e.eum_signed_len, strlen(l1));
    assert_memory_equal(e.eum_signed, l1, strlen(l1));
    db_euicc_clear(&e);
    assert_int_equal(count(c, &q_count_prof, eid), 1);
    assert_int_equal(count(c, &q_count_ks, eid), 2);
    db_res *r = NULL;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    assert_int_equal(db_exec(c, &q_smsr_sms, &p, &r, &err), SM_OK);
    assert_string_equal(db_res_text(r, 0, 0), "447700900000");
    db_res_free(r);
    /* the SCP80 KIc: stored wrapped under the KEK (not the transport-key blob), KCV as the EUM gave it */
    db_keyset ks;
    assert_int_equal(db_keyset_get(c, eid, 1, &ks, &err), SM_OK);
    assert_string_equal(ks.type, "SCP80");
    assert_int_equal(ks.nkeys, 3);
    assert_string_equal(ks.keys[0].kek_label, "smbox-kek");
    const char *kicv = strstr(l1, ";scp80-kic=") + 11;
    uint8_t tkblob[24];
    size_t bl;
    char hx[49];
    memcpy(hx, kicv, 48);
    hx[48] = 0;
    assert_int_equal(sm_hex_decode(hx, tkblob, sizeof tkblob, &bl, &err), SM_OK);
    assert_int_equal(ks.keys[0].wrapped_len, 24);
    assert_memory_not_equal(ks.keys[0].wrapped, tkblob, 24);
    hsm_key kek, k;
    assert_int_equal(hsm_key_find(FX.s, "smbox-kek", HSM_KT_AES, &kek, &err), SM_OK);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    assert_int_equal(hsm_unwrap(FX.s, &kek, ks.keys[0].wrapped, ks.keys[0].wrapped_len, &sp, &k, &err), SM_OK);
    static const uint8_t ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t kcv[16];
    assert_int_equal(hsm_aes_ecb_encrypt(FX.s, &k, ones, 16, kcv, &err), SM_OK);
    assert_memory_equal(kcv, ks.keys[0].kcv, 3);
    uint8_t v[32];
    size_t vl;
    assert_int_not_equal(hsm_key_try_read_value(FX.s, &k, v, sizeof v, &vl, &err), SM_OK); /* never readable */
    hsm_key_destroy(FX.s, &k, &err);
    assert_int_equal(db_keyset_get(c, eid, 0x40, &ks, &err), SM_OK);
    assert_string_equal(ks.type, "SCP81");
    assert_int_equal(ks.keys[0].key_type, 0x85);
    /* audited: the registration of each eUICC and the batch */
    assert_int_equal(count(c, &q_audit_actions, "eis.register"), 5);
    assert_int_equal(count(c, &q_audit_actions, "smsr.batch.import"), 1);
    db_audit_report ar;
    memset(&ar, 0, sizeof ar);
    assert_int_equal(db_audit_verify(c, &ar, &err), SM_OK);
    /* the history of the eUICC starts with its registration */
    db_eis_change *h = NULL;
    size_t nh = 0;
    assert_int_equal(db_eis_history(c, eid, 10, &h, &nh, &err), SM_OK);
    assert_true(nh >= 1);
    assert_string_equal(h[nh - 1].action, "register");
    free(h);
    free(l1);
    free(t);
    fx_db_close(pool, c);
}

static void test_reimport_changes_nothing(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    char *t = fx_batch(NULL);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    smsr_import_report_free(&rep);
    char eid[33];
    eid_of(t, 2, eid);
    db_euicc e;
    assert_int_equal(db_eis_get(c, eid, &e, &err), SM_OK);
    int64_t ver = e.version;
    db_euicc_clear(&e);
    long reg = count(c, &q_audit_actions, "eis.register");
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    assert_true(rep.seen_before);
    assert_int_equal(rep.imported, 0);
    assert_int_equal(rep.unchanged, 5);
    assert_int_equal(rep.nrej, 0);
    smsr_import_report_free(&rep);
    assert_int_equal(db_eis_get(c, eid, &e, &err), SM_OK);
    assert_int_equal(e.version, ver);
    db_euicc_clear(&e);
    assert_int_equal(count(c, &q_audit_actions, "eis.register"), reg);
    assert_int_equal(count(c, &q_count_euicc, NULL), 5);
    free(t);
    fx_db_close(pool, c);
}

static void test_duplicate_refused(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    char *t = fx_batch(NULL);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    smsr_import_report_free(&rep);
    /* another manufacturing run of the same EIDs (fresh keys and certificates) */
    assert_int_equal(testenv_sh("'%s' fleet --count 2 --out '%s/dup' --pki '%s/pki' --no-es1 >/dev/null", FX.sim, FX.dir,
                                FX.dir),
                     0);
    char path[400];
    snprintf(path, sizeof path, "%s/dup/euicc-batch.txt", FX.dir);
    char *d = fx_read(path, NULL);
    char eid[33];
    eid_of(d, 0, eid);
    db_euicc before;
    assert_int_equal(db_eis_get(c, eid, &before, &err), SM_OK);
    assert_int_equal(fx_import(c, d, &rep, &why, &err), SM_OK);
    assert_int_equal(rep.imported, 0);
    assert_int_equal(rep.nrej, 2);
    assert_int_equal(rep.rej[0].why, SMSR_WHY_DUPLICATE);
    assert_int_equal(rep.rej[0].line, 2);
    assert_string_equal(rep.rej[0].eid, eid);
    smsr_import_report_free(&rep);
    /* the stored EIS is untouched */
    db_euicc after;
    assert_int_equal(db_eis_get(c, eid, &after, &err), SM_OK);
    assert_int_equal(after.version, before.version);
    assert_memory_equal(after.ecasd_cert, before.ecasd_cert, before.ecasd_cert_len);
    db_euicc_clear(&before);
    db_euicc_clear(&after);
    free(d);
    free(t);
    fx_db_close(pool, c);
}

/* One batch with a good record, a bad signature, an EUM mismatch, a foreign ECASD certificate and a
 * damaged wrapped key: only the good records are registered, each bad one is in the report. */
static void test_all_or_nothing_per_record(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    char *t = fx_batch(NULL);
    const char *key = fx_pki("eum1.key");
    /* line 2 stays good; line 3: signature of other bytes */
    char *l = fx_line(t, 2);
    char *s = strstr(l, ";sig=") + 5;
    s[10] = s[10] == 'a' ? 'b' : 'a';
    t = fx_set_line(t, 2, l);
    free(l);
    /* line 4: EUM mismatch (signed by the EUM key, so only the identity is wrong) */
    l = fx_field(fx_line(t, 3), "eum-id", "2.999.10.2");
    l = fx_resign(l, key);
    t = fx_set_line(t, 3, l);
    free(l);
    /* line 5: the ECASD certificate of another PKI's eUICC */
    assert_int_equal(testenv_sh("'%s' pki --out '%s/pki2' >/dev/null && '%s' fleet --count 1 --out '%s/fleet2' "
                                "--pki '%s/pki2' --no-es1 >/dev/null",
                                FX.sim, FX.dir, FX.sim, FX.dir, FX.dir),
                     0);
    char p2[400];
    snprintf(p2, sizeof p2, "%s/fleet2/euicc-batch.txt", FX.dir);
    char *other = fx_read(p2, NULL);
    char *ol = fx_line(other, 1);
    char *cert = strstr(ol, ";ecasd-cert=") + 12;
    *strchr(cert, ';') = 0;
    l = fx_field(fx_line(t, 4), "ecasd-cert", cert);
    l = fx_resign(l, key);
    t = fx_set_line(t, 4, l);
    free(l);
    free(ol);
    free(other);
    /* line 6: a damaged wrapped DEK (RFC 5649's integrity check refuses it) */
    l = fx_line(t, 5);
    char *dek = strstr(l, ";scp80-dek=") + 11;
    dek[20] = dek[20] == '0' ? '1' : '0';
    l = fx_resign(l, key);
    t = fx_set_line(t, 5, l);
    free(l);
    t = fx_retrail(t);
    char eids[5][33];
    for (int i = 0; i < 5; i++)
        eid_of(t, i, eids[i]);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    assert_int_equal(rep.records, 5);
    assert_int_equal(rep.imported, 1);
    assert_int_equal(rep.nrej, 4);
    smsr_why want[4] = {SMSR_WHY_SIGNATURE, SMSR_WHY_EUM_MISMATCH, SMSR_WHY_CHAIN, SMSR_WHY_TRANSPORT_KEY};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rep.rej[i].line, (size_t)i + 3);
        assert_string_equal(rep.rej[i].eid, eids[i + 1]);
        assert_int_equal(rep.rej[i].why, want[i]);
        assert_true(strlen(rep.rej[i].reason) > 10);
    }
    assert_non_null(strstr(rep.rej[3].reason, "scp80-dek"));
    smsr_import_report_free(&rep);
    /* nothing of a refused record is stored: no eUICC, no key set, no profile */
    for (int i = 1; i < 5; i++) {
        db_euicc e;
        assert_int_equal(db_eis_get(c, eids[i], &e, &err), SM_ENOTFOUND);
        sm_err_clear(&err);
        assert_int_equal(count(c, &q_count_ks, eids[i]), 0);
        assert_int_equal(count(c, &q_count_prof, eids[i]), 0);
    }
    assert_int_equal(count(c, &q_count_euicc, NULL), 1);
    assert_int_equal(count(c, &q_count_ks, eids[0]), 2);
    free(t);
    fx_db_close(pool, c);
}

static void test_unknown_eum_refuses_the_batch(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    char *t = fx_batch(NULL);
    char *h = fx_line(t, 0);
    char *p = strstr(h, "eum-id=2.999.10.1");
    memcpy(p + 7, "2.999.10.9", 10);
    t = fx_set_line(t, 0, h);
    free(h);
    t = fx_retrail(t);
    smsr_import_report rep;
    smsr_why why = SMSR_WHY_NONE;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_ENOTFOUND);
    assert_int_equal(why, SMSR_WHY_EUM_UNKNOWN);
    assert_non_null(strstr(err.msg, "2.999.10.9"));
    smsr_import_report_free(&rep);
    assert_int_equal(count(c, &q_count_euicc, NULL), 0);
    /* an uploader that is not the batch's EUM */
    char *t2 = fx_batch(NULL);
    sm_err_clear(&err);
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(smsr_import_batch(&FX.x, FX.s, c, "test", "2.999.10.7", t2, strlen(t2), &rep, &why, &err), SM_EPERM);
    db_rollback(c);
    assert_int_equal(why, SMSR_WHY_EUM_MISMATCH);
    smsr_import_report_free(&rep);
    free(t2);
    free(t);
    fx_db_close(pool, c);
}

static void test_bad_chain_refuses_the_batch(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    /* the EUM certificate registered for 2.999.10.1 is another CI's */
    assert_int_equal(testenv_sh("test -d '%s/pki3' || '%s' pki --out '%s/pki3' >/dev/null", FX.dir, FX.sim, FX.dir), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/pki3/eum1.crt", FX.dir);
    size_t l;
    uint8_t *der = fx_der_cert(path, &l);
    sm_err err = {0};
    assert_int_equal(smsr_eum_put(c, "test", FX_EUM_ID, der, l, NULL, &err), SM_OK);
    free(der);
    char *t = fx_batch(NULL);
    smsr_import_report rep;
    smsr_why why = SMSR_WHY_NONE;
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_EVERIFY);
    assert_int_equal(why, SMSR_WHY_CHAIN);
    assert_non_null(strstr(err.msg, "does not chain to the trusted CI"));
    smsr_import_report_free(&rep);
    assert_int_equal(count(c, &q_count_euicc, NULL), 0);
    free(t);
    fx_db_close(pool, c);
}

static void test_wrong_transport_key(void **state)
{
    db_pool *pool;
    db_conn *c;
    fx_db(&pool, &c);
    /* a batch naming a transport key the token holds, but not the one the values were wrapped with */
    assert_int_equal(testenv_sh("test -d '%s/pki3' || '%s' pki --out '%s/pki3' >/dev/null", FX.dir, FX.sim, FX.dir), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/pki3/tk-eum1-smsr.hex", FX.dir);
    fx_import_tk("TK-WRONG", path);
    char *t = fx_batch(NULL);
    char *h = fx_line(t, 0);
    char *nh = malloc(strlen(h) + 8);
    char *p = strstr(h, "tk-id=");
    char *e = strchr(p, ';');
    sprintf(nh, "%.*stk-id=TK-WRONG%s", (int)(p - h), h, e);
    t = fx_set_line(t, 0, nh);
    free(h);
    free(nh);
    t = fx_retrail(t);
    smsr_import_report rep;
    smsr_why why;
    sm_err err = {0};
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_OK);
    assert_int_equal(rep.imported, 0);
    assert_int_equal(rep.nrej, 5);
    for (size_t i = 0; i < rep.nrej; i++) {
        assert_int_equal(rep.rej[i].why, SMSR_WHY_TRANSPORT_KEY);
        assert_non_null(strstr(rep.rej[i].reason, "transport key"));
    }
    smsr_import_report_free(&rep);
    assert_int_equal(count(c, &q_count_euicc, NULL), 0);
    /* a transport key the token does not hold refuses the whole batch */
    t = fx_set_line(t, 0, "#smbox-euicc-batch;v=1;eum-id=2.999.10.1;tk-id=TK-NONE;kw=aes-kwp;sig=ecdsa-p256-sha256;"
                          "created=2026-01-01T00:00:00Z");
    t = fx_retrail(t);
    assert_int_equal(fx_import(c, t, &rep, &why, &err), SM_ENOTFOUND);
    assert_int_equal(why, SMSR_WHY_TRANSPORT_KEY);
    smsr_import_report_free(&rep);
    free(t);
    fx_db_close(pool, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fleet),
        cmocka_unit_test(test_parse_whole_file_refused),
        cmocka_unit_test(test_parse_bad_records_reported),
        cmocka_unit_test(test_import_registers_and_rewraps),
        cmocka_unit_test(test_reimport_changes_nothing),
        cmocka_unit_test(test_duplicate_refused),
        cmocka_unit_test(test_all_or_nothing_per_record),
        cmocka_unit_test(test_unknown_eum_refuses_the_batch),
        cmocka_unit_test(test_bad_chain_refuses_the_batch),
        cmocka_unit_test(test_wrong_transport_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
