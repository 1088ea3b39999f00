/* crypto/scp03: GlobalPlatform SCP03 host side.
 * Known answers: NIST SP 800-38B D.1 AES-CMAC (the PRF of the KDF and every MAC here,
 * tests/vectors/aes128_cmac_sp800_38b.json); pySim tests/unittests/test_globalplatform.py, the 9 SCP03 sessions (AES-128/192/256
 * x security levels 11, 03, 33) and the KCVs (tests/vectors/scp03_pysim.json, see SOURCES.md).
 * Independent check: random sessions against tests/crypto/ref_crypto.c (plain OpenSSL KDF + wrap).
 * Negative: wrong card cryptogram, tampered R-MAC, bad R-ENC padding, bad levels and APDUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/scp03.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

static hsm_key static_key(hsm_sess *s, const uint8_t *v, size_t len)
{
    hsm_keyspec sp;
    scp03_static_keyspec((unsigned)len, false, &sp);
    hsm_key k;
    sm_err err = {0};
    if (hsm_secret_import(s, &sp, v, len, &k, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return k;
}

/* AES-ECB of one block with an HSM key vs OpenSSL with the expected value: proves the session key
 * inside the HSM equals `expect` without reading it. */
static void assert_key_is(hsm_sess *s, const hsm_key *k, const uint8_t *expect, size_t len)
{
    uint8_t blk[16] = "session-key-chk", a[16], b[16];
    sm_err err = {0};
    if (hsm_aes_ecb_encrypt(s, k, blk, 16, a, &err) == SM_OK) {
        ref_aes_ecb(expect, len, blk, b);
    } else { /* MAC-only keys */
        sm_err_clear(&err);
        assert_int_equal(hsm_aes_cmac(s, k, blk, 16, a, &err), SM_OK);
        ref_aes_cmac(expect, len, blk, 16, b);
    }
    assert_memory_equal(a, b, 16);
}

static void run_pysim_case(hsm_sess *s, const tj *v, const tj *c)
{
    sm_err err = {0};
    const tj *ks = tj_get(tj_get(v, "keysets"), tj_str(c, "keyset"));
    size_t kl, ml;
    uint8_t *kenc_v = tj_hex(ks, "enc", &kl), *kmac_v = tj_hex(ks, "mac", &ml);
    hsm_key kenc = static_key(s, kenc_v, kl), kmac = static_key(s, kmac_v, ml);
    const tj *plain = tj_get(v, "plain_apdus");
    const tj *d = tj_get(c, "derived_by_compiler");

    size_t iucl, iurl;
    uint8_t *iuc = tj_hex(c, "init_upd_cmd", &iucl), *iur = tj_hex(c, "init_upd_rsp", &iurl);
    uint8_t cmd[14];
    scp03_init_update_apdu(iuc[2], iuc + 5, cmd);
    assert_memory_equal(cmd, iuc, 14);
    scp03_iu iu;
    assert_int_equal(scp03_parse_init_update(iur, iurl, &iu, &err), SM_OK);
    assert_int_equal(iu.i, 0x70);
    assert_true(iu.has_seq);

    scp03_session ss;
    if (scp03_open(s, &kenc, &kmac, (unsigned)kl, iuc + 5, &iu, &ss, &err) != SM_OK)
        fail_msg("%s: %s", tj_str(c, "name"), err.msg);
    size_t n;
    uint8_t *senc = tj_hex(d, "S_ENC", &n), *smac = tj_hex(d, "S_MAC", &n), *srmac = tj_hex(d, "S_RMAC", &n);
    assert_key_is(s, &ss.s_enc, senc, n);
    assert_key_is(s, &ss.s_mac, smac, n);
    assert_key_is(s, &ss.s_rmac, srmac, n);
    assert_hex_equal(ss.host_cryptogram, 8, tj_str(d, "host_cryptogram"));

    size_t eal;
    uint8_t *ea = tj_hex(c, "ext_auth_cmd", &eal), out[300], back[300];
    assert_int_equal(scp03_ext_auth(s, &ss, ea[2], out, &err), SM_OK);
    assert_memory_equal(out, ea, 21);
    assert_hex_equal(ss.mcv, 16, tj_str(d, "ext_auth_cmac_full16"));

    size_t pl, ol, bl;
    uint8_t *p = tj_hex(plain, "get_eid_cmd_plain", &pl);
    assert_int_equal(scp03_wrap(s, &ss, p, pl, out, sizeof out, &ol, &err), SM_OK);
    assert_hex_equal(out, ol, tj_str(c, "get_eid_cmd"));
    free(p);
    /* response: data || [R-MAC] with SW 9000 */
    size_t rl;
    uint8_t *r = tj_hex(c, "get_eid_rsp", &rl), rsp[300];
    memcpy(rsp, r, rl);
    rsp[rl] = 0x90;
    rsp[rl + 1] = 0x00;
    if (scp03_unwrap(s, &ss, rsp, rl + 2, back, sizeof back, &bl, &err) != SM_OK)
        fail_msg("%s: %s", tj_str(c, "name"), err.msg);
    assert_int_equal(bl, 23);
    assert_hex_equal(back, bl - 2, tj_str(plain, "get_eid_rsp_plain"));
    assert_int_equal(back[bl - 2], 0x90);
    if (ss.sl & SCP03_SL_RMAC) {
        /* one bit off in the response and the R-MAC no longer verifies */
        rsp[3] ^= 0x01;
        assert_int_equal(scp03_unwrap(s, &ss, rsp, rl + 2, back, sizeof back, &bl, &err), SM_EVERIFY);
        sm_err_clear(&err);
    }
    free(r);
    const char *cases[] = {"case_1_apdu", "case_2_apdu", "case_3_apdu", "case_4_apdu"};
    const char *plains[] = {"case_1_apdu_plain", "case_2_apdu_plain", "case_3_apdu_plain", "case_4_apdu_plain"};
    for (int i = 0; i < 4; i++) {
        p = tj_hex(plain, plains[i], &pl);
        assert_int_equal(scp03_wrap(s, &ss, p, pl, out, sizeof out, &ol, &err), SM_OK);
        assert_hex_equal(out, ol, tj_str(c, cases[i]));
        free(p);
    }
    scp03_close(s, &ss);
    hsm_key_destroy(s, &kenc, NULL);
    hsm_key_destroy(s, &kmac, NULL);
    free(kenc_v);
    free(kmac_v);
    free(iuc);
    free(iur);
    free(ea);
    free(senc);
    free(smac);
    free(srmac);
}

static void test_pysim_sessions(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp03_pysim.json");
    hsm_sess *s = sess();
    const tj *cases = tj_get(v, "cases");
    for (size_t i = 0; i < cases->n; i++)
        run_pysim_case(s, v, cases->items[i]);
    assert_int_equal(cases->n, 9);
    tj_free(v);
}

static void test_pysim_kcv(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp03_pysim.json");
    hsm_sess *s = sess();
    const tj *ks = tj_get(tj_get(v, "keysets"), "KEYSET_AES128"), *kcv = tj_get(v, "kcv_aes128_keyset");
    const char *names[] = {"enc", "mac", "dek"};
    for (int i = 0; i < 3; i++) {
        size_t l;
        uint8_t *k = tj_hex(ks, names[i], &l), out[3];
        hsm_key key = ct_aes(s, k, l, HSM_U_ENCRYPT);
        sm_err err = {0};
        assert_int_equal(scp03_kcv(s, &key, out, &err), SM_OK);
        char want[8];
        snprintf(want, sizeof want, "%s", tj_str(kcv, names[i]));
        for (char *q = want; *q; q++)
            *q = (char)(*q >= 'A' && *q <= 'F' ? *q + 32 : *q);
        assert_hex_equal(out, 3, want);
        free(k);
    }
    tj_free(v);
}

/* Random sessions at every level and key length, wrapped by crypto/ and by the reference. */
static void test_cross_check_reference(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t seed[4096];
    assert_int_equal(hsm_random(s, seed, sizeof seed, &err), SM_OK);
    size_t si = 0;
#define RND(p, n) (memcpy((p), seed + si, (n)), si = (si + (n)) % (sizeof seed - 300))
    const unsigned lens[] = {16, 24, 32};
    const uint8_t levels[] = {0x01, 0x03, 0x11, 0x13, 0x33};
    for (int li = 0; li < 3; li++)
        for (int sli = 0; sli < 5; sli++) {
            unsigned kl = lens[li];
            uint8_t kenc[32], kmac[32], hc[8], cc[8], ctx[16];
            RND(kenc, kl);
            RND(kmac, kl);
            RND(hc, 8);
            RND(cc, 8);
            memcpy(ctx, hc, 8);
            memcpy(ctx + 8, cc, 8);
            ref_scp03 r = {.klen = kl, .sl = levels[sli]};
            ref_scp03_kdf(kenc, kl, 0x04, ctx, 16, kl * 8, r.senc);
            ref_scp03_kdf(kmac, kl, 0x06, ctx, 16, kl * 8, r.smac);
            ref_scp03_kdf(kmac, kl, 0x07, ctx, 16, kl * 8, r.srmac);
            scp03_iu iu = {.kvn = 0x30, .scp_id = 3, .i = 0x70};
            memcpy(iu.card_challenge, cc, 8);
            ref_scp03_kdf(r.smac, kl, 0x00, ctx, 16, 64, iu.card_cryptogram);
            hsm_key ke = static_key(s, kenc, kl), km = static_key(s, kmac, kl);
            scp03_session ss;
            if (scp03_open(s, &ke, &km, kl, hc, &iu, &ss, &err) != SM_OK)
                fail_msg("%s", err.msg);
            uint8_t hcr[8], ea[21];
            ref_scp03_kdf(r.smac, kl, 0x01, ctx, 16, 64, hcr);
            assert_memory_equal(ss.host_cryptogram, hcr, 8);
            assert_int_equal(scp03_ext_auth(s, &ss, levels[sli], ea, &err), SM_OK);
            uint8_t m[29] = {0};
            memcpy(m + 16, ea, 13);
            ref_aes_cmac(r.smac, kl, m, 29, r.mcv);
            assert_memory_equal(ea + 13, r.mcv, 8);
            for (int k = 0; k < 12; k++) {
                uint8_t apdu[300], a[300], b[300];
                size_t dl = (size_t)(seed[si] % 200), al;
                RND(apdu, 4 + dl);
                apdu[0] = (uint8_t)(0x80 | (k & 3)); /* proprietary class, logical channels 0-3 */
                if (k % 4 == 0) {
                    al = 4;
                } else if (k % 4 == 1) {
                    apdu[4] = (uint8_t)dl;
                    al = 5;
                } else {
                    apdu[4] = (uint8_t)(dl ? dl : 1);
                    al = 5 + apdu[4] + (k % 4 == 3);
                }
                size_t ol = 0, rl;
                assert_int_equal(scp03_wrap(s, &ss, apdu, al, a, sizeof a, &ol, &err), SM_OK);
                rl = ref_scp03_wrap(&r, apdu, al, b);
                if (ol != rl || memcmp(a, b, ol) != 0)
                    fail_msg("level %02X len %u apdu %s\n crypto %s\n ref    %s", levels[sli], kl, ct_hex(apdu, al),
                             ct_hex(a, ol), ct_hex(b, rl));
            }
            scp03_close(s, &ss);
            hsm_key_destroy(s, &ke, NULL);
            hsm_key_destroy(s, &km, NULL);
        }
}

static void test_negative(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t kv[16] = "0123456789abcdef", hc[8] = "hostchal";
    hsm_key k = static_key(s, kv, 16);
    scp03_iu iu = {.kvn = 0x30, .scp_id = 3, .i = 0x70};
    memcpy(iu.card_challenge, "cardchal", 8);
    memcpy(iu.card_cryptogram, "wrongcc!", 8);
    scp03_session ss;
    assert_int_equal(scp03_open(s, &k, &k, 16, hc, &iu, &ss, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "card cryptogram"));
    sm_err_clear(&err);

    /* the INITIALIZE UPDATE response layout */
    uint8_t r[32] = {0};
    r[11] = 0x03;
    r[12] = 0x70;
    assert_int_equal(scp03_parse_init_update(r, 32, &iu, &err), SM_OK);
    assert_int_equal(scp03_parse_init_update(r, 29, &iu, &err), SM_EPROTO); /* i=70 needs the counter */
    sm_err_clear(&err);
    r[12] = 0x60;
    assert_int_equal(scp03_parse_init_update(r, 29, &iu, &err), SM_OK);
    r[11] = 0x02;
    assert_int_equal(scp03_parse_init_update(r, 29, &iu, &err), SM_EPROTO);
    sm_err_clear(&err);
    assert_int_equal(scp03_parse_init_update(r, 30, &iu, &err), SM_EPROTO);
    sm_err_clear(&err);

    /* levels, APDU shapes, state */
    hsm_key senc = ct_aes(s, kv, 16, HSM_U_ENCRYPT | HSM_U_DECRYPT), smac = ct_aes(s, kv, 16, HSM_U_SIGN);
    uint8_t mcv[16] = {0}, out[400], ea[21];
    scp03_session t;
    scp03_session_from_keys(&senc, &smac, &smac, 16, 0x33, mcv, 0, &t);
    t.authenticated = false;
    size_t ol;
    uint8_t apdu[300] = {0x80, 0xE2, 0x00, 0x00, 0x02, 0xAA, 0xBB};
    assert_int_equal(scp03_wrap(s, &t, apdu, 7, out, sizeof out, &ol, &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(scp03_ext_auth(s, &t, 0x31, ea, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(scp03_ext_auth(s, &t, 0x33, ea, &err), SM_OK);
    assert_int_equal(scp03_wrap(s, &t, apdu, 3, out, sizeof out, &ol, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(scp03_wrap(s, &t, apdu, 8 + 1, out, sizeof out, &ol, &err), SM_EINVAL); /* Lc mismatch */
    sm_err_clear(&err);
    apdu[4] = 0x00;
    assert_int_equal(scp03_wrap(s, &t, apdu, 9, out, sizeof out, &ol, &err), SM_EINVAL); /* extended */
    sm_err_clear(&err);
    apdu[4] = 240; /* pads to 256 + 8 > 255 */
    assert_int_equal(scp03_wrap(s, &t, apdu, 245, out, sizeof out, &ol, &err), SM_EINVAL);
    sm_err_clear(&err);
    apdu[4] = 2;
    assert_int_equal(scp03_wrap(s, &t, apdu, 7, out, sizeof out, &ol, &err), SM_OK);
    /* responses: no R-MAC, short, bad R-ENC padding */
    uint8_t rsp[40] = {0x90, 0x00};
    assert_int_equal(scp03_unwrap(s, &t, rsp, 2, out, sizeof out, &ol, &err), SM_EVERIFY);
    sm_err_clear(&err);
    assert_int_equal(scp03_unwrap(s, &t, rsp, 1, out, sizeof out, &ol, &err), SM_EPROTO);
    sm_err_clear(&err);
    /* an error status carries no R-MAC and no data */
    rsp[0] = 0x6A;
    rsp[1] = 0x82;
    assert_int_equal(scp03_unwrap(s, &t, rsp, 2, out, sizeof out, &ol, &err), SM_OK);
    assert_int_equal(ol, 2);
    /* a well-MACed response whose plaintext padding is wrong */
    uint8_t enc[16], zero16[16] = {0}, blk[16] = {0}, icv[16];
    blk[0] = 0x80;
    blk[15] = (uint8_t)t.ctr;
    ref_aes_ecb(kv, 16, blk, icv);
    ref_aes_cbc(1, kv, 16, icv, zero16, 16, enc); /* plaintext of zeros: no 80 marker */
    uint8_t m[16 + 16 + 2];
    memcpy(m, t.mcv, 16);
    memcpy(m + 16, enc, 16);
    m[32] = 0x90;
    m[33] = 0x00;
    uint8_t rmac[16];
    ref_aes_cmac(kv, 16, m, 34, rmac);
    memcpy(rsp, enc, 16);
    memcpy(rsp + 16, rmac, 8);
    rsp[24] = 0x90;
    rsp[25] = 0x00;
    assert_int_equal(scp03_unwrap(s, &t, rsp, 26, out, sizeof out, &ol, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "pad80"));
}

/* SP 800-108 KDF outputs against the reference for lengths 64..256 and contexts of any size
 * (in-token and fallback paths both). */
static void test_kdf(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t key[32], ctx[40], a[32], b[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 13 + 1);
    for (int i = 0; i < 40; i++)
        ctx[i] = (uint8_t)(i * 7);
    const unsigned klens[] = {16, 32};
    for (int ki = 0; ki < 2; ki++) {
        hsm_key k = static_key(s, key, klens[ki]);
        const unsigned bits[] = {64, 128, 192, 256};
        for (int bi = 0; bi < 4; bi++) {
            assert_int_equal(scp03_kdf(s, &k, 0x04, ctx, 16, bits[bi], a, &err), SM_OK);
            ref_scp03_kdf(key, klens[ki], 0x04, ctx, 16, bits[bi], b);
            assert_memory_equal(a, b, bits[bi] / 8);
        }
        /* session keys: 16 bytes with a 16-byte context runs in the token, others fall back */
        const size_t ctxl[] = {16, 19, 8};
        for (int ci = 0; ci < 3; ci++)
            for (unsigned ol = 16; ol <= 32; ol += 8) {
                hsm_keyspec sp = {.type = HSM_KT_AES, .len = ol, .usage = HSM_U_ENCRYPT};
                hsm_key out;
                assert_int_equal(scp03_kdf_key(s, &k, 0x06, ctx, ctxl[ci], &sp, &out, &err), SM_OK);
                ref_scp03_kdf(key, klens[ki], 0x06, ctx, ctxl[ci], ol * 8, b);
                assert_key_is(s, &out, b, ol);
                /* the derived key is sensitive like every other */
                uint8_t v[64];
                size_t vl;
                assert_int_not_equal(hsm_key_try_read_value(s, &out, v, sizeof v, &vl, &err), SM_OK);
                sm_err_clear(&err);
                hsm_key_destroy(s, &out, NULL);
            }
    }
    assert_int_equal(scp03_kdf(s, &(hsm_key){0}, 0, ctx, 65, 64, a, &err), SM_EINVAL);
}

/* NIST SP 800-38B D.1: the four AES-128 examples, with a key made by scp03_static_keyspec, and the
 * OpenSSL reference agreeing. */
static void test_cmac_sp800_38b(void **state)
{
    tj *v = ct_vectors("tests/vectors/aes128_cmac_sp800_38b.json");
    hsm_sess *s = sess();
    size_t kl;
    uint8_t *kv = tj_hex(v, "key", &kl);
    hsm_key k = static_key(s, kv, kl);
    const tj *tests = tj_get(v, "tests");
    for (size_t i = 0; i < tests->n; i++) {
        size_t ml, tl;
        uint8_t *m = tj_hex(tests->items[i], "M", &ml), *t = tj_hex(tests->items[i], "T", &tl), mac[16], ref[16];
        sm_err err = {0};
        assert_int_equal(hsm_aes_cmac(s, &k, m, ml, mac, &err), SM_OK);
        assert_memory_equal(mac, t, 16);
        ref_aes_cmac(kv, kl, m, ml, ref);
        assert_memory_equal(ref, t, 16);
        free(m);
        free(t);
    }
    assert_int_equal(tests->n, 4);
    free(kv);
    tj_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cmac_sp800_38b, return_sessions),
        cmocka_unit_test_teardown(test_pysim_sessions, return_sessions),
        cmocka_unit_test_teardown(test_pysim_kcv, return_sessions),
        cmocka_unit_test_teardown(test_kdf, return_sessions),
        cmocka_unit_test_teardown(test_cross_check_reference, return_sessions),
        cmocka_unit_test_teardown(test_negative, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_scp03", tests, ct_group_setup, ct_group_teardown);
}
