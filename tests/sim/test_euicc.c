/* Card behaviour without a download: POL1 refusals, fall-back and roll-back after a failed attach,
 * notification retries and confirmation, master delete token, the SMS path (SCP80 at the ISD-R TAR,
 * minimum security level, replayed and too-low counters, counter-ahead fault, push trigger) and
 * state save/load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/fleet.h"
#include "tests/sim/isdr.h"
#include "tests/sim/prim.h"
#include "tests/sim/state.h"
#include "tests/sim/testutil.h"
#include "tests/sim/tlv.h"

typedef struct fx {
    char dir[64];
    sim_pki pki;
    sim_euicc *e;
} fx;

static const uint8_t A2[16] = {0xA0, 0, 0, 5, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x20, 0};
static const uint8_t A3[16] = {0xA0, 0, 0, 5, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x30, 0};

static sim_profile *installed(sim_euicc *e, const uint8_t aid[16], const char *iccid, uint8_t pol1)
{
    sim_profile *p = NULL;
    assert_int_equal(sim_euicc_add_profile(e, aid, 16, 20000, &p, NULL), SIM_OK);
    p->lcs = SIM_LCS_DISABLED;
    snprintf(p->iccid, sizeof p->iccid, "%s", iccid);
    snprintf(p->imsi, sizeof p->imsi, "00101%s", iccid + 9);
    snprintf(p->msisdn, sizeof p->msisdn, "4470%s", iccid + 11);
    p->klen = 16;
    p->pol1 = pol1;
    return p;
}

static int setup(void **st)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(tu_tmpdir(f->dir, sizeof f->dir));
    sim_err e = {0};
    if (sim_pki_generate(f->dir, &e) || sim_pki_load(f->dir, &f->pki, &e))
        fail_msg("pki: %s", e.msg);
    sim_fleet_opts fo = {.count = 1};
    assert_int_equal(sim_fleet_make_card(&f->pki, &fo, 42, &f->e, &e), SIM_OK);
    f->e->ci = f->pki.ci_pub;
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx *f = *st;
    sim_euicc_free(f->e);
    sim_pki_free(&f->pki);
    tu_rmrf(f->dir);
    free(f);
    return 0;
}

static sim_notif *pending(sim_euicc *e, uint8_t type)
{
    for (int i = 0; i < e->npend; i++)
        if (e->pend[i].type == type)
            return &e->pend[i];
    return NULL;
}

static void test_pol1_refusals(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    installed(e, A2, "8988211000000000021", SIM_POL1_NO_DELETE);
    sim_profile *prov = sim_euicc_enabled(e); /* after the add: the profile array may have moved */
    assert_non_null(prov);
    /* POL1 of the enabled profile forbids disabling: enabling another is refused with 69E1 */
    prov->pol1 = SIM_POL1_NO_DISABLE;
    assert_int_equal(sim_euicc_enable(e, A2, 16), 0x69E1);
    assert_ptr_equal(sim_euicc_enabled(e), prov);
    prov->pol1 = 0;
    /* POL1 forbids deleting A2 */
    assert_int_equal(sim_euicc_delete(e, A2, 16, 0), 0x69E1);
    /* enabled / fall-back profiles cannot be deleted; unknown AID */
    assert_int_equal(sim_euicc_delete(e, prov->aid.b, 16, 0), 0x6985);
    assert_int_equal(sim_euicc_delete(e, A3, 16, 0), 0x6A88);
    /* the fall-back profile cannot be disabled (it is what disable falls back to) */
    assert_int_equal(sim_euicc_disable(e, prov->aid.b, 16), 0x6985);
}

static void test_master_delete_token(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    sim_profile *p = installed(e, A2, "8988211000000000021", SIM_POL1_NO_DELETE);
    p->has_scp03 = 1;
    p->scp03.klen = 16;
    memset(p->scp03.dek, 0x5A, 16);
    sim_buf m, apdu, rd;
    sim_buf_init(&m); sim_buf_init(&apdu); sim_buf_init(&rd);
    sim_tlv_put(&m, 0x4F, A2, 16);
    sim_buf_put(&m, e->eid, 16);
    uint8_t tok[16];
    assert_int_equal(sim_cmac1(p->scp03.dek, 16, m.p, m.len, tok, NULL), SIM_OK);
    uint8_t hdr[5] = {0x80, 0xE4, 0x00, 0x40, 18 + 18};
    sim_buf_put(&apdu, hdr, 5);
    sim_tlv_put(&apdu, 0x4F, A2, 16);
    tok[0] ^= 1;
    sim_tlv_put(&apdu, 0x9E, tok, 16);
    uint16_t sw;
    assert_int_equal(sim_isdr_apdu(e, apdu.p, apdu.len, &rd, &sw, NULL), SIM_OK);
    assert_int_equal(sw, 0x6982); /* wrong token */
    apdu.p[apdu.len - 16] ^= 1;
    assert_int_equal(sim_isdr_apdu(e, apdu.p, apdu.len, &rd, &sw, NULL), SIM_OK);
    assert_int_equal(sw, 0x9000); /* POL1 "no delete" ignored by master delete */
    assert_null(sim_euicc_find(e, A2, 16));
    sim_buf_free(&m); sim_buf_free(&apdu); sim_buf_free(&rd);
}

static void test_rollback_and_fallback(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    sim_profile *p2 = installed(e, A2, "8988211000000000021", 0);
    sim_profile *prov;
    /* the new profile cannot attach: the card rolls back and reports type 03 */
    p2->attach_fail = 1;
    assert_int_equal(sim_euicc_enable(e, A2, 16), 0x9000);
    assert_int_equal(sim_euicc_refresh(e), SIM_NOTIF_ROLLBACK);
    prov = sim_euicc_fallback(e);
    assert_int_equal(prov->lcs, SIM_LCS_ENABLED);
    assert_non_null(pending(e, SIM_NOTIF_ROLLBACK));
    /* a good switch; the change notification is never confirmed -> roll back after retries */
    p2 = sim_euicc_find(e, A2, 16);
    p2->attach_fail = 0;
    assert_int_equal(sim_euicc_enable(e, A2, 16), 0x9000);
    assert_int_equal(sim_euicc_refresh(e), SIM_NOTIF_CHANGE_OK);
    assert_int_equal(p2->lcs, SIM_LCS_ENABLED);
    sim_notif *n = pending(e, SIM_NOTIF_CHANGE_OK);
    assert_non_null(n);
    sim_euicc_notif_expired(e, n);
    assert_int_equal(sim_euicc_find(e, A2, 16)->lcs, SIM_LCS_DISABLED);
    assert_int_equal(sim_euicc_fallback(e)->lcs, SIM_LCS_ENABLED);
    /* disabling a profile enables the fall-back one; if that cannot attach either: nothing to fall to */
    p2 = sim_euicc_find(e, A2, 16);
    assert_int_equal(sim_euicc_enable(e, A2, 16), 0x9000);
    sim_euicc_refresh(e);
    assert_int_equal(sim_euicc_disable(e, A2, 16), 0x9000);
    assert_int_equal(sim_euicc_refresh(e), SIM_NOTIF_CHANGE_OK);
    assert_int_equal(sim_euicc_fallback(e)->lcs, SIM_LCS_ENABLED);
    /* the fall-back attribute moves; exactly one holder */
    assert_int_equal(sim_euicc_set_fallback(e, A2, 16), 0x9000);
    int holders = 0;
    for (int i = 0; i < e->nprof; i++)
        holders += e->prof[i].fallback;
    assert_int_equal(holders, 1);
    assert_int_equal(sim_euicc_fallback(e), sim_euicc_find(e, A2, 16));
}

static void test_delete_on_disable(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    installed(e, A3, "8988211000000000039", 0);
    installed(e, A2, "8988211000000000021", 0);
    sim_profile *prov = sim_euicc_enabled(e);
    prov->fallback = 0;
    sim_euicc_find(e, A3, 16)->fallback = 1;
    prov->pol1 = SIM_POL1_DELETE_ON_DISABLE;
    sim_aid old = prov->aid;
    assert_int_equal(sim_euicc_enable(e, A2, 16), 0x9000);
    assert_int_equal(sim_euicc_refresh(e), SIM_NOTIF_CHANGE_OK);
    sim_notif *n = pending(e, SIM_NOTIF_CHANGE_OK);
    sim_buf out;
    sim_buf_init(&out);
    assert_int_equal(sim_euicc_confirm(e, n->seq, &out), 0x9000);
    /* 80 { 4F <old AID> } and the profile is gone */
    sim_tlv t, a;
    assert_int_equal(sim_tlv_find(out.p, out.len, 0x80, &t), 1);
    assert_int_equal(sim_tlv_find(t.v, t.len, 0x4F, &a), 1);
    assert_memory_equal(a.v, old.b, 16);
    assert_null(sim_euicc_find(e, old.b, old.len));
    sim_buf_free(&out);
}

/* ---- SMS path ---- */
static sim_rc sms(sim_euicc *e, const uint8_t spi[2], uint64_t cntr, const uint8_t *data, size_t n, sim_buf *por,
                  sim_push *push)
{
    sim_buf ud;
    sim_buf_init(&ud);
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    sim_buf_put(&ud, udh, 3);
    sim_scp80_keyset ks = e->scp80[0];
    uint8_t k = (uint8_t)(ks.kvn << 4 | 2);
    assert_int_equal(sim_scp80_wrap(&ks, spi, k, k, e->isdr_tar, cntr, data, n, &ud, NULL), SIM_OK);
    sim_buf_reset(por);
    sim_err err = {0};
    sim_rc rc = sim_isdr_sms(e, ud.p, ud.len, por, push, NULL, &err);
    sim_buf_free(&ud);
    return rc;
}

static void test_sms_path(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    static const uint8_t spi[2] = {0x16, 0x39};
    /* AA { 22 GET DATA FF21 } */
    static const uint8_t script[] = {0xAA, 0x07, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00};
    sim_buf por;
    sim_buf_init(&por);
    sim_push push;
    assert_int_equal(sms(e, spi, 1, script, sizeof script, &por, &push), SIM_OK);
    sim_scp80_por p;
    assert_int_equal(sim_scp80_por_parse(&e->scp80[0], spi, por.p, por.len, &p, NULL), SIM_OK);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.cntr, 1);
    sim_tlv ab, r23;
    assert_int_equal(sim_tlv_find(p.data.p, p.data.len, 0xAB, &ab), 1);
    assert_int_equal(sim_tlv_find(ab.v, ab.len, 0x23, &r23), 1);
    assert_int_equal(sim_be16(r23.v + r23.len - 2), 0x9000);
    sim_buf_free(&p.data);
    /* replay of counter 1 and a lower counter: PoR status 02 */
    assert_int_equal(sms(e, spi, 1, script, sizeof script, &por, &push), SIM_EREPLAY);
    assert_int_equal(sim_scp80_por_parse(&e->scp80[0], spi, por.p, por.len, &p, NULL), SIM_OK);
    assert_int_equal(p.status, SIM_POR_CNTR_LOW);
    sim_buf_free(&p.data);
    /* fault: card counter ahead by 1000 -> the SR's next counter is refused */
    e->scp80[0].cntr += 1000;
    assert_int_equal(sms(e, spi, 2, script, sizeof script, &por, &push), SIM_EREPLAY);
    assert_int_equal(sms(e, spi, 1002, script, sizeof script, &por, &push), SIM_OK);
    /* below the minimum security level (no counter check): status 0A, PoR not secured */
    static const uint8_t weak[2] = {0x06, 0x21};
    assert_int_equal(sms(e, weak, 2000, script, sizeof script, &por, &push), SIM_EPERM);
    assert_true(por.len > 3);
    assert_int_equal(por.p[5], 0x0A); /* RHL without CC */
    assert_int_equal(por.p[9 + 6], SIM_POR_INSUFFICIENT_SECURITY);
    /* push trigger: 81 { 83 { 89 { 8A host 8C uri } } } */
    static const uint8_t trig[] = {0x81, 0x18, 0x83, 0x16, 0x89, 0x14, 0x8A, 0x09, 's', 'm', 's', 'r', '.', 't',
                                   'e', 's', 't', 0x8C, 0x07, '/', 'a', 'd', 'm', 'i', 'n', '/'};
    assert_int_equal(sms(e, spi, 3000, trig, sizeof trig, &por, &push), SIM_OK);
    assert_true(push.present);
    assert_string_equal(push.host, "smsr.test");
    assert_string_equal(push.uri, "/admin/");
    /* compact format: one APDU, response = 1 | SW | data */
    static const uint8_t compact[] = {0x80, 0xCA, 0x00, 0x5A, 0x00};
    assert_int_equal(sms(e, spi, 3001, compact, sizeof compact, &por, &push), SIM_OK);
    assert_int_equal(sim_scp80_por_parse(&e->scp80[0], spi, por.p, por.len, &p, NULL), SIM_OK);
    assert_int_equal(p.data.p[0], 1);
    assert_int_equal(sim_be16(p.data.p + 1), 0x9000);
    assert_int_equal(p.data.len, 3 + 18);
    assert_memory_equal(p.data.p + 5, e->eid, 16);
    sim_buf_free(&p.data);
    /* with security parameters 85 { len | identity | 02 | KVN | key id }: the 90-character text identity
     * (the hex of the TLV one) as well as the 45-byte TLV */
    {
        uint8_t t2[160];
        size_t o = 0;
        t2[o++] = 0x81;
        t2[o++] = 0x81;
        size_t l81 = o++;
        t2[o++] = 0x83;
        size_t l83 = o++;
        t2[o++] = 0x85;
        t2[o++] = 1 + 90 + 3;
        t2[o++] = 90;
        for (int i = 0; i < 90; i++)
            t2[o++] = (uint8_t)"0123456789ABCDEF"[i % 16];
        t2[o++] = 0x02;
        t2[o++] = 0x21;
        t2[o++] = 0x01;
        static const uint8_t host[] = {0x89, 0x0B, 0x8A, 0x09, 's', 'm', 's', 'r', '.', 't', 'e', 's', 't'};
        memcpy(t2 + o, host, sizeof host);
        o += sizeof host;
        t2[l83] = (uint8_t)(o - l83 - 1);
        t2[l81] = (uint8_t)(o - l81 - 1);
        assert_int_equal(sms(e, spi, 3002, t2, o, &por, &push), SIM_OK);
        assert_true(push.present);
        assert_int_equal(push.psk_id_len, 90);
        assert_memory_equal(push.psk_id, "0123456789ABCDEF", 16);
        assert_int_equal(push.kvn, 0x21);
        assert_int_equal(push.key_id, 0x01);
    }
    /* an MO notification the card builds verifies with the ISD-R keys */
    sim_notif *n = sim_euicc_notify(e, SIM_NOTIF_FIRST_ATTACH, &sim_euicc_enabled(e)->aid, NULL);
    sim_buf ud;
    sim_buf_init(&ud);
    assert_int_equal(sim_isdr_mo_notification(e, n, &ud, NULL), SIM_OK);
    sim_scp80_keyset ks = e->scp80[0];
    sim_scp80_cmd c;
    sim_buf plain;
    sim_buf_init(&plain);
    uint8_t status;
    int sec;
    assert_int_equal(sim_scp80_unwrap(ud.p + 3, ud.len - 3, &ks, 1, &c, &plain, &status, &sec, NULL), SIM_OK);
    sim_tlv e1, t4d;
    assert_int_equal(sim_tlv_find(plain.p + c.data_off, c.data_len, 0xE1, &e1), 1);
    assert_int_equal(sim_tlv_find(e1.v, e1.len, 0x4D, &t4d), 1);
    assert_int_equal(t4d.v[0], SIM_NOTIF_FIRST_ATTACH);
    sim_buf_free(&ud); sim_buf_free(&plain); sim_buf_free(&por);
}

static void test_state_roundtrip(void **st)
{
    fx *f = *st;
    sim_fleet fl;
    sim_fleet_init(&fl);
    assert_int_equal(sim_fleet_set_ci(&fl, f->pki.ci_pub, NULL), SIM_OK);
    sim_euicc *e = f->e;
    f->e = NULL;
    assert_int_equal(sim_fleet_add(&fl, e, NULL), SIM_OK);
    sim_profile *p = installed(e, A2, "8988211000000000021", SIM_POL1_NO_DELETE);
    p->has_scp03 = 1;
    p->scp03.kvn = 0x30;
    p->scp03.klen = 16;
    p->scp03.seq = 7;
    snprintf(p->profile_type, sizeof p->profile_type, "GSMA Generic eUICC Test Profile");
    e->scp80[0].cntr = 12345;
    e->fault.slow_ms = 250;
    sim_euicc_enable(e, A2, 16);
    sim_euicc_refresh(e);
    assert_int_equal(sim_fleet_index(&fl, NULL), SIM_OK);
    char sdir[128];
    snprintf(sdir, sizeof sdir, "%s/state", f->dir);
    sim_err err = {0};
    assert_int_equal(sim_state_save(&fl, sdir, &err), SIM_OK);
    sim_buf before, after;
    sim_buf_init(&before); sim_buf_init(&after);
    assert_int_equal(sim_state_show(e, &before, NULL), SIM_OK);
    sim_fleet g;
    sim_fleet_init(&g);
    if (sim_state_load(&g, sdir, &err))
        fail_msg("load: %s", err.msg);
    assert_int_equal(g.n, 1);
    char eid[33];
    sim_eid_hex(e, eid);
    sim_euicc *e2 = sim_fleet_by_eid(&g, eid);
    assert_non_null(e2);
    assert_int_equal(sim_state_show(e2, &after, NULL), SIM_OK);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.p, after.p, before.len);
    assert_memory_equal(e2->scp80[0].kic, e->scp80[0].kic, 16);
    assert_memory_equal(e2->ecasd_d, e->ecasd_d, 32);
    sim_profile *p2 = sim_euicc_find(e2, A2, 16);
    assert_memory_equal(&p2->scp03, &p->scp03, sizeof p->scp03);
    assert_string_equal(p2->profile_type, p->profile_type);
    assert_ptr_equal(sim_fleet_by_msisdn(&g, p->msisdn), e2);
    /* the loaded card still works: its ECASD key matches its certificate */
    assert_non_null(sim_euicc_ecasd(e2, NULL));
    /* a damaged file is refused with the line number */
    char path[256];
    snprintf(path, sizeof path, "%s/cards.state", sdir);
    sim_buf b;
    sim_buf_init(&b);
    assert_int_equal(sim_read_file(path, &b, NULL), SIM_OK);
    sim_buf_str(&b, "X bogus\n");
    assert_int_equal(sim_write_file(path, b.p, b.len, 0600, NULL), SIM_OK);
    sim_fleet h;
    sim_fleet_init(&h);
    sim_err e3 = {0};
    assert_int_equal(sim_state_load(&h, sdir, &e3), SIM_EPARSE);
    assert_non_null(strstr(e3.msg, "line"));
    sim_fleet_free(&h);
    sim_buf_free(&b);
    sim_buf_free(&before); sim_buf_free(&after);
    sim_fleet_free(&g);
    sim_fleet_free(&fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pol1_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_delete_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_on_disable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sms_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
