/* net/smpp: the SMPP 3.4 codec — round trips, the strictness of the decoder (lengths, strings,
 * optional parameters, trailing bytes), and the ESME client against a scripted SMSC on loopback
 * (bind, submit window, deliver_sm acknowledged late, enquire_link, reconnect after a drop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/hex.h"
#include "net/smpp.h"
#include "net/smpp_client.h"

static size_t enc(const smpp_pdu *p, uint8_t *out, size_t cap)
{
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    assert_int_equal(smpp_encode(p, &b, &err), SM_OK);
    assert_true(b.len <= cap);
    memcpy(out, b.data, b.len);
    size_t n = b.len;
    sm_buf_free(&b);
    return n;
}

static void test_roundtrip(void **state)
{
    (void)state;
    uint8_t ud[140];
    for (size_t i = 0; i < sizeof ud; i++)
        ud[i] = (uint8_t)i;
    smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_SUBMIT_SM;
    p.seq = 7;
    snprintf(p.src, sizeof p.src, "12345");
    snprintf(p.dst, sizeof p.dst, "447900000001");
    p.src_ton = p.dst_ton = 1;
    p.esm_class = SMPP_ESM_UDHI;
    p.protocol_id = 0x7F;
    p.data_coding = 0xF6;
    p.sm = ud;
    p.sm_len = sizeof ud;
    uint8_t buf[600];
    size_t n = enc(&p, buf, sizeof buf);
    smpp_pdu d;
    sm_err err = {0};
    assert_int_equal(smpp_decode(buf, n, &d, &err), SM_OK);
    assert_int_equal(d.id, SMPP_SUBMIT_SM);
    assert_int_equal(d.seq, 7);
    assert_string_equal(d.dst, "447900000001");
    assert_int_equal(d.protocol_id, 0x7F);
    assert_int_equal(d.data_coding, 0xF6);
    assert_int_equal(d.sm_len, sizeof ud);
    assert_memory_equal(d.sm, ud, sizeof ud);
    size_t fl = 0;
    assert_int_equal(smpp_frame_len(buf, n, &fl, &err), SM_OK);
    assert_int_equal(fl, n);

    /* a long message goes in message_payload */
    uint8_t big[600];
    memset(big, 0xAB, sizeof big);
    p.id = SMPP_DELIVER_SM;
    p.sm = big;
    p.sm_len = sizeof big;
    p.payload_tlv = true;
    uint8_t buf2[1000];
    n = enc(&p, buf2, sizeof buf2);
    assert_int_equal(smpp_decode(buf2, n, &d, &err), SM_OK);
    assert_true(d.payload_tlv);
    assert_int_equal(d.sm_len, sizeof big);
    /* but never in short_message */
    p.payload_tlv = false;
    sm_buf b;
    sm_buf_init(&b);
    assert_int_equal(smpp_encode(&p, &b, &err), SM_EINVAL);
    sm_buf_free(&b);

    /* bind with a password that does not fit its 9-byte field */
    memset(&p, 0, sizeof p);
    p.id = SMPP_BIND_TRANSCEIVER;
    snprintf(p.system_id, sizeof p.system_id, "smbox");
    snprintf(p.password, sizeof p.password, "12345678");
    n = enc(&p, buf, sizeof buf);
    assert_int_equal(smpp_decode(buf, n, &d, &err), SM_OK);
    assert_string_equal(d.password, "12345678");
}

/* every truncation of a valid deliver_sm, and each malformed variant, is refused */
static void test_strict(void **state)
{
    (void)state;
    smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_DELIVER_SM;
    p.seq = 1;
    snprintf(p.src, sizeof p.src, "447900000001");
    snprintf(p.dst, sizeof p.dst, "12345");
    const uint8_t ud[] = {0x02, 0x71, 0x00, 0x00, 0x0A};
    p.sm = ud;
    p.sm_len = sizeof ud;
    uint8_t buf[200];
    size_t n = enc(&p, buf, sizeof buf);
    smpp_pdu d;
    sm_err err = {0};
    for (size_t cut = 16; cut < n; cut++) {
        uint8_t t[200];
        memcpy(t, buf, cut);
        t[0] = t[1] = 0, t[2] = (uint8_t)(cut >> 8), t[3] = (uint8_t)cut;
        sm_err_clear(&err);
        assert_int_not_equal(smpp_decode(t, cut, &d, &err), SM_OK);
    }
    /* command_length that lies */
    uint8_t t[200];
    memcpy(t, buf, n);
    t[3]++;
    assert_int_equal(smpp_decode(t, n, &d, &err), SM_EPARSE);
    /* trailing garbage after a well-formed body: an optional parameter header cut short */
    memcpy(t, buf, n);
    t[n] = 0x04;
    t[3] = (uint8_t)(n + 1);
    sm_err_clear(&err);
    assert_int_equal(smpp_decode(t, n + 1, &d, &err), SM_EPARSE);
    /* sm_length past the end */
    memcpy(t, buf, n);
    t[n - sizeof ud - 1] = 200;
    sm_err_clear(&err);
    assert_int_equal(smpp_decode(t, n, &d, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "short_message"));
    /* a source address without its NUL within 21 bytes */
    uint8_t longsrc[100] = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0 /* service_type */, 1, 1};
    memset(longsrc + 19, '9', 30);
    longsrc[3] = 60;
    sm_err_clear(&err);
    assert_int_equal(smpp_decode(longsrc, 60, &d, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "source_addr"));
    /* command_length outside the bounds, and an unknown command */
    uint8_t hdr[16] = {0, 0, 0, 15};
    size_t fl;
    assert_int_equal(smpp_frame_len(hdr, 16, &fl, &err), SM_EPARSE);
    uint8_t data_sm[16] = {0, 0, 0, 16, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 9};
    sm_err_clear(&err);
    assert_int_equal(smpp_decode(data_sm, 16, &d, &err), SM_EPROTO);
    assert_int_equal(d.seq, 9);
    /* message_payload together with a short_message */
    uint8_t both[300];
    memcpy(both, buf, n);
    const uint8_t tlv[] = {0x04, 0x24, 0x00, 0x01, 0xAA};
    memcpy(both + n, tlv, sizeof tlv);
    both[3] = (uint8_t)(n + sizeof tlv);
    sm_err_clear(&err);
    assert_int_equal(smpp_decode(both, n + sizeof tlv, &d, &err), SM_EPARSE);
}

static void test_receipt(void **state)
{
    (void)state;
    const char *t = "id:1a2b sub:001 dlvrd:001 submit date:0000000000 done date:0000000000 stat:DELIVRD err:000 text:";
    char id[65], stat[16];
    assert_true(smpp_receipt_parse((const uint8_t *)t, strlen(t), id, sizeof id, stat, sizeof stat));
    assert_string_equal(id, "1a2b");
    assert_string_equal(stat, "DELIVRD");
    assert_false(smpp_receipt_parse((const uint8_t *)"hello", 5, id, sizeof id, stat, sizeof stat));
}

/* ---- the client against a scripted SMSC --------------------------------------------------------- */

static struct {
    int lfd;
    int port;
    int binds, submits, acks, enquires;
    uint32_t ack_status;
    int drop_after_first_bind;
    pthread_t th;
    volatile int stop;
} F;

static int read_pdu(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < 16) {
        ssize_t r = read(fd, buf + got, 16 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    size_t len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (len < 16 || len > cap)
        return -1;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return (int)len;
}

static void send_pdu(int fd, const smpp_pdu *p)
{
    sm_buf b;
    sm_buf_init(&b);
    if (smpp_encode(p, &b, NULL) == SM_OK && write(fd, b.data, b.len) != (ssize_t)b.len)
        fprintf(stderr, "fake smsc: short write\n");
    sm_buf_free(&b);
}

/* One session at a time: answers binds, submits (and sends an MO after the first), enquire_links;
 * after the first bind's first submit it drops the connection once when asked to. */
static void *smsc_main(void *arg)
{
    (void)arg;
    while (!F.stop) {
        int fd = accept(F.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        uint8_t buf[20000];
        int n;
        while ((n = read_pdu(fd, buf, sizeof buf)) > 0) {
            smpp_pdu p, r;
            if (smpp_decode(buf, (size_t)n, &p, NULL) != SM_OK)
                break;
            memset(&r, 0, sizeof r);
            r.seq = p.seq;
            if (p.id == SMPP_BIND_TRANSCEIVER) {
                F.binds++;
                r.id = p.id | SMPP_RESP;
                snprintf(r.system_id, sizeof r.system_id, "fake");
                r.status = strcmp(p.password, "secret") ? SMPP_RINVPASWD : SMPP_ROK;
                send_pdu(fd, &r);
            } else if (p.id == SMPP_SUBMIT_SM) {
                F.submits++;
                r.id = p.id | SMPP_RESP;
                snprintf(r.message_id, sizeof r.message_id, "m%d", F.submits);
                send_pdu(fd, &r);
                if (F.submits == 1) {
                    smpp_pdu mo;
                    memset(&mo, 0, sizeof mo);
                    mo.id = SMPP_DELIVER_SM;
                    mo.seq = 77;
                    snprintf(mo.src, sizeof mo.src, "%s", p.dst);
                    snprintf(mo.dst, sizeof mo.dst, "%s", p.src);
                    mo.esm_class = SMPP_ESM_UDHI;
                    mo.sm = p.sm;
                    mo.sm_len = p.sm_len;
                    send_pdu(fd, &mo);
                }
                if (F.drop_after_first_bind && F.binds == 1 && F.submits == 2)
                    break; /* the link drops: the client reconnects */
            } else if (p.id == (SMPP_DELIVER_SM | SMPP_RESP)) {
                F.acks++;
                F.ack_status = p.status;
            } else if (p.id == SMPP_ENQUIRE_LINK) {
                F.enquires++;
                r.id = p.id | SMPP_RESP;
                send_pdu(fd, &r);
            } else if (p.id == SMPP_UNBIND) {
                r.id = p.id | SMPP_RESP;
                send_pdu(fd, &r);
                break;
            }
        }
        close(fd);
    }
    return NULL;
}

static struct {
    struct event_base *base;
    smpp_client *c;
    int sent_ok, sent_fail, mo;
    char mo_src[21];
    uint64_t ack;
} C;

static void on_sent(void *arg, sm_rc rc, uint32_t status, const char *id)
{
    (void)arg;
    (void)status;
    (void)id;
    if (rc == SM_OK)
        C.sent_ok++;
    else
        C.sent_fail++;
}

static void on_mo(void *arg, const smpp_mo *mo, uint64_t ack)
{
    (void)arg;
    C.mo++;
    snprintf(C.mo_src, sizeof C.mo_src, "%s", mo->src);
    C.ack = ack; /* acknowledged later, as es5 does once the message is recorded */
}

static void run_until(int *what, int want, int ms)
{
    for (int i = 0; i < ms / 10 && *what < want; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(C.base, &tv);
        event_base_dispatch(C.base);
    }
}

static void test_client(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    memset(&C, 0, sizeof C);
    F.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(F.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(F.lfd, 4), 0);
    getsockname(F.lfd, (struct sockaddr *)&a, &al);
    F.port = ntohs(a.sin_port);
    F.drop_after_first_bind = 1;
    assert_int_equal(pthread_create(&F.th, NULL, smsc_main, NULL), 0);

    C.base = event_base_new();
    char server[40];
    snprintf(server, sizeof server, "127.0.0.1:%d", F.port);
    smpp_client_config cfg = {.server = server, .system_id = "smbox", .password = "secret", .source_addr = "12345",
                              .enquire_link_s = 1, .response_timeout_s = 2, .reconnect_min_ms = 50,
                              .reconnect_max_ms = 200, .window = 2};
    sm_err err = {0};
    assert_int_equal(smpp_client_start(C.base, &cfg, on_mo, NULL, &C.c, &err), SM_OK);
    /* queued before the bind: sent once bound */
    const uint8_t ud[] = {0x02, 0x70, 0x00, 0x01, 0x02};
    assert_int_equal(smpp_client_submit(C.c, "447900000001", ud, sizeof ud, on_sent, NULL, &err), SM_OK);
    run_until(&C.mo, 1, 5000);
    assert_int_equal(C.sent_ok, 1);
    assert_int_equal(C.mo, 1);
    assert_string_equal(C.mo_src, "447900000001");
    smpp_client_ack(C.c, C.ack, SMPP_ROK);
    /* the second submit makes the SMSC drop the link: the client reconnects and binds again */
    assert_int_equal(smpp_client_submit(C.c, "447900000001", ud, sizeof ud, on_sent, NULL, &err), SM_OK);
    run_until(&F.binds, 2, 5000);
    assert_int_equal(F.binds, 2);
    run_until(&F.enquires, 1, 3000); /* keep-alive while bound */
    assert_true(F.enquires >= 1);
    assert_int_equal(F.acks, 1);
    assert_int_equal(F.ack_status, SMPP_ROK);
    smpp_client_stats st;
    smpp_client_get_stats(C.c, &st);
    assert_int_equal(st.link, SMPP_LINK_BOUND);
    assert_int_equal(st.binds, 2);
    /* bad input is refused at once */
    uint8_t big[141] = {0};
    assert_int_equal(smpp_client_submit(C.c, "447900000001", big, sizeof big, on_sent, NULL, &err), SM_EINVAL);
    assert_int_equal(smpp_client_submit(C.c, "", ud, sizeof ud, on_sent, NULL, &err), SM_EINVAL);
    smpp_client_stop(C.c);
    event_base_free(C.base); /* runs the bufferevent's finalizer: the socket closes */
    F.stop = 1;
    shutdown(F.lfd, SHUT_RDWR);
    close(F.lfd);
    pthread_join(F.th, NULL);
}

/* a refused password: the bind fails, the client backs off and reports it */
static void test_client_bad_password(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    memset(&C, 0, sizeof C);
    F.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(F.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(F.lfd, 4), 0);
    getsockname(F.lfd, (struct sockaddr *)&a, &al);
    F.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&F.th, NULL, smsc_main, NULL), 0);
    C.base = event_base_new();
    char server[40];
    snprintf(server, sizeof server, "127.0.0.1:%d", F.port);
    smpp_client_config cfg = {.server = server, .system_id = "smbox", .password = "wrong", .source_addr = "12345",
                              .response_timeout_s = 2, .reconnect_min_ms = 50, .reconnect_max_ms = 100};
    sm_err err = {0};
    assert_int_equal(smpp_client_start(C.base, &cfg, on_mo, NULL, &C.c, &err), SM_OK);
    run_until(&F.binds, 2, 5000);
    smpp_client_stats st;
    smpp_client_get_stats(C.c, &st);
    assert_true(st.bind_failures >= 1);
    assert_int_not_equal(st.link, SMPP_LINK_BOUND);
    smpp_client_stop(C.c);
    event_base_free(C.base); /* runs the bufferevent's finalizer: the socket closes */
    F.stop = 1;
    shutdown(F.lfd, SHUT_RDWR);
    close(F.lfd);
    pthread_join(F.th, NULL);
    /* configuration refused up front */
    smpp_client_config bad = {.server = "nocolon", .source_addr = "1"};
    smpp_client *c2 = NULL;
    struct event_base *b2 = event_base_new();
    assert_int_equal(smpp_client_start(b2, &bad, on_mo, NULL, &c2, &err), SM_ECONFIG);
    smpp_client_config bad2 = {.server = "127.0.0.1:1", .password = "123456789", .source_addr = "1"};
    sm_err_clear(&err);
    assert_int_equal(smpp_client_start(b2, &bad2, on_mo, NULL, &c2, &err), SM_ECONFIG);
    event_base_free(b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_receipt),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_client_bad_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
