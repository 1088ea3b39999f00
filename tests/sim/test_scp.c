/* Secure channels of the card against public vectors: SCP80 (pySim OTA, AES-128 real-card PoR),
 * SCP03 APDU mode (pySim, 9 sessions, card side) and the SCP03t/BSP TLV chain (pySim BSP), plus the
 * SCP80 counter rules (replay, too low, exactly-one-higher, blocked) with their PoR status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/prim.h"
#include "tests/sim/scp03.h"
#include "tests/sim/scp80.h"
#include "tests/sim/testutil.h"

static void aes_keyset(const tj *j, sim_scp80_keyset *ks)
{
    const tj *k = tj_path(j, "ota_keysets/OTA_KEYSET_SJA5_AES128");
    memset(ks, 0, sizeof *ks);
    ks->kvn = 2;
    tu_hex(tj_str(tj_get(k, "kic")), ks->kic, 16);
    tu_hex(tj_str(tj_get(k, "kid")), ks->kid, 16);
}

static void test_scp80_pysim_aes(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/scp80_ota_pysim.json");
    assert_non_null(j);
    const tj *tc = tj_path(j, "testdatasets/3");
    assert_string_equal(tj_str(tj_get(tc, "name")), "AES128-SJA5-CIPHERED-CC");
    sim_scp80_keyset ks;
    aes_keyset(j, &ks);
    sim_buf pkt, plain, apdu, out;
    sim_buf_init(&pkt); sim_buf_init(&plain); sim_buf_init(&apdu); sim_buf_init(&out);
    tu_hexbuf(tj_str(tj_path(tc, "request/encoded_cmd")), &pkt);
    tu_hexbuf(tj_str(tj_path(tc, "request/apdu")), &apdu);
    sim_scp80_cmd cmd;
    uint8_t status;
    int sec;
    sim_err e = {0};
    assert_int_equal(sim_scp80_unwrap(pkt.p, pkt.len, &ks, 1, &cmd, &plain, &status, &sec, &e), SIM_OK);
    assert_int_equal(status, 0);
    assert_int_equal(cmd.pcntr, 0x0b);
    assert_int_equal(cmd.data_len, apdu.len);
    assert_memory_equal(plain.p + cmd.data_off, apdu.p, apdu.len);
    /* our sender side rebuilds the same packet */
    assert_int_equal(sim_scp80_wrap(&ks, cmd.spi, cmd.kic, cmd.kid, cmd.tar, 0, apdu.p, apdu.len, &out, NULL), SIM_OK);
    assert_int_equal(out.len, pkt.len);
    assert_memory_equal(out.p, pkt.p, pkt.len);
    /* PoR built by the simulator equals the real card's PoR byte for byte: 1 command, SW 6132 */
    sim_buf exp;
    sim_buf_init(&exp);
    tu_hexbuf(tj_str(tj_path(tc, "response/encoded_resp")), &exp);
    sim_buf_reset(&out);
    const uint8_t rdata[3] = {0x01, 0x61, 0x32};
    assert_int_equal(sim_scp80_por_build(&ks, cmd.spi, cmd.tar, cmd.cntr, 0, rdata, 3, 1, &out, NULL), SIM_OK);
    assert_int_equal(out.len, exp.len);
    assert_memory_equal(out.p, exp.p, exp.len);
    sim_scp80_por por;
    assert_int_equal(sim_scp80_por_parse(&ks, cmd.spi, exp.p, exp.len, &por, NULL), SIM_OK);
    assert_int_equal(por.status, 0);
    assert_int_equal(por.data.len, 3);
    assert_memory_equal(por.data.p, rdata, 3);
    sim_buf_free(&por.data);
    /* a flipped bit in the ciphertext fails the CC: status 01, PoR cannot be secured */
    pkt.p[20] ^= 0x01;
    sim_err e2 = {0};
    assert_int_equal(sim_scp80_unwrap(pkt.p, pkt.len, &ks, 1, &cmd, &plain, &status, &sec, &e2), SIM_EVERIFY);
    assert_int_equal(status, SIM_POR_CC_FAILED);
    assert_int_equal(sec, 0);
    sim_buf_free(&pkt); sim_buf_free(&plain); sim_buf_free(&apdu); sim_buf_free(&out); sim_buf_free(&exp);
    tj_free(j);
}

static void send(sim_scp80_keyset *card, const uint8_t spi[2], uint64_t cntr, uint8_t *status, sim_rc *rc)
{
    sim_scp80_keyset sender = *card;
    const uint8_t tar[3] = {0, 0, 1}, data[2] = {0xAA, 0x00};
    sim_buf pkt, plain;
    sim_buf_init(&pkt); sim_buf_init(&plain);
    assert_int_equal(sim_scp80_wrap(&sender, spi, 0x12, 0x12, tar, cntr, data, 2, &pkt, NULL), SIM_OK);
    sim_scp80_cmd cmd;
    int sec;
    sim_err e = {0};
    *rc = sim_scp80_unwrap(pkt.p, pkt.len, card, 1, &cmd, &plain, status, &sec, &e);
    if (*rc == SIM_OK)
        assert_int_equal(cmd.data_len, 2);
    sim_buf_free(&pkt); sim_buf_free(&plain);
}

static void test_scp80_counter_rules(void **st)
{
    (void)st;
    sim_scp80_keyset card = {.kvn = 1};
    memset(card.kic, 0x11, 16);
    memset(card.kid, 0x22, 16);
    const uint8_t higher[2] = {0x16, 0x39}, exact[2] = {0x1E, 0x39};
    uint8_t st8;
    sim_rc rc;
    send(&card, higher, 5, &st8, &rc);
    assert_int_equal(rc, SIM_OK);
    assert_int_equal(card.cntr, 5);
    send(&card, higher, 5, &st8, &rc); /* replay */
    assert_int_equal(rc, SIM_EREPLAY);
    assert_int_equal(st8, SIM_POR_CNTR_LOW);
    send(&card, higher, 3, &st8, &rc); /* too low */
    assert_int_equal(st8, SIM_POR_CNTR_LOW);
    assert_int_equal(card.cntr, 5);
    send(&card, exact, 7, &st8, &rc); /* must be exactly one higher */
    assert_int_equal(st8, SIM_POR_CNTR_HIGH);
    send(&card, exact, 6, &st8, &rc);
    assert_int_equal(rc, SIM_OK);
    assert_int_equal(card.cntr, 6);
    card.cntr = SIM_SCP80_CNTR_MAX;
    send(&card, higher, SIM_SCP80_CNTR_MAX, &st8, &rc);
    assert_int_equal(st8, SIM_POR_CNTR_BLOCKED);
    /* a PoR for a counter error is secured and carries the status */
    sim_buf por;
    sim_buf_init(&por);
    const uint8_t tar[3] = {0, 0, 1};
    assert_int_equal(sim_scp80_por_build(&card, higher, tar, 3, SIM_POR_CNTR_LOW, NULL, 0, 1, &por, NULL), SIM_OK);
    sim_scp80_por p;
    assert_int_equal(sim_scp80_por_parse(&card, higher, por.p, por.len, &p, NULL), SIM_OK);
    assert_int_equal(p.status, SIM_POR_CNTR_LOW);
    assert_int_equal(p.cntr, 3);
    sim_buf_free(&p.data);
    sim_buf_free(&por);
}

static void test_scp80_malformed(void **st)
{
    (void)st;
    sim_scp80_keyset card = {.kvn = 1};
    uint8_t pkt[64] = {0};
    sim_buf plain;
    sim_buf_init(&plain);
    sim_scp80_cmd cmd;
    uint8_t status;
    int sec;
    for (size_t n = 0; n < sizeof pkt; n++) {
        sim_err e = {0};
        sim_put_be16(pkt, (uint16_t)(n >= 2 ? n - 2 : 0));
        pkt[2] = 0x15;
        pkt[3] = 0x16;
        pkt[5] = 0x12;
        pkt[6] = 0x12;
        assert_int_not_equal(sim_scp80_unwrap(pkt, n, &card, 1, &cmd, &plain, &status, &sec, &e), SIM_OK);
    }
    sim_buf_free(&plain);
}

static void test_scp03_pysim_card_side(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/scp03_pysim.json");
    assert_non_null(j);
    const tj *cases = tj_get(j, "cases"), *plain = tj_get(j, "plain_apdus");
    for (size_t i = 0; i < tj_len(cases); i++) {
        const tj *c = tj_at(cases, i);
        const tj *ksj = tj_get(tj_get(j, "keysets"), tj_str(tj_get(c, "keyset")));
        sim_scp03_keys k = {0};
        k.kvn = 0x30;
        tu_hex(tj_str(tj_get(ksj, "kvn")), &k.kvn, 1);
        k.klen = (uint8_t)tu_hex(tj_str(tj_get(ksj, "enc")), k.enc, 32);
        tu_hex(tj_str(tj_get(ksj, "mac")), k.mac, 32);
        uint8_t iu[14], exp[32], cc[8], seq[3], resp[32];
        tu_hex(tj_str(tj_get(c, "init_upd_cmd")), iu, sizeof iu);
        tu_hex(tj_str(tj_get(c, "init_upd_rsp")), exp, 32);
        tu_hex(tj_str(tj_path(c, "derived_by_compiler/card_challenge")), cc, 8);
        tu_hex(tj_str(tj_path(c, "derived_by_compiler/sequence_counter")), seq, 3);
        k.seq = ((uint32_t)seq[0] << 16 | (uint32_t)seq[1] << 8 | seq[2]) - 1;
        sim_scp03_sess s;
        const uint8_t aid[8] = {0xA0, 0, 0, 1, 0x51, 0, 0, 0};
        assert_int_equal(sim_scp03_init_update(&k, aid, 8, iu + 5, cc, &s, resp, NULL), SIM_OK);
        assert_memory_equal(resp, exp, 32);
        uint8_t ea[21];
        tu_hex(tj_str(tj_get(c, "ext_auth_cmd")), ea, sizeof ea);
        sim_err e = {0};
        assert_int_equal(sim_scp03_ext_auth_apdu(&s, ea, sizeof ea, &e), SIM_OK);
        /* GET DATA(EID) */
        sim_buf w, p, expp, out;
        sim_buf_init(&w); sim_buf_init(&p); sim_buf_init(&expp); sim_buf_init(&out);
        tu_hexbuf(tj_str(tj_get(c, "get_eid_cmd")), &w);
        tu_hexbuf(tj_str(tj_get(plain, "get_eid_cmd_plain")), &expp);
        assert_int_equal(sim_scp03_unwrap_apdu(&s, w.p, w.len, &p, &e), SIM_OK);
        assert_int_equal(p.len, expp.len);
        assert_memory_equal(p.p, expp.p, expp.len);
        sim_buf_reset(&w); sim_buf_reset(&expp);
        tu_hexbuf(tj_str(tj_get(plain, "get_eid_rsp_plain")), &w);
        tu_hexbuf(tj_str(tj_get(c, "get_eid_rsp")), &expp);
        assert_int_equal(sim_scp03_wrap_resp(&s, w.p, w.len, 0x9000, &out, &e), SIM_OK);
        assert_int_equal(out.len, expp.len + 2);
        assert_memory_equal(out.p, expp.p, expp.len);
        for (int k2 = 1; k2 <= 4; k2++) {
            char name[32], pname[40];
            snprintf(name, sizeof name, "case_%d_apdu", k2);
            snprintf(pname, sizeof pname, "case_%d_apdu_plain", k2);
            sim_buf_reset(&w); sim_buf_reset(&expp);
            tu_hexbuf(tj_str(tj_get(c, name)), &w);
            tu_hexbuf(tj_str(tj_get(plain, pname)), &expp);
            assert_int_equal(sim_scp03_unwrap_apdu(&s, w.p, w.len, &p, &e), SIM_OK);
            assert_int_equal(p.len, expp.len);
            /* CLA comparison is case-insensitive hex; bytes must match */
            assert_memory_equal(p.p, expp.p, expp.len);
        }
        /* a replayed (already used) command breaks the MAC chain */
        sim_err e2 = {0};
        assert_int_equal(sim_scp03_unwrap_apdu(&s, w.p, w.len, &p, &e2), SIM_EVERIFY);
        sim_buf_free(&w); sim_buf_free(&p); sim_buf_free(&expp); sim_buf_free(&out);
    }
    tj_free(j);
}

static void chain_from(const tj *o, sim_scp03_chain *c)
{
    memset(c, 0, sizeof *c);
    c->klen = 16;
    tu_hex(tj_str(tj_get(o, "s_enc")), c->senc, 16);
    tu_hex(tj_str(tj_get(o, "s_mac")), c->smac, 16);
    tu_hex(tj_str(tj_get(o, "initial_mcv")), c->mcv, 16);
}

static void test_scp03t_bsp_chain(void **st)
{
    (void)st;
    tj *j = tj_load("tests/vectors/scp03t_bsp_pysim.json");
    assert_non_null(j);
    /* KDF: X9.63 -> MCV | S-ENC | S-MAC */
    const tj *kdf = tj_get(j, "kdf");
    for (size_t i = 0; i < tj_len(kdf); i++) {
        uint8_t z[32], info[64], exp[48], out[48];
        tu_hex(tj_str(tj_get(tj_at(kdf, i), "shared_secret")), z, 32);
        size_t il = tu_hex(tj_str(tj_get(tj_at(kdf, i), "shared_info_by_compiler")), info, sizeof info);
        tu_hex(tj_str(tj_get(tj_at(kdf, i), "kdf_output_48_by_compiler")), exp, 48);
        assert_int_equal(sim_x963_kdf(z, 32, info, il, out, 48, NULL), SIM_OK);
        assert_memory_equal(out, exp, 48);
    }
    /* tag 87 encrypt+MAC, 88 MAC only, 87 again: wrap == expected, and the card side unwraps it */
    const tj *m51 = tj_get(j, "bsp_mode51_session");
    sim_scp03_chain tx, rx;
    chain_from(m51, &tx);
    chain_from(m51, &rx);
    const tj *steps = tj_get(m51, "steps");
    for (size_t i = 0; i < tj_len(steps); i++) {
        const tj *s = tj_at(steps, i);
        int enc = !strcmp(tj_str(tj_get(s, "op")), "encrypt_and_mac");
        uint8_t tag;
        tu_hex(tj_str(tj_get(s, "tag")), &tag, 1);
        sim_buf in, exp, out, back;
        sim_buf_init(&in); sim_buf_init(&exp); sim_buf_init(&out); sim_buf_init(&back);
        tu_hexbuf(tj_str(tj_get(s, "input")), &in);
        tu_hexbuf(tj_str(tj_get(s, "expected_output_first_segment")), &exp);
        assert_int_equal(sim_scp03t_wrap(&tx, tag, in.p, in.len, enc, &out, NULL), SIM_OK);
        assert_int_equal(out.len, exp.len);
        assert_memory_equal(out.p, exp.p, exp.len);
        sim_err e = {0};
        assert_int_equal(sim_scp03t_unwrap(&rx, exp.p, exp.len, enc, &back, &e), SIM_OK);
        assert_int_equal(back.len, in.len);
        assert_memory_equal(back.p, in.p, in.len);
        sim_buf_free(&in); sim_buf_free(&exp); sim_buf_free(&out); sim_buf_free(&back);
    }
    /* two 1016-byte profile segments (tag 86) */
    const tj *rep = tj_get(j, "bsp_replaced_session_keys");
    chain_from(rep, &rx);
    const tj *segs = tj_get(rep, "segments");
    assert_int_equal(tj_len(segs), 2);
    sim_buf first;
    sim_buf_init(&first);
    for (size_t i = 0; i < tj_len(segs); i++) {
        sim_buf in, exp, back;
        sim_buf_init(&in); sim_buf_init(&exp); sim_buf_init(&back);
        tu_hexbuf(tj_str(tj_get(tj_at(segs, i), "input")), &in);
        tu_hexbuf(tj_str(tj_get(tj_at(segs, i), "expected_output")), &exp);
        sim_err e = {0};
        assert_int_equal(sim_scp03t_unwrap(&rx, exp.p, exp.len, 1, &back, &e), SIM_OK);
        assert_int_equal(back.len, in.len);
        assert_memory_equal(back.p, in.p, in.len);
        if (i == 0)
            sim_buf_put(&first, exp.p, exp.len);
        sim_buf_free(&in); sim_buf_free(&exp); sim_buf_free(&back);
    }
    /* replaying segment 0 after segment 1 breaks the chain */
    sim_buf back;
    sim_buf_init(&back);
    sim_err e = {0};
    assert_int_equal(sim_scp03t_unwrap(&rx, first.p, first.len, 1, &back, &e), SIM_EVERIFY);
    sim_buf_free(&back);
    sim_buf_free(&first);
    tj_free(j);
}

/* Regression values: the self-computed examples of the spec digest (crypto.md 2.3 and 4), which are
 * layout checks, not independent vectors; the public vectors above are the real proof. */
static void test_digest_examples(void **st)
{
    (void)st;
    uint8_t z[32], kd[64], exp[64];
    for (int i = 0; i < 32; i++)
        z[i] = (uint8_t)(i + 1);
    const uint8_t info[3] = {0x10, 0x88, 0x10};
    assert_int_equal(sim_x963_kdf(z, 32, info, 3, kd, 64, NULL), SIM_OK);
    tu_hex("d53c188441eead3bb1d7cba7f4fe8f25bf66899bb9ba7b6d6f44102d25fd3cff"
           "79e1d42d345e284800b797644f90efb15f232eff1b5c65f421f875401d4c4b46", exp, 64);
    assert_memory_equal(kd, exp, 64);
    uint8_t crt[23], rc[16], er[16];
    tu_hex("a615900203099501108001888101108201018301309100", crt, 23);
    assert_int_equal(sim_cmac1(kd, 16, crt, 23, rc, NULL), SIM_OK);
    tu_hex("85db753d30cccab9a3ac506fb805f663", er, 16);
    assert_memory_equal(rc, er, 16);
    /* SCP03t session: WHTY keys, ISD-P AID ...1000, sequence counter 1, host challenge 0102..08 */
    sim_scp03_keys k = {.kvn = 0x30, .klen = 16, .seq = 0};
    tu_hex("11223344556677889910111213141516", k.enc, 16);
    memcpy(k.mac, k.enc, 16);
    uint8_t aid[16], hc[8], r32[32], v[17];
    tu_hex("a0000005591010ffffffff8900001000", aid, 16);
    tu_hex("0102030405060708", hc, 8);
    sim_scp03_sess s;
    assert_int_equal(sim_scp03_init_update(&k, aid, 16, hc, NULL, &s, r32, NULL), SIM_OK);
    uint8_t cc[8];
    tu_hex("7f25f5dd3229a567", cc, 8);
    assert_memory_equal(r32 + 13, cc, 8);
    tu_hex("1f673f3737635530", cc, 8);
    assert_memory_equal(r32 + 21, cc, 8);
    tu_hex("333b4d70ddcacd6b6018f2bc6391240acf", v, 17);
    assert_int_equal(sim_scp03_ext_auth_tlv(&s, v, 17, NULL), SIM_OK);
    sim_buf seg, plain;
    sim_buf_init(&seg); sim_buf_init(&plain);
    tu_hexbuf("8618fd560393092469ee48f1e3f2de7dea2ab9e0f3800ab5d876", &seg);
    assert_int_equal(sim_scp03t_unwrap(&s.ch, seg.p, seg.len, 1, &plain, NULL), SIM_OK);
    uint8_t pe[7];
    tu_hex("a0058000810101", pe, 7);
    assert_int_equal(plain.len, 7);
    assert_memory_equal(plain.p, pe, 7);
    sim_buf_free(&seg); sim_buf_free(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scp80_pysim_aes),      cmocka_unit_test(test_scp80_counter_rules),
        cmocka_unit_test(test_scp80_malformed),      cmocka_unit_test(test_scp03_pysim_card_side),
        cmocka_unit_test(test_scp03t_bsp_chain),    cmocka_unit_test(test_digest_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
