/* crypto/scp03t: SCP03 over TLVs for the ES8 profile download.
 * Known answers: pySim tests/unittests/test_esim_bsp.py and test_esim.py (SGP.22 BSP, the same
 * TLV construction): ECKA P-256 -> X9.63 KDF -> MCV/S-ENC/S-MAC, the encrypt+MAC / MAC-only chain
 * and the two 1016-byte segments (tests/vectors/scp03t_bsp_pysim.json, see SOURCES.md).
 * Regression only: the self-computed WHTY-key example of crypto.md §4 (not an independent vector).
 * Independent check: a 20 KiB profile package protected by crypto/ is verified and decrypted with
 * plain OpenSSL (tests/crypto/ref_crypto.c); card responses built with OpenSSL are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/scp03t.h"
#include "crypto/tlv.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

static hsm_key aes(hsm_sess *s, const char *hex, unsigned usage)
{
    size_t l;
    uint8_t *v = ct_unhex(hex, &l);
    hsm_key k = ct_aes(s, v, l, usage);
    free(v);
    return k;
}

static void assert_key_is(hsm_sess *s, const hsm_key *k, const char *hex)
{
    size_t l;
    uint8_t *v = ct_unhex(hex, &l), blk[16] = "key-check-block", a[16], b[16];
    sm_err err = {0};
    if (hsm_aes_ecb_encrypt(s, k, blk, 16, a, &err) == SM_OK) {
        ref_aes_ecb(v, l, blk, b);
    } else {
        sm_err_clear(&err);
        assert_int_equal(hsm_aes_cmac(s, k, blk, 16, a, &err), SM_OK);
        ref_aes_cmac(v, l, blk, 16, b);
    }
    assert_memory_equal(a, b, 16);
    free(v);
}

/* BSP KDF and ECKA through the HSM: X9.63 from a given shared secret, and ECDH with an imported
 * test private key (pySim TestECKA) feeding the mode51 KDF. */
static void test_bsp_kdf_and_ecka(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp03t_bsp_pysim.json");
    hsm_sess *s = sess();
    sm_err err = {0};
    const hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_SIGN};
    hsm_keyspec specs[3] = {sp, sp, sp};
    const tj *kdf = tj_get(v, "kdf");
    for (size_t i = 0; i < kdf->n; i++) {
        const tj *c = kdf->items[i];
        size_t zl, sil;
        uint8_t *z = tj_hex(c, "shared_secret", &zl), *si = tj_hex(c, "shared_info_by_compiler", &sil);
        hsm_key out[3];
        assert_int_equal(hsm_x963_from_value(s, z, zl, si, sil, specs, 3, out, &err), SM_OK);
        assert_key_is(s, &out[0], tj_str(c, "expected_initial_mcv"));
        assert_key_is(s, &out[1], tj_str(c, "expected_s_enc"));
        assert_key_is(s, &out[2], tj_str(c, "expected_s_mac"));
        free(z);
        free(si);
    }
    const tj *e = tj_get(v, "ecka_p256");
    size_t dl, pl, ol;
    uint8_t *d = tj_hex(e, "smdp_otsk", &dl), *peer = tj_hex(e, "euicc_otpk", &pl), *own = tj_hex(e, "smdp_otpk", &ol);
    hsm_keyspec esp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_DERIVE};
    hsm_key priv;
    assert_int_equal(hsm_ec_import_private(s, &esp, d, dl, &priv, &err), SM_OK);
    const tj *m51 = kdf->items[1];
    size_t sil;
    uint8_t *si = tj_hex(m51, "shared_info_by_compiler", &sil);
    hsm_key out[3];
    assert_int_equal(hsm_ecdh_x963(s, &priv, peer, pl, si, sil, specs, 3, out, &err), SM_OK);
    assert_key_is(s, &out[0], tj_str(m51, "expected_initial_mcv"));
    assert_key_is(s, &out[1], tj_str(m51, "expected_s_enc"));
    assert_key_is(s, &out[2], tj_str(m51, "expected_s_mac"));
    /* the independent side agrees on the shared secret */
    EVP_PKEY *k = ref_ec_from_priv("prime256v1", d);
    uint8_t pub[65], z[32];
    ref_ec_pub(k, pub);
    assert_memory_equal(pub, own, 65);
    assert_int_equal(ref_ecdh(k, "prime256v1", peer, z), 0);
    assert_hex_equal(z, 32, tj_str(e, "expected_shared_secret"));
    EVP_PKEY_free(k);
    free(d);
    free(peer);
    free(own);
    free(si);
    tj_free(v);
}

static void bsp_session(hsm_sess *s, const tj *o, scp03t_session *ss)
{
    hsm_key senc = aes(s, tj_str(o, "s_enc"), HSM_U_ENCRYPT | HSM_U_DECRYPT);
    hsm_key smac = aes(s, tj_str(o, "s_mac"), HSM_U_SIGN);
    size_t ml;
    uint8_t *mcv = tj_hex(o, "initial_mcv", &ml);
    scp03t_session_from_keys(&senc, &smac, &smac, mcv, ss);
    free(mcv);
}

static void test_bsp_chain(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp03t_bsp_pysim.json");
    hsm_sess *s = sess();
    sm_err err = {0};
    scp03t_session ss;
    const tj *m = tj_get(v, "bsp_mode51_session");
    bsp_session(s, m, &ss);
    const tj *steps = tj_get(m, "steps");
    sm_buf out;
    sm_buf_init(&out);
    for (size_t i = 0; i < steps->n; i++) {
        const tj *st = steps->items[i];
        size_t il, tl;
        uint8_t *in = tj_hex(st, "input", &il), *tag = tj_hex(st, "tag", &tl);
        bool enc = strcmp(tj_str(st, "op"), "encrypt_and_mac") == 0;
        sm_buf_reset(&out);
        assert_int_equal(scp03t_wrap_tlv(s, &ss, tag[0], enc, in, il, &out, &err), SM_OK);
        assert_hex_equal(out.data, out.len, tj_str(st, "expected_output_first_segment"));
        free(in);
        free(tag);
    }
    scp03t_close(s, &ss);

    /* the two 1016-byte segments through scp03t_protect (1007-byte plaintext segments) */
    const tj *r = tj_get(v, "bsp_replaced_session_keys");
    bsp_session(s, r, &ss);
    const tj *segs = tj_get(r, "segments");
    sm_buf pkg, expect;
    sm_buf_init(&pkg);
    sm_buf_init(&expect);
    for (size_t i = 0; i < segs->n; i++) {
        size_t il, el;
        uint8_t *in = tj_hex(segs->items[i], "input", &il), *ex = tj_hex(segs->items[i], "expected_output", &el);
        assert_int_equal(il, 1007);
        assert_int_equal(el, 1020);
        sm_buf_append(&pkg, in, il);
        sm_buf_append(&expect, ex, el);
        free(in);
        free(ex);
    }
    sm_buf_reset(&out);
    assert_int_equal(ss.seg_max, SCP03T_SEG_DEFAULT);
    assert_int_equal(scp03t_protect(s, &ss, pkg.data, pkg.len, &out, &err), SM_OK);
    assert_int_equal(out.len, expect.len);
    assert_memory_equal(out.data, expect.data, out.len);
    assert_int_equal(ss.segments_sent, 2);
    scp03t_close(s, &ss);
    sm_buf_free(&out);
    sm_buf_free(&pkg);
    sm_buf_free(&expect);
    tj_free(v);
}

/* crypto.md §4 self-computed example (WHTY test keys): regression values only. */
static void test_whty_example(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec sp;
    scp03_static_keyspec(16, false, &sp);
    uint8_t kv[16], aid[16], hc[8] = {1, 2, 3, 4, 5, 6, 7, 8}, seq[3] = {0, 0, 1};
    testenv_unhex("11223344556677889910111213141516", kv, 16);
    testenv_unhex("A0000005591010FFFFFFFF8900001000", aid, 16);
    hsm_key k;
    assert_int_equal(hsm_secret_import(s, &sp, kv, 16, &k, &err), SM_OK);
    scp03t_session ss;
    assert_int_equal(scp03t_open_precomputed(s, &k, &k, 16, hc, seq, aid, 16, &ss, &err), SM_OK);
    assert_hex_equal(ss.sc.card_challenge, 8, "7f25f5dd3229a567");
    assert_hex_equal(ss.expect_cryptogram, 8, "1f673f3737635530");
    assert_hex_equal(ss.sc.host_cryptogram, 8, "3b4d70ddcacd6b60");
    assert_key_is(s, &ss.sc.s_enc, "7d0a20328bab7b91c4af7c5840532e3d");
    assert_key_is(s, &ss.sc.s_mac, "f57da4e3de389e00d1387963197c4c21");
    sm_buf out;
    sm_buf_init(&out);
    assert_int_equal(scp03t_init_update_tlv(0x30, hc, &out, &err), SM_OK);
    assert_hex_equal(out.data, out.len, "840A30000102030405060708");
    sm_buf_reset(&out);
    assert_int_equal(scp03t_ext_auth_tlv(s, &ss, 0x33, &out, &err), SM_OK);
    assert_hex_equal(out.data, out.len, "8511333b4d70ddcacd6b6018f2bc6391240acf");
    sm_buf_reset(&out);
    const uint8_t pe[] = {0xA0, 0x05, 0x80, 0x00, 0x81, 0x01, 0x01};
    assert_int_equal(scp03t_protect(s, &ss, pe, sizeof pe, &out, &err), SM_OK);
    assert_hex_equal(out.data, out.len, "8618fd560393092469ee48f1e3f2de7dea2ab9e0f3800ab5d876");

    /* responses are refused until the card's 84 answer has been checked */
    uint8_t ok86[] = {0x86, 0x00};
    assert_int_equal(scp03t_check_responses(s, &ss, ok86, 2, NULL, &err), SM_ESTATE);
    sm_err_clear(&err);
    scp03_iu iu = {.scp_id = 3, .i = 0x70, .has_seq = true};
    memcpy(iu.card_challenge, ss.sc.card_challenge, 8);
    memcpy(iu.card_cryptogram, "12345678", 8);
    assert_int_equal(scp03t_check_init_update(&ss, &iu, &err), SM_EVERIFY);
    sm_err_clear(&err);
    iu.card_challenge[0] ^= 1;
    assert_int_equal(scp03t_check_init_update(&ss, &iu, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "sequence counter"));
    sm_err_clear(&err);
    iu.card_challenge[0] ^= 1;
    memcpy(iu.card_cryptogram, ss.expect_cryptogram, 8);
    assert_int_equal(scp03t_check_init_update(&ss, &iu, &err), SM_OK);
    assert_int_equal(scp03t_check_responses(s, &ss, ok86, 2, NULL, &err), SM_OK);
    /* one response too many */
    assert_int_equal(scp03t_check_responses(s, &ss, ok86, 2, NULL, &err), SM_EPROTO);
    scp03t_close(s, &ss);
    sm_buf_free(&out);
}

/* Reads a file of the source tree into a malloc'd buffer. */
static uint8_t *slurp(const char *rel, size_t *len)
{
    char path[1024];
    FILE *f = fopen(testenv_path(path, sizeof path, rel), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* A 20 KiB profile package: protected by crypto/, verified and decrypted by the OpenSSL reference;
 * then card responses (86 00, 86 with R-ENC||R-MAC, 9F46) checked by crypto/. */
static void test_profile_roundtrip_reference(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    size_t plen;
    uint8_t *prof = slurp("tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der", &plen);
    if (plen > 20480)
        plen = 20480;
    uint8_t kenc[16], kmac[16], hc[8], cc[8], ctx[16];
    assert_int_equal(hsm_random(s, kenc, 16, &err), SM_OK);
    assert_int_equal(hsm_random(s, kmac, 16, &err), SM_OK);
    assert_int_equal(hsm_random(s, hc, 8, &err), SM_OK);
    assert_int_equal(hsm_random(s, cc, 8, &err), SM_OK);
    memcpy(ctx, hc, 8);
    memcpy(ctx + 8, cc, 8);
    uint8_t senc[16], smac[16], srmac[16];
    ref_scp03_kdf(kenc, 16, 0x04, ctx, 16, 128, senc);
    ref_scp03_kdf(kmac, 16, 0x06, ctx, 16, 128, smac);
    ref_scp03_kdf(kmac, 16, 0x07, ctx, 16, 128, srmac);
    scp03_iu iu = {.scp_id = 3, .i = 0x70, .has_seq = true};
    memcpy(iu.card_challenge, cc, 8);
    ref_scp03_kdf(smac, 16, 0x00, ctx, 16, 64, iu.card_cryptogram);
    hsm_keyspec sp;
    scp03_static_keyspec(16, false, &sp);
    hsm_key ke, km;
    assert_int_equal(hsm_secret_import(s, &sp, kenc, 16, &ke, &err), SM_OK);
    assert_int_equal(hsm_secret_import(s, &sp, kmac, 16, &km, &err), SM_OK);
    scp03t_session ss;
    assert_int_equal(scp03t_open(s, &ke, &km, 16, hc, &iu, &ss, &err), SM_OK);
    sm_buf out;
    sm_buf_init(&out);
    assert_int_equal(scp03t_protect(s, &ss, prof, plen, &out, &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(scp03t_ext_auth_tlv(s, &ss, 0x33, &out, &err), SM_OK);
    size_t ea_len = out.len;
    assert_int_equal(scp03t_protect(s, &ss, prof, plen, &out, &err), SM_OK);

    /* independent verification: MAC chain from the 85 TLV, counter ICVs, decryption */
    uint8_t mcv[16], m[16 + 4 + 1100], back[1100];
    uint8_t ea_in[16 + 11] = {0};
    memcpy(ea_in + 16, out.data, 11);
    ref_aes_cmac(smac, 16, ea_in, 27, mcv);
    assert_memory_equal(out.data + 11, mcv, 8);
    tlv_rd r;
    tlv_rd_init(&r, out.data + ea_len, out.len - ea_len, TLV_F_MINLEN);
    tlv t;
    size_t got = 0;
    uint32_t ctr = 0;
    uint8_t pend_mcv[32][16];
    while (tlv_next(&r, &t, &err) == SM_OK) {
        assert_int_equal(t.tag, 0x86);
        assert_true(t.rawlen <= 1020);
        size_t hl = (size_t)(t.val - t.raw), cl = t.len - 8;
        memcpy(m, mcv, 16);
        memcpy(m + 16, t.raw, hl + cl);
        ref_aes_cmac(smac, 16, m, 16 + hl + cl, mcv);
        assert_memory_equal(t.val + cl, mcv, 8);
        uint8_t blk[16] = {0}, icv[16];
        ctr++;
        blk[15] = (uint8_t)ctr;
        blk[14] = (uint8_t)(ctr >> 8);
        ref_aes_ecb(senc, 16, blk, icv);
        ref_aes_cbc(0, senc, 16, icv, t.val, cl, back);
        size_t n = cl;
        while (back[n - 1] == 0)
            n--;
        assert_int_equal(back[n - 1], 0x80);
        n--;
        assert_memory_equal(back, prof + got, n);
        got += n;
        memcpy(pend_mcv[ctr - 1], mcv, 16);
    }
    assert_int_equal(got, plen);
    assert_int_equal(ctr, (plen + 1006) / 1007);

    /* the card answers: 85 00, then per segment 86 00 except one with an encrypted result */
    sm_buf rsp, plain;
    sm_buf_init(&rsp);
    sm_buf_init(&plain);
    sm_buf_append(&rsp, "\x85\x00", 2);
    const uint8_t result[] = {0xA0, 0x06, 0x30, 0x04, 0x80, 0x02, 0x00, 0x00}; /* a PE result, say */
    for (uint32_t i = 1; i <= ctr; i++) {
        if (i != 3) {
            sm_buf_append(&rsp, "\x86\x00", 2);
            continue;
        }
        uint8_t pt[16], ct[16], blk[16] = {0x80}, icv[16];
        memcpy(pt, result, sizeof result);
        pt[8] = 0x80;
        memset(pt + 9, 0, 7);
        blk[15] = (uint8_t)i;
        ref_aes_ecb(senc, 16, blk, icv);
        ref_aes_cbc(1, senc, 16, icv, pt, 16, ct);
        uint8_t rm[16 + 2 + 16], rmac[16];
        memcpy(rm, pend_mcv[i - 1], 16);
        rm[16] = 0x86;
        rm[17] = 24;
        memcpy(rm + 18, ct, 16);
        ref_aes_cmac(srmac, 16, rm, sizeof rm, rmac);
        sm_buf_append(&rsp, rm + 16, 18);
        sm_buf_append(&rsp, rmac, 8);
    }
    sm_buf saved;
    sm_buf_init(&saved);
    sm_buf_append(&saved, rsp.data, rsp.len);
    /* a tampered R-MAC first, on a copy of the session state */
    scp03t_session copy = ss;
    copy.pending = malloc(ss.pend_cap * sizeof *ss.pending);
    memcpy(copy.pending, ss.pending, ss.pend_cap * sizeof *ss.pending);
    saved.data[2 + 2 * 2 + 5] ^= 1; /* inside the third response's ciphertext */
    assert_int_equal(scp03t_check_responses(s, &copy, saved.data, saved.len, NULL, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "R-MAC"));
    sm_err_clear(&err);
    free(copy.pending);
    if (scp03t_check_responses(s, &ss, rsp.data, rsp.len, &plain, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(plain.len, sizeof result);
    assert_memory_equal(plain.data, result, sizeof result);
    assert_int_equal(ss.npending, 0);
    /* a card error */
    uint8_t e[] = {0x9F, 0x46, 0x01, 0x02};
    assert_int_equal(scp03t_check_responses(s, &ss, e, 4, NULL, &err), SM_EPROTO);
    assert_non_null(strstr(err.msg, "9F46"));
    sm_err_clear(&err);
    /* malformed response TLVs */
    uint8_t bad[] = {0x86, 0x05, 0x00};
    assert_int_equal(scp03t_check_responses(s, &ss, bad, 3, NULL, &err), SM_EPARSE);
    sm_err_clear(&err);
    uint8_t wrong[] = {0x87, 0x00};
    assert_int_equal(scp03t_check_responses(s, &ss, wrong, 2, NULL, &err), SM_EPROTO);
    scp03t_close(s, &ss);
    sm_buf_free(&out);
    sm_buf_free(&rsp);
    sm_buf_free(&saved);
    sm_buf_free(&plain);
    free(prof);
}

static void test_segment_sizes(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key senc = aes(s, "000102030405060708090a0b0c0d0e0f", HSM_U_ENCRYPT | HSM_U_DECRYPT);
    hsm_key smac = aes(s, "0f0e0d0c0b0a09080706050403020100", HSM_U_SIGN);
    uint8_t mcv[16] = {0}, pkg[3000];
    for (size_t i = 0; i < sizeof pkg; i++)
        pkg[i] = (uint8_t)i;
    const size_t segs[] = {1, 15, 16, 17, 512, 1007, 2999, 3000, SCP03T_SEG_MAX};
    for (size_t si = 0; si < sizeof segs / sizeof segs[0]; si++) {
        scp03t_session ss;
        scp03t_session_from_keys(&senc, &smac, &smac, mcv, &ss);
        ss.seg_max = segs[si];
        sm_buf out;
        sm_buf_init(&out);
        size_t n = segs[si] == 1 ? 40 : sizeof pkg;
        assert_int_equal(scp03t_protect(s, &ss, pkg, n, &out, &err), SM_OK);
        /* count and sizes */
        tlv_rd r;
        tlv_rd_init(&r, out.data, out.len, TLV_F_MINLEN);
        tlv t;
        size_t k = 0;
        while (tlv_next(&r, &t, &err) == SM_OK) {
            size_t plain = k + 1 < (n + segs[si] - 1) / segs[si] ? segs[si] : n - k * segs[si];
            assert_int_equal(t.len, (plain / 16 + 1) * 16 + 8);
            k++;
        }
        assert_int_equal(k, (n + segs[si] - 1) / segs[si]);
        assert_int_equal(ss.sc.ctr, k);
        free(ss.pending);
        sm_buf_free(&out);
    }
    scp03t_session ss;
    scp03t_session_from_keys(&senc, &smac, &smac, mcv, &ss);
    sm_buf out;
    sm_buf_init(&out);
    ss.seg_max = 0;
    assert_int_equal(scp03t_protect(s, &ss, pkg, 10, &out, &err), SM_EINVAL);
    ss.seg_max = SCP03T_SEG_MAX + 1;
    assert_int_equal(scp03t_protect(s, &ss, pkg, 10, &out, &err), SM_EINVAL);
    ss.seg_max = 100;
    assert_int_equal(scp03t_protect(s, &ss, pkg, 0, &out, &err), SM_EINVAL);
    ss.sc.sl = 0x03;
    assert_int_equal(scp03t_protect(s, &ss, pkg, 10, &out, &err), SM_ESTATE);
    sm_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bsp_kdf_and_ecka, return_sessions),
        cmocka_unit_test_teardown(test_bsp_chain, return_sessions),
        cmocka_unit_test_teardown(test_whty_example, return_sessions),
        cmocka_unit_test_teardown(test_profile_roundtrip_reference, return_sessions),
        cmocka_unit_test_teardown(test_segment_sizes, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_scp03t", tests, ct_group_setup, ct_group_teardown);
}
