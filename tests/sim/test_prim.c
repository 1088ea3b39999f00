/* Known-answer tests of the simulator's primitives against public vectors in tests/vectors/:
 * AES-CMAC (NIST SP 800-38B D.1), X9.63 KDF (NIST CAVP), ECDH (RFC 7027, Wycheproof P-256 points),
 * ECDSA P-256 plain signatures (Wycheproof P1363), SCP03 KDF (pySim SCP03 derived keys), RFC 5649 wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/ec.h"
#include "tests/sim/prim.h"
#include "tests/sim/testutil.h"

static void test_cmac_sp800_38b(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/aes128_cmac_sp800_38b.json");
    assert_non_null(j);
    uint8_t key[16];
    tu_hex(tj_str(tj_get(j, "key")), key, 16);
    const tj *tests = tj_get(j, "tests");
    assert_int_equal(tj_len(tests), 4);
    for (size_t i = 0; i < tj_len(tests); i++) {
        sim_buf m; sim_buf_init(&m);
        tu_hexbuf(tj_str(tj_get(tj_at(tests, i), "M")), &m);
        uint8_t exp[16], got[16];
        tu_hex(tj_str(tj_get(tj_at(tests, i), "T")), exp, 16);
        assert_int_equal(sim_cmac1(key, 16, m.p, m.len, got, NULL), SIM_OK);
        assert_memory_equal(got, exp, 16);
        /* incremental, byte by byte, gives the same tag */
        sim_cmac c;
        assert_int_equal(sim_cmac_init(&c, key, 16, NULL), SIM_OK);
        for (size_t k = 0; k < m.len; k++)
            assert_int_equal(sim_cmac_update(&c, m.p + k, 1, NULL), SIM_OK);
        assert_int_equal(sim_cmac_final(&c, got, NULL), SIM_OK);
        assert_memory_equal(got, exp, 16);
        sim_buf_free(&m);
    }
    tj_free(j);
}

static void test_x963_cavp(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/x963_kdf_sha256_cavp.json");
    assert_non_null(j);
    const tj *groups = tj_get(j, "testGroups");
    size_t count = 0;
    for (size_t g = 0; g < tj_len(groups); g++) {
        const tj *tests = tj_get(tj_at(groups, g), "tests");
        for (size_t i = 0; i < tj_len(tests); i++) {
            const tj *t = tj_at(tests, i);
            sim_buf z, info, exp;
            sim_buf_init(&z); sim_buf_init(&info); sim_buf_init(&exp);
            tu_hexbuf(tj_str(tj_get(t, "Z")), &z);
            tu_hexbuf(tj_str(tj_get(t, "SharedInfo")), &info);
            tu_hexbuf(tj_str(tj_get(t, "key_data")), &exp);
            uint8_t out[256];
            assert_true(exp.len <= sizeof out);
            assert_int_equal(sim_x963_kdf(z.p, z.len, info.p, info.len, out, exp.len, NULL), SIM_OK);
            assert_memory_equal(out, exp.p, exp.len);
            count++;
            sim_buf_free(&z); sim_buf_free(&info); sim_buf_free(&exp);
        }
    }
    assert_int_equal(count, 20);
    tj_free(j);
}

static void test_ecdh_rfc7027(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/ecdh_brainpoolP256r1_rfc7027.json");
    assert_non_null(j);
    uint8_t da[32], pb[65], z[32], exp[32];
    tu_hex(tj_str(tj_get(j, "dA")), da, 32);
    pb[0] = 4;
    tu_hex(tj_str(tj_get(j, "x_qB")), pb + 1, 32);
    tu_hex(tj_str(tj_get(j, "y_qB")), pb + 33, 32);
    tu_hex(tj_str(tj_get(j, "x_Z")), exp, 32);
    EVP_PKEY *a = NULL, *b = NULL;
    assert_int_equal(sim_ec_priv_from_bytes(SIM_CURVE_BP256R1, da, &a, NULL), SIM_OK);
    assert_int_equal(sim_ec_pub_from_point(SIM_CURVE_BP256R1, pb, 65, &b, NULL), SIM_OK);
    assert_int_equal(sim_ecdh(a, b, z, NULL), SIM_OK);
    assert_memory_equal(z, exp, 32);
    /* the public point computed from dA matches QA */
    uint8_t qa[65], expqa[65];
    expqa[0] = 4;
    tu_hex(tj_str(tj_get(j, "x_qA")), expqa + 1, 32);
    tu_hex(tj_str(tj_get(j, "y_qA")), expqa + 33, 32);
    assert_int_equal(sim_ec_pub_point(a, qa, NULL), SIM_OK);
    assert_memory_equal(qa, expqa, 65);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    tj_free(j);
}

static void test_ecdh_wycheproof_p256(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/wycheproof_ecdh_secp256r1_ecpoint_subset.json");
    assert_non_null(j);
    const tj *tests = tj_get(tj_at(tj_get(j, "testGroups"), 0), "tests");
    size_t valid = 0, rejected = 0;
    for (size_t i = 0; i < tj_len(tests); i++) {
        const tj *t = tj_at(tests, i);
        const char *res = tj_str(tj_get(t, "result"));
        sim_buf pub, priv, shared;
        sim_buf_init(&pub); sim_buf_init(&priv); sim_buf_init(&shared);
        tu_hexbuf(tj_str(tj_get(t, "public")), &pub);
        tu_hexbuf(tj_str(tj_get(t, "private")), &priv);
        tu_hexbuf(tj_str(tj_get(t, "shared")), &shared);
        uint8_t d[32] = {0};
        const uint8_t *dp = priv.p;
        size_t dl = priv.len;
        while (dl > 32 && *dp == 0) { dp++; dl--; }
        memcpy(d + 32 - dl, dp, dl);
        EVP_PKEY *a = NULL, *b = NULL;
        uint8_t z[32];
        assert_int_equal(sim_ec_priv_from_bytes(SIM_CURVE_P256, d, &a, NULL), SIM_OK);
        sim_rc rc = sim_ec_pub_from_point(SIM_CURVE_P256, pub.p, pub.len, &b, NULL);
        if (rc == SIM_OK)
            rc = sim_ecdh(a, b, z, NULL);
        if (!strcmp(res, "valid")) {
            assert_int_equal(rc, SIM_OK);
            assert_memory_equal(z, shared.p, 32);
            valid++;
        } else if (!strcmp(res, "invalid")) {
            assert_int_not_equal(rc, SIM_OK);
            rejected++;
        }
        EVP_PKEY_free(a); EVP_PKEY_free(b);
        sim_buf_free(&pub); sim_buf_free(&priv); sim_buf_free(&shared);
    }
    assert_true(valid >= 5);
    assert_true(rejected >= 3);
    tj_free(j);
}

static void test_ecdsa_wycheproof_p1363(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/wycheproof_ecdsa_secp256r1_sha256_p1363_subset.json");
    assert_non_null(j);
    const tj *groups = tj_get(j, "testGroups");
    size_t n = 0;
    for (size_t g = 0; g < tj_len(groups); g++) {
        const tj *pk = tj_get(tj_at(groups, g), "publicKey");
        sim_buf pt; sim_buf_init(&pt);
        tu_hexbuf(tj_str(tj_get(pk, "uncompressed")), &pt);
        EVP_PKEY *k = NULL;
        sim_rc krc = sim_ec_pub_from_point(SIM_CURVE_P256, pt.p, pt.len, &k, NULL);
        const tj *tests = tj_get(tj_at(groups, g), "tests");
        for (size_t i = 0; i < tj_len(tests); i++) {
            const tj *t = tj_at(tests, i);
            sim_buf msg, sig; sim_buf_init(&msg); sim_buf_init(&sig);
            tu_hexbuf(tj_str(tj_get(t, "msg")), &msg);
            tu_hexbuf(tj_str(tj_get(t, "sig")), &sig);
            sim_rc rc = krc == SIM_OK ? sim_ecdsa_verify(k, msg.p, msg.len, sig.p, sig.len, NULL) : krc;
            const char *res = tj_str(tj_get(t, "result"));
            if (!strcmp(res, "valid"))
                assert_int_equal(rc, SIM_OK);
            else if (!strcmp(res, "invalid"))
                assert_int_not_equal(rc, SIM_OK);
            n++;
            sim_buf_free(&msg); sim_buf_free(&sig);
        }
        EVP_PKEY_free(k);
        sim_buf_free(&pt);
    }
    assert_int_equal(n, 12);
    tj_free(j);
}

static void test_ecdsa_roundtrip(void **st)
{
    (void)st;
    for (uint8_t ref = 0; ref <= 3; ref += 3) {
        EVP_PKEY *k = NULL;
        assert_int_equal(sim_ec_keygen(ref, &k, NULL), SIM_OK);
        uint8_t sig[64];
        assert_int_equal(sim_ecdsa_sign(k, "abc", 3, sig, NULL), SIM_OK);
        assert_int_equal(sim_ecdsa_verify(k, "abc", 3, sig, 64, NULL), SIM_OK);
        sig[10] ^= 1;
        sim_err e = {0};
        assert_int_equal(sim_ecdsa_verify(k, "abc", 3, sig, 64, &e), SIM_EVERIFY);
        assert_int_equal(sim_ec_curve_ref(k), ref);
        uint8_t d[32];
        EVP_PKEY *k2 = NULL;
        assert_int_equal(sim_ec_priv_bytes(k, d, NULL), SIM_OK);
        assert_int_equal(sim_ec_priv_from_bytes(ref, d, &k2, NULL), SIM_OK);
        uint8_t p1[65], p2[65];
        assert_int_equal(sim_ec_pub_point(k, p1, NULL), SIM_OK);
        assert_int_equal(sim_ec_pub_point(k2, p2, NULL), SIM_OK);
        assert_memory_equal(p1, p2, 65);
        EVP_PKEY_free(k); EVP_PKEY_free(k2);
    }
}

/* SCP03 KDF against the pySim session keys (derived_by_compiler values, checked against the
 * cryptograms of the source file). */
static void test_scp03_kdf(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/scp03_pysim.json");
    assert_non_null(j);
    const tj *cases = tj_get(j, "cases");
    assert_true(tj_len(cases) == 9);
    for (size_t i = 0; i < tj_len(cases); i++) {
        const tj *c = tj_at(cases, i);
        const tj *ks = tj_get(tj_get(j, "keysets"), tj_str(tj_get(c, "keyset")));
        const tj *d = tj_get(c, "derived_by_compiler");
        uint8_t enc[32], mac[32], ctx[16], exp[32], out[32];
        size_t kl = tu_hex(tj_str(tj_get(ks, "enc")), enc, 32);
        tu_hex(tj_str(tj_get(ks, "mac")), mac, 32);
        tu_hex(tj_str(tj_get(d, "host_challenge")), ctx, 8);
        tu_hex(tj_str(tj_get(d, "card_challenge")), ctx + 8, 8);
        size_t el = tu_hex(tj_str(tj_get(d, "S_ENC")), exp, 32);
        assert_int_equal(sim_scp03_kdf(enc, kl, 0x04, ctx, 16, (unsigned)el * 8, out, NULL), SIM_OK);
        assert_memory_equal(out, exp, el);
        tu_hex(tj_str(tj_get(d, "S_MAC")), exp, 32);
        assert_int_equal(sim_scp03_kdf(mac, kl, 0x06, ctx, 16, (unsigned)el * 8, out, NULL), SIM_OK);
        assert_memory_equal(out, exp, el);
        /* card cryptogram = KDF(S-MAC, 00, ctx, 64) */
        uint8_t smac[32], cc[8];
        tu_hex(tj_str(tj_get(d, "S_MAC")), smac, 32);
        tu_hex(tj_str(tj_get(d, "card_cryptogram")), cc, 8);
        assert_int_equal(sim_scp03_kdf(smac, el, 0x00, ctx, 16, 64, out, NULL), SIM_OK);
        assert_memory_equal(out, cc, 8);
    }
    /* KCV (pySim SCP03_KCV_Test) */
    uint8_t k[16], kcv[3], exp[3];
    tu_hex(tj_str(tj_path(j, "keysets/KEYSET_AES128/enc")), k, 16);
    tu_hex(tj_str(tj_path(j, "kcv_aes128_keyset/enc")), exp, 3);
    assert_int_equal(sim_kcv_aes(k, 16, kcv, NULL), SIM_OK);
    assert_memory_equal(kcv, exp, 3);
    tj_free(j);
}

/* RFC 5649 section 6, first example (192-bit KEK, 20-byte key). */
static void test_kwp_rfc5649(void **st)
{
    (void)st;
    uint8_t kek[24], key[20], exp[32];
    tu_hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek, 24);
    tu_hex("c37b7e6492584340bed12207808941155068f738", key, 20);
    tu_hex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a", exp, 32);
    sim_buf w, u;
    sim_buf_init(&w); sim_buf_init(&u);
    assert_int_equal(sim_kwp_wrap(kek, 24, key, 20, &w, NULL), SIM_OK);
    assert_int_equal(w.len, 32);
    assert_memory_equal(w.p, exp, 32);
    assert_int_equal(sim_kwp_unwrap(kek, 24, w.p, w.len, &u, NULL), SIM_OK);
    assert_int_equal(u.len, 20);
    assert_memory_equal(u.p, key, 20);
    w.p[5] ^= 1;
    sim_buf_reset(&u);
    sim_err e = {0};
    assert_int_equal(sim_kwp_unwrap(kek, 24, w.p, w.len, &u, &e), SIM_EVERIFY);
    sim_buf_free(&w); sim_buf_free(&u);
}

static void test_pad80(void **st)
{
    (void)st;
    sim_buf b; sim_buf_init(&b);
    sim_buf_put(&b, "0123456789abcdef", 16);
    sim_pad80(&b);
    assert_int_equal(b.len, 32);
    size_t n = 0;
    assert_int_equal(sim_unpad80(b.p, b.len, &n, NULL), SIM_OK);
    assert_int_equal(n, 16);
    b.p[16] = 0x81;
    sim_err e = {0};
    assert_int_equal(sim_unpad80(b.p, b.len, &n, &e), SIM_EPARSE);
    sim_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmac_sp800_38b),   cmocka_unit_test(test_x963_cavp),
        cmocka_unit_test(test_ecdh_rfc7027),     cmocka_unit_test(test_ecdh_wycheproof_p256),
        cmocka_unit_test(test_ecdsa_wycheproof_p1363), cmocka_unit_test(test_ecdsa_roundtrip),
        cmocka_unit_test(test_scp03_kdf),        cmocka_unit_test(test_kwp_rfc5649),
        cmocka_unit_test(test_pad80),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
