/* crypto/scp80: TS 102 225 secured packets over SMS-PP.
 * Known answers: pySim tests/unittests/test_ota.py — the 4 data-driven packets (3DES and AES-128,
 * ciphered / signed / none) with the PoRs captured from real sysmoISIM-SJA5 cards, and the legacy
 * 3DES command and PoR cases (tests/vectors/scp80_ota_pysim.json, see SOURCES.md).
 * Independent check: random packets against tests/crypto/ref_crypto.c (plain OpenSSL).
 * Negative: counter replay and counter too low, a PoR with a bad checksum, wrong TAR / counter,
 * malformed framing; SMS concatenation round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/scp80.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

static hsm_key import(hsm_sess *s, const uint8_t *v, size_t len, int algo, bool kid)
{
    hsm_keytype t = algo == 2 ? HSM_KT_AES : len == 16 ? HSM_KT_DES2 : HSM_KT_DES3;
    hsm_keyspec sp;
    if (kid)
        scp80_kid_keyspec(t, (unsigned)len, false, &sp);
    else
        scp80_kic_keyspec(t, (unsigned)len, false, &sp);
    hsm_key k;
    sm_err err = {0};
    if (hsm_secret_import(s, &sp, v, len, &k, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return k;
}

/* SPI bytes from the pySim dict form */
static void spi_from(const tj *d, uint8_t spi[2])
{
    const char *c = tj_str(d, "counter"), *r = tj_str(d, "rc_cc_ds"), *pr = tj_str(d, "por_rc_cc_ds"),
               *por = tj_str(d, "por");
    spi[0] = (uint8_t)((strcmp(r, "cc") == 0 ? 0x02 : 0) | (tj_get(d, "ciphering")->b ? 0x04 : 0) |
                       (strcmp(c, "no_counter") == 0 ? 0 : 0x10));
    spi[1] = (uint8_t)((strcmp(por, "por_required") == 0 ? 0x01 : 0) | (strcmp(pr, "cc") == 0 ? 0x08 : 0) |
                       (tj_get(d, "por_shall_be_ciphered")->b ? 0x10 : 0) | (tj_get(d, "por_in_submit")->b ? 0x20 : 0));
}

static void test_pysim_packets_and_real_pors(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp80_ota_pysim.json");
    hsm_sess *s = sess();
    const tj *sets = tj_get(v, "testdatasets");
    for (size_t i = 0; i < sets->n; i++) {
        const tj *t = sets->items[i];
        const tj *ks = tj_get(tj_get(v, "ota_keysets"), tj_str(t, "ota_keyset"));
        const tj *spid = tj_get(tj_get(v, "spi_definitions"), tj_str(t, "spi"));
        int algo = strcmp(tj_str(ks, "algo_crypt"), "aes_cbc") == 0 ? 2 : 5;
        size_t kl, dl, al, el, rl;
        uint8_t *kic = tj_hex(ks, "kic", &kl), *kid = tj_hex(ks, "kid", &dl);
        hsm_key kk = import(s, kic, kl, algo, false), kd = import(s, kid, dl, algo, true);
        scp80_params p = {.kic = (uint8_t)((int)tj_get(ks, "kic_idx")->num << 4 | algo),
                          .kid = (uint8_t)((int)tj_get(ks, "kid_idx")->num << 4 | algo), .cntr = 0};
        testenv_unhex(tj_str(v, "tar"), p.tar, 3);
        spi_from(spid, p.spi);
        const tj *req = tj_get(t, "request"), *rsp = tj_get(t, "response");
        uint8_t *apdu = tj_hex(req, "apdu", &al), *enc = tj_hex(req, "encoded_cmd", &el);
        sm_buf out, back;
        sm_buf_init(&out);
        sm_buf_init(&back);
        sm_err err = {0};
        if (scp80_wrap(s, &p, &kk, &kd, apdu, al, &out, &err) != SM_OK)
            fail_msg("%s: %s", tj_str(t, "name"), err.msg);
        if (out.len != el || memcmp(out.data, enc, el) != 0)
            fail_msg("%s:\n got %s\n want %s", tj_str(t, "name"), ct_hex(out.data, out.len), ct_hex(enc, el));
        /* the receiving side of the same packet */
        scp80_params q;
        assert_int_equal(scp80_unwrap_command(s, enc, el, &kk, &kd, 0, &q, &back, &err), SM_OK);
        assert_int_equal(back.len, al);
        assert_memory_equal(back.data, apdu, al);
        assert_memory_equal(q.spi, p.spi, 2);
        /* the real card's PoR */
        uint8_t *por = tj_hex(rsp, "encoded_resp", &rl);
        scp80_por pr;
        sm_buf_reset(&back);
        if (scp80_unwrap_por(s, &p, &kk, &kd, por, rl, &pr, &back, &err) != SM_OK)
            fail_msg("%s PoR: %s", tj_str(t, "name"), err.msg);
        assert_int_equal(pr.status, SCP80_POR_OK);
        assert_int_equal(scp80_por_check(&pr, &err), SM_OK);
        /* compact response: 1 command, last SW */
        assert_int_equal(back.len, 3);
        assert_int_equal(back.data[0], (int)tj_get(rsp, "number_of_commands")->num);
        assert_hex_equal(back.data + 1, 2, tj_str(rsp, "last_status_word"));
        assert_int_equal(pr.has_cc, (p.spi[1] & 0x0C) == 0x08);
        /* a flipped bit anywhere in a CC-protected PoR is caught */
        if (pr.has_cc) {
            for (size_t b = 3; b < rl; b++) {
                por[b] ^= 0x10;
                sm_err_clear(&err);
                sm_rc rc = scp80_unwrap_por(s, &p, &kk, &kd, por, rl, &pr, NULL, &err);
                if (rc == SM_OK)
                    fail_msg("%s: PoR with byte %zu flipped accepted", tj_str(t, "name"), b);
                por[b] ^= 0x10;
            }
        }
        free(kic);
        free(kid);
        free(apdu);
        free(enc);
        free(por);
        sm_buf_free(&out);
        sm_buf_free(&back);
    }
    assert_int_equal(sets->n, 4);
    tj_free(v);
}

static void test_pysim_legacy_3des(void **state)
{
    tj *v = ct_vectors("tests/vectors/scp80_ota_pysim.json");
    hsm_sess *s = sess();
    sm_err err = {0};
    const tj *l = tj_path(v, "legacy_tests.Test_SMS_3DES");
    uint8_t kic[16], kid[16];
    testenv_unhex(tj_str(l, "KIC3"), kic, 16);
    testenv_unhex(tj_str(l, "KID3"), kid, 16);
    hsm_key kk = import(s, kic, 16, 5, false), kd = import(s, kid, 16, 5, true);
    size_t al;
    uint8_t *apdu = tj_hex(l, "apdu", &al);
    const tj *cases = tj_get(l, "cases");
    int n = 0;
    for (size_t i = 0; i < cases->n; i++) {
        const tj *c = cases->items[i];
        /* base SPI with this case's overrides */
        bool ciph = true, por_ciph = true;
        const char *rcc = "cc", *porcc = "cc";
        const tj *o = tj_get(c, "spi_override");
        if (tj_get(o, "ciphering"))
            ciph = tj_get(o, "ciphering")->b;
        if (tj_get(o, "por_shall_be_ciphered"))
            por_ciph = tj_get(o, "por_shall_be_ciphered")->b;
        if (tj_str(o, "rc_cc_ds"))
            rcc = tj_str(o, "rc_cc_ds");
        if (tj_str(o, "por_rc_cc_ds"))
            porcc = tj_str(o, "por_rc_cc_ds");
        scp80_params p = {.spi = {(uint8_t)((strcmp(rcc, "cc") == 0 ? 2 : 0) | (ciph ? 4 : 0)),
                                  (uint8_t)(0x01 | (strcmp(porcc, "cc") == 0 ? 0x08 : 0) | (por_ciph ? 0x10 : 0))},
                          .kic = 0x35, .kid = 0x35};
        testenv_unhex(tj_str(l, "tar"), p.tar, 3);
        const char *test = tj_str(c, "test");
        sm_buf out;
        sm_buf_init(&out);
        if (tj_str(c, "encoded_cmd")) {
            size_t el;
            uint8_t *e = tj_hex(c, "encoded_cmd", &el);
            assert_int_equal(scp80_wrap(s, &p, &kk, &kd, apdu, al, &out, &err), SM_OK);
            /* the source's "signed" and "none" encodings start at CHL (no CPL) */
            size_t skip = out.len == el ? 0 : 2;
            if (out.len - skip != el || memcmp(out.data + skip, e, el) != 0)
                fail_msg("%s:\n got %s\n want %s", test, ct_hex(out.data, out.len), ct_hex(e, el));
            free(e);
        } else {
            size_t rl;
            uint8_t *r = tj_hex(c, "encoded_resp", &rl);
            /* these real-card PoRs answer a command to TAR B00011 (the card's USIM RFM) */
            memcpy(p.tar, r + 6, 3);
            scp80_por pr;
            sm_rc rc = scp80_unwrap_por(s, &p, &kk, &kd, r, rl, &pr, &out, &err);
            if (strstr(tj_str(c, "expect"), "error")) {
                if (rc != SM_EVERIFY)
                    fail_msg("%s: %s %s", test, sm_rc_name(rc), err.msg);
                assert_non_null(strstr(err.msg, "CC does not verify"));
                sm_err_clear(&err);
            } else {
                if (rc != SM_OK)
                    fail_msg("%s: %s", test, err.msg);
                assert_int_equal(pr.status, 0);
                assert_hex_equal(out.data, out.len, "01612f");
            }
            free(r);
        }
        n++;
        sm_buf_free(&out);
    }
    assert_int_equal(n, 7);
    free(apdu);
    tj_free(v);
}

static void test_cross_check_reference(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t rnd[2048];
    assert_int_equal(hsm_random(s, rnd, sizeof rnd, &err), SM_OK);
    const struct {
        int algo;
        size_t klen;
    } algos[] = {{2, 16}, {5, 16}, {9, 24}};
    const uint8_t spis[][2] = {{0x16, 0x39}, {0x06, 0x19}, {0x12, 0x01}, {0x04, 0x00}, {0x00, 0x00}, {0x1E, 0x21}};
    for (int a = 0; a < 3; a++) {
        hsm_key kk = import(s, rnd, algos[a].klen, algos[a].algo, false);
        hsm_key kd = import(s, rnd + 32, algos[a].klen, algos[a].algo, true);
        for (size_t si = 0; si < sizeof spis / sizeof spis[0]; si++)
            for (size_t len = 1; len < 300; len += 37) {
                scp80_params p = {.spi = {spis[si][0], spis[si][1]}, .kic = (uint8_t)(0x10 | algos[a].algo),
                                  .kid = (uint8_t)(0x10 | algos[a].algo), .tar = {0, 0, 1}, .cntr = 0x0102030405ull + len};
                sm_buf out;
                sm_buf_init(&out);
                assert_int_equal(scp80_wrap(s, &p, &kk, &kd, rnd + 100, len, &out, &err), SM_OK);
                uint8_t ref[400];
                size_t rl = ref_scp80_packet(p.spi, p.kic, p.kid, p.tar, p.cntr, rnd, algos[a].klen, rnd + 32,
                                             algos[a].klen, rnd + 100, len, ref);
                if (rl != out.len || memcmp(ref, out.data, rl) != 0)
                    fail_msg("algo %d spi %02x%02x len %zu\n crypto %s\n ref    %s", algos[a].algo, p.spi[0], p.spi[1],
                             len, ct_hex(out.data, out.len), ct_hex(ref, rl));
                sm_buf_free(&out);
            }
    }
}

static void test_counter_policy(void **state)
{
    sm_err err = {0};
    uint64_t next;
    /* mode 10: must be higher */
    assert_int_equal(scp80_counter_next(0x16, 41, &next, &err), SM_OK);
    assert_int_equal(next, 42);
    assert_int_equal(scp80_counter_check(0x16, 41, 42, &err), SM_OK);
    assert_int_equal(scp80_counter_check(0x16, 41, 100, &err), SM_OK);
    assert_int_equal(scp80_counter_check(0x16, 41, 41, &err), SM_EREPLAY); /* replay */
    assert_non_null(strstr(err.msg, "not higher"));
    sm_err_clear(&err);
    assert_int_equal(scp80_counter_check(0x16, 41, 7, &err), SM_EREPLAY); /* too low */
    sm_err_clear(&err);
    /* mode 11: exactly one higher */
    assert_int_equal(scp80_counter_check(0x1E, 41, 42, &err), SM_OK);
    assert_int_equal(scp80_counter_check(0x1E, 41, 43, &err), SM_EREPLAY);
    sm_err_clear(&err);
    /* no counter / not checked */
    assert_int_equal(scp80_counter_next(0x06, 41, &next, &err), SM_OK);
    assert_int_equal(next, 0);
    assert_int_equal(scp80_counter_check(0x0E, 41, 3, &err), SM_OK);
    /* the 5-byte end */
    assert_int_equal(scp80_counter_next(0x16, SCP80_CNTR_MAX, &next, &err), SM_ELIMIT);
    sm_err_clear(&err);
    assert_int_equal(scp80_counter_check(0x16, 1, SCP80_CNTR_MAX + 1, &err), SM_ELIMIT);
    sm_err_clear(&err);

    /* a received packet replayed, or with a lower counter, is refused after its CC checked out */
    hsm_sess *s = sess();
    uint8_t k[16] = "0123456789abcdef";
    hsm_key kk = import(s, k, 16, 2, false), kd = import(s, k, 16, 2, true);
    scp80_params p = {.spi = {0x16, 0x39}, .kic = 0x12, .kid = 0x12, .tar = {0, 0, 1}, .cntr = 42};
    sm_buf pkt, data;
    sm_buf_init(&pkt);
    sm_buf_init(&data);
    assert_int_equal(scp80_wrap(s, &p, &kk, &kd, (const uint8_t *)"\xE1\x03\x4C\x01\x01", 5, &pkt, &err), SM_OK);
    scp80_params q;
    assert_int_equal(scp80_unwrap_command(s, pkt.data, pkt.len, &kk, &kd, 41, &q, &data, &err), SM_OK);
    assert_int_equal(q.cntr, 42);
    assert_int_equal(scp80_unwrap_command(s, pkt.data, pkt.len, &kk, &kd, 42, &q, &data, &err), SM_EREPLAY);
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_command(s, pkt.data, pkt.len, &kk, &kd, 1000, &q, &data, &err), SM_EREPLAY);
    sm_err_clear(&err);
    /* tampered ciphertext: CC fails before the counter is even looked at */
    pkt.data[pkt.len - 1] ^= 1;
    assert_int_equal(scp80_unwrap_command(s, pkt.data, pkt.len, &kk, &kd, 0, &q, &data, &err), SM_EVERIFY);
    sm_err_clear(&err);
    /* PoR status mapping */
    scp80_por pr = {.status = SCP80_POR_CNTR_LOW};
    assert_int_equal(scp80_por_check(&pr, &err), SM_EREPLAY);
    assert_non_null(strstr(err.msg, "CNTR low"));
    sm_err_clear(&err);
    pr.status = SCP80_POR_TAR_UNKNOWN;
    assert_int_equal(scp80_por_check(&pr, &err), SM_EPROTO);
    sm_buf_free(&pkt);
    sm_buf_free(&data);
}

/* A PoR built with the reference (AES, ciphered, CC) and variations of it. */
static size_t ref_por2(const uint8_t *k, const uint8_t *kmac, const uint8_t tar[3], uint64_t cntr, uint8_t status, const uint8_t *d,
                      size_t dl, uint8_t *out)
{
    size_t pad = (16 - (7 + 8 + dl) % 16) % 16, sl = 7 + 8 + dl + pad, rpl = 4 + sl;
    uint8_t hdr[9] = {0x02, 0x71, 0x00, (uint8_t)(rpl >> 8), (uint8_t)rpl, 0x12, tar[0], tar[1], tar[2]};
    uint8_t m[200], sec[200];
    memcpy(m, hdr, 9);
    for (int i = 0; i < 5; i++)
        m[9 + i] = (uint8_t)(cntr >> (8 * (4 - i)));
    m[14] = (uint8_t)pad;
    m[15] = status;
    if (dl)
        memcpy(m + 16, d, dl);
    memset(m + 16 + dl, 0, pad);
    uint8_t cc[16], iv[16] = {0};
    ref_aes_cmac(kmac, 16, m, 16 + dl + pad, cc);
    memcpy(sec, m + 9, 7);
    memcpy(sec + 7, cc, 8);
    if (dl)
        memcpy(sec + 15, d, dl);
    memset(sec + 15 + dl, 0, pad);
    ref_aes_cbc(1, k, 16, iv, sec, sl, sec);
    memcpy(out, hdr, 9);
    memcpy(out + 9, sec, sl);
    return 9 + sl;
}

static size_t ref_por(const uint8_t *k, const uint8_t tar[3], uint64_t cntr, uint8_t status, const uint8_t *d,
                      size_t dl, uint8_t *out)
{
    return ref_por2(k, k, tar, cntr, status, d, dl, out);
}

static void test_por_negative(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t k[16] = "fedcba9876543210";
    hsm_key kk = import(s, k, 16, 2, false), kd = import(s, k, 16, 2, true);
    scp80_params cmd = {.spi = {0x16, 0x39}, .kic = 0x12, .kid = 0x12, .tar = {0, 0, 1}, .cntr = 77};
    uint8_t por[200];
    const uint8_t data[] = {0xAB, 0x07, 0x80, 0x01, 0x01, 0x23, 0x02, 0x90, 0x00};
    size_t n = ref_por(k, cmd.tar, 77, 0, data, sizeof data, por);
    scp80_por pr;
    sm_buf d;
    sm_buf_init(&d);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, &d, &err), SM_OK);
    assert_int_equal(d.len, sizeof data);
    assert_memory_equal(d.data, data, sizeof data);
    /* a bad checksum: the CC computed with another key */
    uint8_t k2[16] = "fedcba9876543211";
    n = ref_por2(k, k2, cmd.tar, 77, 0, data, sizeof data, por);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "CC does not verify"));
    sm_err_clear(&err);
    /* counter and TAR must echo the command */
    n = ref_por(k, cmd.tar, 76, 0, data, sizeof data, por);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPROTO);
    assert_non_null(strstr(err.msg, "echo"));
    sm_err_clear(&err);
    uint8_t tar2[3] = {0xB0, 0x00, 0x10};
    n = ref_por(k, tar2, 77, 0, data, sizeof data, por);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPROTO);
    sm_err_clear(&err);
    /* status counter low comes through verified, then maps to SM_EREPLAY */
    n = ref_por(k, cmd.tar, 77, SCP80_POR_CNTR_LOW, NULL, 0, por);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_OK);
    assert_int_equal(scp80_por_check(&pr, &err), SM_EREPLAY);
    sm_err_clear(&err);
    /* framing: truncation at every length, RPL off by one, no 71 IEI, RHL wrong, UDHL too long */
    n = ref_por(k, cmd.tar, 77, 0, data, sizeof data, por);
    for (size_t l = 0; l < n; l++) {
        sm_err_clear(&err);
        assert_int_not_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, l, &pr, NULL, &err), SM_OK);
    }
    por[4]++;
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPARSE);
    por[4]--;
    por[1] = 0x70;
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "(71)"));
    por[1] = 0x71;
    por[5] = 0x0A;
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPARSE);
    por[5] = 0x12;
    por[0] = 0xF0;
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, por, n, &pr, NULL, &err), SM_EPARSE);
    /* a ciphered part that is not whole blocks */
    uint8_t odd[] = {0x02, 0x71, 0x00, 0x00, 0x18, 0x12, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,
                     9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    sm_err_clear(&err);
    assert_int_equal(scp80_unwrap_por(s, &cmd, &kk, &kd, odd, sizeof odd, &pr, NULL, &err), SM_EPARSE);
    sm_buf_free(&d);
}

static void test_sms_framing(void **state)
{
    sm_err err = {0};
    uint8_t pkt[600];
    for (size_t i = 0; i < sizeof pkt; i++)
        pkt[i] = (uint8_t)(i * 31 + 7);
    scp80_sms parts[SCP80_PARTS_MAX];
    size_t n;
    /* fits in one SMS */
    assert_int_equal(scp80_sms_frame(pkt, 137, 9, parts, SCP80_PARTS_MAX, &n, &err), SM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].len, 140);
    assert_hex_equal(parts[0].ud, 3, "027000");
    /* one byte more: two parts, first with 70 then 00 03 ref n i */
    assert_int_equal(scp80_sms_frame(pkt, 138, 9, parts, SCP80_PARTS_MAX, &n, &err), SM_OK);
    assert_int_equal(n, 2);
    assert_hex_equal(parts[0].ud, 8, "0770000003090201");
    assert_hex_equal(parts[1].ud, 6, "050003090202");
    assert_int_equal(parts[0].len, 140);
    assert_int_equal(parts[1].len, 6 + 6);
    /* 600 bytes: 132 + 4 x 134 = 668 -> 5 parts; joined in any order */
    assert_int_equal(scp80_sms_frame(pkt, 600, 200, parts, SCP80_PARTS_MAX, &n, &err), SM_OK);
    assert_int_equal(n, 5);
    scp80_sms shuffled[5] = {parts[3], parts[0], parts[4], parts[2], parts[1]};
    sm_buf j;
    sm_buf_init(&j);
    assert_int_equal(scp80_sms_join(shuffled, 5, &j, &err), SM_OK);
    assert_int_equal(j.len, 600);
    assert_memory_equal(j.data, pkt, 600);
    scp80_udh h;
    assert_int_equal(scp80_sms_parse_udh(parts[0].ud, parts[0].len, &h, &err), SM_OK);
    assert_true(h.cmd_packet);
    assert_true(h.concat);
    assert_int_equal(h.ref, 200);
    assert_int_equal(h.total, 5);
    /* a missing part, a duplicate, a foreign reference */
    sm_buf_reset(&j);
    assert_int_equal(scp80_sms_join(shuffled, 4, &j, &err), SM_EPARSE);
    sm_err_clear(&err);
    shuffled[1] = shuffled[0];
    assert_int_equal(scp80_sms_join(shuffled, 5, &j, &err), SM_EPARSE);
    sm_err_clear(&err);
    /* limits */
    assert_int_equal(scp80_sms_frame(pkt, 600, 1, parts, 4, &n, &err), SM_ELIMIT);
    sm_err_clear(&err);
    /* malformed UDHs */
    const char *bad[] = {"05", "0270", "037001aa", "0500030000", "0500030102030405", "080804000102030405"};
    for (int i = 0; i < 6; i++) {
        uint8_t u[16];
        size_t l = testenv_unhex(bad[i], u, sizeof u);
        sm_err_clear(&err);
        assert_int_equal(scp80_sms_parse_udh(u, l, &h, &err), SM_EPARSE);
    }
    uint8_t ok16[] = {0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01};
    assert_int_equal(scp80_sms_parse_udh(ok16, sizeof ok16, &h, &err), SM_OK);
    assert_int_equal(h.ref, 0x1234);
    sm_buf_free(&j);
}

static void test_wrap_errors(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t k[24] = "0123456789abcdef01234567";
    hsm_key aesk = import(s, k, 16, 2, false), des = import(s, k, 16, 5, false);
    scp80_params p = {.spi = {0x16, 0x39}, .kic = 0x12, .kid = 0x12, .tar = {0, 0, 1}, .cntr = 1};
    sm_buf out;
    sm_buf_init(&out);
    uint8_t d[4] = {1, 2, 3, 4};
    assert_int_equal(scp80_wrap(s, &p, NULL, &aesk, d, 4, &out, &err), SM_EINVAL); /* no KIc key */
    sm_err_clear(&err);
    assert_int_equal(scp80_wrap(s, &p, &des, &aesk, d, 4, &out, &err), SM_EINVAL); /* wrong key type */
    sm_err_clear(&err);
    p.kic = 0x11; /* single DES */
    assert_int_equal(scp80_wrap(s, &p, &aesk, &aesk, d, 4, &out, &err), SM_EMECH);
    sm_err_clear(&err);
    p.kic = 0x12;
    p.spi[0] = 0x15; /* RC */
    assert_int_equal(scp80_wrap(s, &p, &aesk, &aesk, d, 4, &out, &err), SM_EMECH);
    sm_err_clear(&err);
    p.spi[0] = 0x17; /* DS */
    assert_int_equal(scp80_wrap(s, &p, &aesk, &aesk, d, 4, &out, &err), SM_EMECH);
    sm_err_clear(&err);
    p.spi[0] = 0x16;
    p.cntr = SCP80_CNTR_MAX + 1;
    assert_int_equal(scp80_wrap(s, &p, &aesk, &aesk, d, 4, &out, &err), SM_EINVAL);
    sm_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pysim_packets_and_real_pors, return_sessions),
        cmocka_unit_test_teardown(test_pysim_legacy_3des, return_sessions),
        cmocka_unit_test_teardown(test_cross_check_reference, return_sessions),
        cmocka_unit_test_teardown(test_counter_policy, return_sessions),
        cmocka_unit_test_teardown(test_por_negative, return_sessions),
        cmocka_unit_test_teardown(test_sms_framing, return_sessions),
        cmocka_unit_test_teardown(test_wrap_errors, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_scp80", tests, ct_group_setup, ct_group_teardown);
}
