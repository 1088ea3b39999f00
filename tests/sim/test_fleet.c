/* A fleet of 10,000 cards: created, written as a batch file + saved, loaded again; the batch file
 * verifies (EUM signature per record, transport-key unwrap, KCV, trailer hash) and its keys are the
 * cards' keys; a tampered record and a truncated file are refused. Also EID/ICCID check digits and
 * the PKI directory (manifest, key file modes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/sim/batch.h"
#include "tests/sim/cert.h"
#include "tests/sim/ec.h"
#include "tests/sim/state.h"
#include "tests/sim/testutil.h"

static void test_ids(void **st)
{
    (void)st;
    uint8_t eid[16];
    sim_eid_make(123456, eid);
    char d[33];
    for (int i = 0; i < 16; i++) {
        d[2 * i] = (char)('0' + (eid[i] >> 4));
        d[2 * i + 1] = (char)('0' + (eid[i] & 15));
    }
    d[32] = 0;
    unsigned r = 0;
    for (int i = 0; i < 32; i++)
        r = (r * 10 + (unsigned)(d[i] - '0')) % 97;
    assert_int_equal(r, 1); /* ISO 7064 mod 97-10 */
    assert_memory_equal(d, "89049032", 8);
    char iccid[21];
    sim_iccid_make("8988200", 5, iccid);
    assert_int_equal(strlen(iccid), 19);
    int sum = 0;
    for (int i = 18, dbl = 0; i >= 0; i--, dbl = !dbl) {
        int v = iccid[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    assert_int_equal(sum % 10, 0); /* Luhn */
}

typedef struct chk {
    sim_fleet *f;
    size_t n, bad;
} chk;

static void per_record(const sim_batch_rec *r, void *arg)
{
    chk *c = arg;
    char hex[33];
    uint8_t eid[16];
    for (int i = 0; i < 16; i++)
        eid[i] = (uint8_t)((r->eid[2 * i] - '0') << 4 | (r->eid[2 * i + 1] - '0'));
    sim_hex(hex, eid, 16);
    sim_euicc *e = sim_fleet_by_eid(c->f, hex);
    if (!e || memcmp(e->scp80[0].kic, r->kic, 16) || memcmp(e->scp80[0].kid, r->kid, 16) ||
        memcmp(e->scp81[0].psk, r->psk, 16) || strcmp(sim_euicc_msisdn(e), r->msisdn) || r->scp81_kvn != 0x40)
        c->bad++;
    c->n++;
}

static void test_fleet_10k(void **st)
{
    (void)st;
    char dir[64], pkidir[128], out[128], sdir[128];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    snprintf(pkidir, sizeof pkidir, "%s/pki", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    sim_err err = {0};
    sim_pki pki;
    if (sim_pki_generate(pkidir, &err) || sim_pki_load(pkidir, &pki, &err))
        fail_msg("pki: %s", err.msg);
    /* private keys are 0600 */
    struct stat sb;
    char p[256];
    snprintf(p, sizeof p, "%s/smdp-gp.key", pkidir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/tk-eum1-smsr.hex", pkidir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char v[256];
    assert_int_equal(sim_manifest_get(pkidir, "tls.smsr2.cert", v, sizeof v, NULL), SIM_OK);
    assert_string_equal(v, "tls-smsr2.crt");

    sim_fleet f;
    sim_fleet_init(&f);
    sim_fleet_opts o = {.count = 10000, .first_serial = 1000};
    if (sim_fleet_create(&f, &pki, &o, &err))
        fail_msg("fleet: %s", err.msg);
    assert_int_equal(f.n, 10000);
    if (sim_batch_write(&f, &pki, out, 0, &err) || sim_state_save(&f, sdir, &err))
        fail_msg("write: %s", err.msg);
    /* identifiers are unique across the batch */
    char (*ids)[21] = calloc(f.n, sizeof *ids);
    for (size_t i = 0; i < f.n; i++)
        memcpy(ids[i], f.cards[i]->prof[0].iccid, 21);
    qsort(ids, f.n, sizeof *ids, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < f.n; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
    /* all MSISDNs route to their card */
    for (size_t i = 0; i < f.n; i += 997)
        assert_ptr_equal(sim_fleet_by_msisdn(&f, sim_euicc_msisdn(f.cards[i])), f.cards[i]);

    sim_fleet g;
    sim_fleet_init(&g);
    if (sim_state_load(&g, sdir, &err))
        fail_msg("load: %s", err.msg);
    assert_int_equal(g.n, 10000);

    EVP_PKEY *eum_pub = NULL;
    snprintf(p, sizeof p, "%s/eum1.crt", pkidir);
    assert_int_equal(sim_pem_cert_pub(p, &eum_pub, NULL, NULL), SIM_OK);
    snprintf(p, sizeof p, "%s/euicc-batch.txt", out);
    chk c = {&g, 0, 0};
    size_t count = 0;
    if (sim_batch_verify(p, eum_pub, pki.tk, per_record, &c, &count, &err))
        fail_msg("verify: %s", err.msg);
    assert_int_equal(count, 10000);
    assert_int_equal(c.bad, 0);

    /* tamper one character of record 5 (outside the signature): its signature fails */
    sim_buf b;
    sim_buf_init(&b);
    assert_int_equal(sim_read_file(p, &b, NULL), SIM_OK);
    char *line = (char *)b.p;
    for (int i = 0; i < 5; i++)
        line = memchr(line, '\n', b.len - (size_t)(line - (char *)b.p)) + 1;
    char *pos = strstr(line, "mem-total=") + 10;
    *pos = *pos == '9' ? '8' : '9';
    snprintf(p, sizeof p, "%s/tampered.txt", out);
    assert_int_equal(sim_write_file(p, b.p, b.len, 0644, NULL), SIM_OK);
    sim_err e2 = {0};
    assert_int_equal(sim_batch_verify(p, eum_pub, pki.tk, NULL, NULL, NULL, &e2), SIM_EVERIFY);
    /* truncated: no trailer */
    *pos = *pos == '9' ? '8' : '9';
    size_t cut = (size_t)(line - (char *)b.p);
    assert_int_equal(sim_write_file(p, b.p, cut, 0644, NULL), SIM_OK);
    sim_err e3 = {0};
    assert_int_equal(sim_batch_verify(p, eum_pub, pki.tk, NULL, NULL, NULL, &e3), SIM_EPARSE);
    /* wrong transport key */
    uint8_t tk2[16];
    memcpy(tk2, pki.tk, 16);
    tk2[0] ^= 1;
    snprintf(p, sizeof p, "%s/euicc-batch.txt", out);
    sim_err e4 = {0};
    assert_int_not_equal(sim_batch_verify(p, eum_pub, tk2, NULL, NULL, NULL, &e4), SIM_OK);

    sim_buf_free(&b);
    EVP_PKEY_free(eum_pub);
    sim_fleet_free(&g);
    sim_fleet_free(&f);
    sim_pki_free(&pki);
    tu_rmrf(dir);
}

static void test_es1_bodies(void **st)
{
    (void)st;
    char dir[64], pkidir[128], out[128];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    snprintf(pkidir, sizeof pkidir, "%s/pki", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    sim_err err = {0};
    sim_pki pki;
    if (sim_pki_generate(pkidir, &err) || sim_pki_load(pkidir, &pki, &err))
        fail_msg("pki: %s", err.msg);
    sim_fleet f;
    sim_fleet_init(&f);
    sim_fleet_opts o = {.count = 3, .first_serial = 1};
    assert_int_equal(sim_fleet_create(&f, &pki, &o, &err), SIM_OK);
    f.sms_only = 1; /* the last card declares no HTTPS support */
    assert_int_equal(sim_batch_write(&f, &pki, out, 1, &err), SIM_OK);
    {
        char bp[256];
        snprintf(bp, sizeof bp, "%s/euicc-batch.txt", out);
        sim_buf bb;
        sim_buf_init(&bb);
        assert_int_equal(sim_read_file(bp, &bb, NULL), SIM_OK);
        sim_buf_u8(&bb, 0);
        const char *r1 = strstr((const char *)bb.p, "\neis;"), *r3 = strrchr((const char *)bb.p, '\n');
        assert_non_null(r1);
        assert_non_null(strstr(r1, ";http=1;"));
        while (r3 > r1 && strncmp(r3, "\neis;", 5))
            r3--;
        assert_non_null(strstr(r3, ";http=0;"));
        assert_null(strstr(r3 + 1, ";http=1;"));
        sim_buf_free(&bb);
        /* the batch still verifies (the flag is signed like every field) */
        EVP_PKEY *ep = NULL;
        char ec[256];
        snprintf(ec, sizeof ec, "%s/eum1.crt", pkidir);
        assert_int_equal(sim_pem_cert_pub(ec, &ep, NULL, NULL), SIM_OK);
        size_t cnt = 0;
        assert_int_equal(sim_batch_verify(bp, ep, pki.tk, NULL, NULL, &cnt, &err), SIM_OK);
        assert_int_equal(cnt, 3);
        EVP_PKEY_free(ep);
    }
    char p[256];
    uint8_t eid[16];
    sim_eid_make(2, eid);
    char d[33];
    for (int i = 0; i < 16; i++) {
        d[2 * i] = (char)('0' + (eid[i] >> 4));
        d[2 * i + 1] = (char)('0' + (eid[i] & 15));
    }
    d[32] = 0;
    snprintf(p, sizeof p, "%s/es1/%s.xml", out, d);
    sim_buf b;
    sim_buf_init(&b);
    assert_int_equal(sim_read_file(p, &b, NULL), SIM_OK);
    sim_buf_u8(&b, 0);
    const char *x = (const char *)b.p;
    assert_non_null(strstr(x, "<ES1-RegisterEISRequest"));
    assert_non_null(strstr(x, d));
    /* the signature covers <EumSignedInfo>..</EumSignedInfo> exactly */
    const char *a = strstr(x, "<EumSignedInfo>"), *z = strstr(x, "</EumSignedInfo>");
    assert_non_null(a);
    assert_non_null(z);
    z += strlen("</EumSignedInfo>");
    const char *sv = strstr(x, "<ds:SignatureValue>") + strlen("<ds:SignatureValue>");
    char sh[129];
    memcpy(sh, sv, 128);
    sh[128] = 0;
    uint8_t sig[64];
    size_t sl;
    assert_int_equal(sim_unhex(sh, sig, 64, &sl, NULL), SIM_OK);
    EVP_PKEY *eum_pub = NULL;
    snprintf(p, sizeof p, "%s/eum1.crt", pkidir);
    assert_int_equal(sim_pem_cert_pub(p, &eum_pub, NULL, NULL), SIM_OK);
    assert_int_equal(sim_ecdsa_verify(eum_pub, a, (size_t)(z - a), sig, 64, NULL), SIM_OK);
    EVP_PKEY_free(eum_pub);
    sim_buf_free(&b);
    sim_fleet_free(&f);
    sim_pki_free(&pki);
    tu_rmrf(dir);
}

/* `sim pki --smdp-pub/--smsr-pub/--tls-pub`: certificates for keys held elsewhere (the appliance's HSM) */
static void test_pki_given_keys(void **st)
{
    (void)st;
    char dir[64], pkidir[128], p[256];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    snprintf(pkidir, sizeof pkidir, "%s/pki", dir);
    sim_err err = {0};
    EVP_PKEY *dp = NULL, *sr = NULL, *tls = NULL, *ci = NULL;
    uint8_t dpt[65], spt[65], tpt[65];
    assert_int_equal(sim_ec_keygen(SIM_CURVE_P256, &dp, &err), SIM_OK);
    assert_int_equal(sim_ec_keygen(SIM_CURVE_P256, &sr, &err), SIM_OK);
    assert_int_equal(sim_ec_keygen(SIM_CURVE_P256, &tls, &err), SIM_OK);
    assert_int_equal(sim_ec_pub_point(dp, dpt, &err), SIM_OK);
    assert_int_equal(sim_ec_pub_point(sr, spt, &err), SIM_OK);
    assert_int_equal(sim_ec_pub_point(tls, tpt, &err), SIM_OK);
    sim_pki_given g = {dpt, spt, tpt};
    if (sim_pki_generate2(pkidir, &g, &err))
        fail_msg("pki: %s", err.msg);
    snprintf(p, sizeof p, "%s/ci.crt", pkidir);
    assert_int_equal(sim_pem_cert_pub(p, &ci, NULL, &err), SIM_OK);
    const char *names[2] = {"smdp", "smsr"};
    const uint8_t *pts[2] = {dpt, spt};
    const uint8_t types[2] = {SIM_CERT_TYPE_SMDP, SIM_CERT_TYPE_SMSR};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s-gp.cert", pkidir, names[i]);
        sim_buf b;
        sim_buf_init(&b);
        assert_int_equal(sim_read_file(p, &b, NULL), SIM_OK);
        sim_gpcert c;
        assert_int_equal(sim_gpcert_parse(b.p, b.len, &c, &err), SIM_OK);
        assert_int_equal(sim_gpcert_verify(&c, ci, &err), SIM_OK);   /* signed by the CI */
        assert_memory_equal(c.pub, pts[i], 65);                        /* for the given key */
        assert_int_equal(c.cert_type, types[i]);
        sim_buf_free(&b);
        snprintf(p, sizeof p, "%s/%s-gp.key", pkidir, names[i]);
        struct stat sb;
        assert_int_not_equal(stat(p, &sb), 0);                          /* no key file written */
        char v[200], hx[131];
        snprintf(p, sizeof p, "%s.gppub", names[i]);
        assert_int_equal(sim_manifest_get(pkidir, p, v, sizeof v, &err), SIM_OK);
        sim_hex(hx, pts[i], 65);
        hx[130] = 0;
        assert_string_equal(v, hx);
    }
    /* smsr2 stays a generated key, and the TLS certificate for the given key is in the manifest */
    char v[64], tp[256];
    assert_int_equal(sim_manifest_get(pkidir, "smsr2.gpkey", v, sizeof v, &err), SIM_OK);
    assert_int_equal(sim_manifest_get(pkidir, "tls.smbox.cert", v, sizeof v, &err), SIM_OK);
    EVP_PKEY *tpub = NULL;
    uint8_t got[65];
    snprintf(tp, sizeof tp, "%s/%.60s", pkidir, v);
    assert_int_equal(sim_pem_cert_pub(tp, &tpub, NULL, &err), SIM_OK);
    assert_int_equal(sim_ec_pub_point(tpub, got, &err), SIM_OK);
    assert_memory_equal(got, tpt, 65);
    /* the EUM side still loads */
    sim_pki pki;
    assert_int_equal(sim_pki_load(pkidir, &pki, &err), SIM_OK);
    sim_pki_free(&pki);
    EVP_PKEY_free(tpub);
    EVP_PKEY_free(ci);
    EVP_PKEY_free(dp);
    EVP_PKEY_free(sr);
    EVP_PKEY_free(tls);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_fleet_10k),
        cmocka_unit_test(test_es1_bodies),
        cmocka_unit_test(test_pki_given_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
