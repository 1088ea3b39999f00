/* SMPP 3.4 codec: encode/decode round trips for every PDU the SMSC handles (short_message and
 * message_payload, UDH with 8-bit data), a hand-assembled submit_sm, and malformed PDUs refused
 * (truncations at every length, unterminated/overlong C-strings, bad lengths, trailing bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/sim/smpp.h"
#include "tests/sim/testutil.h"

static void roundtrip(const sim_smpp_pdu *in)
{
    sim_buf b;
    sim_buf_init(&b);
    assert_int_equal(sim_smpp_encode(in, &b, NULL), SIM_OK);
    assert_int_equal(sim_smpp_peek_len(b.p, b.len), b.len);
    sim_smpp_pdu out;
    sim_err e = {0};
    if (sim_smpp_decode(b.p, b.len, &out, &e))
        fail_msg("decode %s: %s", sim_smpp_name(in->id), e.msg);
    assert_int_equal(out.id, in->id);
    assert_int_equal(out.seq, in->seq);
    assert_int_equal(out.status, in->status);
    assert_string_equal(out.system_id, in->system_id);
    assert_string_equal(out.src, in->src);
    assert_string_equal(out.dst, in->dst);
    assert_int_equal(out.esm_class, in->esm_class);
    assert_int_equal(out.data_coding, in->data_coding);
    assert_int_equal(out.sm_len, in->sm_len);
    assert_memory_equal(out.sm, in->sm, in->sm_len);
    assert_string_equal(out.message_id, in->message_id);
    /* every truncation is refused */
    for (size_t n = 0; n < b.len; n++) {
        sim_buf t;
        sim_buf_init(&t);
        sim_buf_put(&t, b.p, n);
        if (n >= 4)
            sim_put_be32(t.p, (uint32_t)n);
        sim_err e2 = {0};
        /* a truncated PDU either fails or (when the cut falls on a field boundary of an optional
         * part) decodes to something different: never to the original content */
        if (sim_smpp_decode(t.p, t.len, &out, &e2) == SIM_OK)
            assert_true(out.sm_len != in->sm_len || strcmp(out.message_id, in->message_id) ||
                        strcmp(out.system_id, in->system_id));
        sim_buf_free(&t);
    }
    sim_buf_free(&b);
}

static void test_roundtrips(void **st)
{
    (void)st;
    sim_smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_BIND_TRANSCEIVER;
    p.seq = 1;
    strcpy(p.system_id, "smsr");
    strcpy(p.password, "secret");
    p.interface_version = 0x34;
    roundtrip(&p);
    memset(&p, 0, sizeof p);
    p.id = SMPP_BIND_TRANSCEIVER | SMPP_RESP;
    p.seq = 1;
    strcpy(p.system_id, "simsmsc");
    roundtrip(&p);
    memset(&p, 0, sizeof p);
    p.id = SMPP_SUBMIT_SM;
    p.seq = 7;
    strcpy(p.src, "447700900000");
    strcpy(p.dst, "447900000001");
    p.src_ton = 1; p.src_npi = 1; p.dst_ton = 1; p.dst_npi = 1;
    p.esm_class = 0x40;
    p.protocol_id = 0x7F;
    p.data_coding = 0xF6;
    p.registered_delivery = 1;
    static const uint8_t ud[] = {0x02, 0x70, 0x00, 0x00, 0x28, 0x15, 0x16, 0x39};
    memcpy(p.sm, ud, sizeof ud);
    p.sm_len = sizeof ud;
    roundtrip(&p);
    p.payload_tlv = 1;
    p.sm_len = 300;
    for (int i = 0; i < 300; i++)
        p.sm[i] = (uint8_t)i;
    roundtrip(&p);
    memset(&p, 0, sizeof p);
    p.id = SMPP_SUBMIT_SM | SMPP_RESP;
    p.seq = 7;
    strcpy(p.message_id, "m000001");
    roundtrip(&p);
    memset(&p, 0, sizeof p);
    p.id = SMPP_ENQUIRE_LINK;
    p.seq = 9;
    roundtrip(&p);
}

/* submit_sm as an SMPP client library would send it, assembled by hand */
static void test_known_bytes(void **st)
{
    (void)st;
    uint8_t pdu[] = {0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 2,
                     0,                          /* service_type */
                     1, 1, '1', '2', '3', 0,     /* source */
                     1, 1, '4', '5', '6', 0,     /* destination */
                     0x40, 0x7F, 0, 0, 0, 1, 0, 0xF6, 0, /* esm pid prio sched valid regdel replace dcs defmsg */
                     4, 0x02, 0x70, 0x00, 0xAB};
    sim_put_be32(pdu, sizeof pdu);
    sim_smpp_pdu p;
    sim_err e = {0};
    assert_int_equal(sim_smpp_decode(pdu, sizeof pdu, &p, &e), SIM_OK);
    assert_int_equal(p.id, SMPP_SUBMIT_SM);
    assert_string_equal(p.src, "123");
    assert_string_equal(p.dst, "456");
    assert_int_equal(p.esm_class, 0x40);
    assert_int_equal(p.data_coding, 0xF6);
    assert_int_equal(p.registered_delivery, 1);
    assert_int_equal(p.sm_len, 4);
    assert_int_equal(p.sm[3], 0xAB);
    /* sm_length larger than what is there */
    pdu[sizeof pdu - 5] = 5;
    assert_int_equal(sim_smpp_decode(pdu, sizeof pdu, &p, &e), SIM_EPARSE);
    pdu[sizeof pdu - 5] = 3; /* one trailing byte: an optional TLV that is truncated */
    sim_err e2 = {0};
    assert_int_equal(sim_smpp_decode(pdu, sizeof pdu, &p, &e2), SIM_EPARSE);
}

static void test_malformed(void **st)
{
    (void)st;
    uint8_t h[64] = {0};
    sim_smpp_pdu p;
    sim_err e = {0};
    sim_put_be32(h, 8); /* length below the header size */
    assert_int_not_equal(sim_smpp_decode(h, 16, &p, &e), SIM_OK);
    sim_put_be32(h, 100000); /* oversize */
    assert_int_not_equal(sim_smpp_decode(h, 16, &p, &e), SIM_OK);
    sim_put_be32(h, 16); /* length vs. bytes mismatch */
    assert_int_not_equal(sim_smpp_decode(h, 20, &p, &e), SIM_OK);
    /* bind with an unterminated system_id */
    sim_put_be32(h, 40);
    sim_put_be32(h + 4, SMPP_BIND_TRANSCEIVER);
    memset(h + 16, 'A', 24);
    assert_int_equal(sim_smpp_decode(h, 40, &p, &e), SIM_EPARSE);
    /* system_id longer than 15 characters but terminated */
    h[16 + 20] = 0;
    sim_err e2 = {0};
    assert_int_equal(sim_smpp_decode(h, 40, &p, &e2), SIM_EPARSE);
    /* unknown command id */
    sim_put_be32(h, 16);
    sim_put_be32(h + 4, 0x00000103);
    sim_err e3 = {0};
    assert_int_not_equal(sim_smpp_decode(h, 16, &p, &e3), SIM_OK);
    /* enquire_link with a body */
    sim_put_be32(h, 17);
    sim_put_be32(h + 4, SMPP_ENQUIRE_LINK);
    sim_err e4 = {0};
    assert_int_equal(sim_smpp_decode(h, 17, &p, &e4), SIM_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
