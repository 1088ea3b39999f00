/* The running simulator, end to end over real sockets: a test SM-SR (an SMPP client and a PSK-TLS
 * HTTPS server written here with plain sockets + OpenSSL) talks to `sim run`'s SMSC and devices:
 * first-attach notifications as MO SMS, notification confirmation by MT SMS with a PoR, a push SMS
 * that makes the device open the RAM-over-HTTP session and run a script, SMSC loss, an unreachable
 * card, and the control socket (stats, show, fault, shutdown). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "tests/sim/batch.h"
#include "tests/sim/scp80.h"
#include "tests/sim/smpp.h"
#include "tests/sim/smsc.h"
#include "tests/sim/state.h"
#include "tests/sim/testutil.h"
#include "tests/sim/tlv.h"
#include "tests/sim/world.h"

#define NCARDS 3

typedef struct card_keys {
    char eid[33], msisdn[16];
    uint8_t eidb[16];
    sim_scp80_keyset ks;
    uint8_t psk[16];
} card_keys;

typedef struct ctx {
    card_keys c[NCARDS];
    uint16_t smpp_port, https_port;
    char ctl[128];
    int https_fd;
    /* results */
    int notif_seen, notif_types_ok, conf_por_ok, push_por_ok, https_ok, https_status_ok, lost_ok, unreach_ok;
    int show_ok, stats_ok, dup_ok, faults_ok;
    char failure[256];
} ctx;

/* ---- SMPP client ---- */
static int smpp_send(int fd, const sim_smpp_pdu *p)
{
    sim_buf b;
    sim_buf_init(&b);
    int ok = sim_smpp_encode(p, &b, NULL) == SIM_OK && write(fd, b.p, b.len) == (ssize_t)b.len;
    sim_buf_free(&b);
    return ok ? 0 : -1;
}

static int readn(int fd, uint8_t *p, size_t n, int ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, ms) <= 0)
            return -1;
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int smpp_recv(int fd, sim_smpp_pdu *p, int ms)
{
    uint8_t buf[SMPP_MAX_PDU];
    if (readn(fd, buf, 4, ms))
        return -1;
    uint32_t len = sim_be32(buf);
    if (len < 16 || len > sizeof buf || readn(fd, buf + 4, len - 4, ms))
        return -1;
    return sim_smpp_decode(buf, len, p, NULL) == SIM_OK ? 0 : -1;
}

/* next deliver_sm (answering it); -1 on timeout */
static int next_deliver(int fd, sim_smpp_pdu *p, int ms)
{
    for (;;) {
        if (smpp_recv(fd, p, ms))
            return -1;
        if (p->id == SMPP_DELIVER_SM) {
            sim_smpp_pdu r;
            memset(&r, 0, sizeof r);
            r.id = SMPP_DELIVER_SM | SMPP_RESP;
            r.seq = p->seq;
            smpp_send(fd, &r);
            if (p->esm_class & 0x04)
                continue; /* delivery receipt */
            return 0;
        }
    }
}

static void submit(int fd, card_keys *c, uint64_t cntr, const uint8_t *data, size_t n, uint32_t seq)
{
    static const uint8_t spi[2] = {0x16, 0x39};
    sim_smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_SUBMIT_SM;
    p.seq = seq;
    strcpy(p.src, "447700900000");
    snprintf(p.dst, sizeof p.dst, "%s", c->msisdn);
    p.esm_class = 0x40;
    p.protocol_id = 0x7F;
    p.data_coding = 0xF6;
    sim_buf ud;
    sim_buf_init(&ud);
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    sim_buf_put(&ud, udh, 3);
    const uint8_t tar[3] = {0, 0, 1};
    sim_scp80_wrap(&c->ks, spi, 0x12, 0x12, tar, cntr, data, n, &ud, NULL);
    memcpy(p.sm, ud.p, ud.len);
    p.sm_len = (uint16_t)ud.len;
    sim_buf_free(&ud);
    smpp_send(fd, &p);
}

/* waits for the submit_sm_resp of seq, answering deliver_sm meanwhile is not needed here */
static int por_status(int fd, card_keys *c, sim_scp80_por *por, int ms)
{
    static const uint8_t spi[2] = {0x16, 0x39};
    sim_smpp_pdu p;
    if (next_deliver(fd, &p, ms))
        return -1;
    return sim_scp80_por_parse(&c->ks, spi, p.sm, p.sm_len, por, NULL) == SIM_OK ? por->status : -2;
}

static int ctl_cmd(const char *path, const char *cmd, char *out, size_t cap)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof un)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    out[0] = 0;
    while (got + 1 < cap) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = 0;
        if ((got >= 3 && !strcmp(out + got - 3, "OK\n")) || strstr(out, "\nOK") || !strncmp(out, "OK", 2) ||
            strstr(out, "ERR "))
            if (out[got - 1] == '\n')
                break;
    }
    close(fd);
    return 0;
}

/* ---- HTTPS server (the SM-SR's RAM over HTTP endpoint) ---- */
static ctx *g_ctx;

static unsigned int psk_server(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max)
{
    (void)ssl;
    /* identity = hex(80 01 02 81 10 EID 4F 10 AID 82 01 id 83 01 kvn) */
    if (strlen(identity) != 90 || strncmp(identity, "8001028110", 10) || max < 16)
        return 0;
    for (int i = 0; i < NCARDS; i++)
        if (!strncasecmp(identity + 10, g_ctx->c[i].eid, 32)) {
            memcpy(psk, g_ctx->c[i].psk, 16);
            return 16;
        }
    return 0;
}

static int ssl_read_req(SSL *s, char *buf, size_t cap, size_t *bodyoff, size_t *bodylen)
{
    size_t got = 0;
    for (;;) {
        int r = SSL_read(s, buf + got, (int)(cap - 1 - got));
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = 0;
        char *eoh = strstr(buf, "\r\n\r\n");
        if (!eoh)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        size_t len = cl ? strtoul(cl + 15, NULL, 10) : 0;
        size_t off = (size_t)(eoh + 4 - buf);
        if (got >= off + len) {
            *bodyoff = off;
            *bodylen = len;
            return 0;
        }
    }
}

static void *https_thread(void *arg)
{
    ctx *c = arg;
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(sc, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(sc, "PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256");
    SSL_CTX_set_psk_server_callback(sc, psk_server);
    struct pollfd pf = {c->https_fd, POLLIN, 0};
    if (poll(&pf, 1, 15000) <= 0) {
        SSL_CTX_free(sc);
        return NULL;
    }
    int fd = accept(c->https_fd, NULL, NULL);
    SSL *s = SSL_new(sc);
    SSL_set_fd(s, fd);
    char buf[16384];
    size_t bo, bl;
    if (SSL_accept(s) == 1 && ssl_read_req(s, buf, sizeof buf, &bo, &bl) == 0 && !strncmp(buf, "POST /admin/ ", 13) &&
        strstr(buf, "X-Admin-Protocol: globalplatform-remote-admin/1.0") && strstr(buf, "X-Admin-From: //se-id/eid/")) {
        /* GET DATA FF21 and GET STATUS of all ISD-Ps */
        static const uint8_t script[] = {0xAE, 0x80, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00, 0x22, 0x07, 0x80,
                                         0xF2, 0x40, 0x02, 0x02, 0x4F, 0x00, 0x00, 0x00};
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "HTTP/1.1 200 OK\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n"
                          "Content-Type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\n"
                          "X-Admin-Next-URI: /admin/r1\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
                          sizeof script);
        SSL_write(s, hdr, hl);
        SSL_write(s, script, sizeof script);
        SSL_write(s, "\r\n0\r\n\r\n", 7);
        if (ssl_read_req(s, buf, sizeof buf, &bo, &bl) == 0 && !strncmp(buf, "POST /admin/r1 ", 15)) {
            c->https_status_ok = strstr(buf, "X-Admin-Script-Status: ok") != NULL;
            const uint8_t *b = (const uint8_t *)buf + bo;
            /* AF 80 80 01 02 23 .. 90 00 23 .. 90 00 00 00 */
            c->https_ok = bl > 8 && b[0] == 0xAF && b[1] == 0x80 && b[2] == 0x80 && b[4] == 2 && b[bl - 1] == 0 &&
                          b[bl - 2] == 0 && b[bl - 3] == 0x00 && b[bl - 4] == 0x90;
            const char *bye = "HTTP/1.1 204 No Content\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n\r\n";
            SSL_write(s, bye, (int)strlen(bye));
        }
    }
    SSL_shutdown(s);
    SSL_free(s);
    close(fd);
    SSL_CTX_free(sc);
    return NULL;
}

static void *client_thread(void *arg)
{
    ctx *c = arg;
    char out[8192];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->smpp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        snprintf(c->failure, sizeof c->failure, "cannot connect to the SMSC");
        goto done;
    }
    sim_smpp_pdu p;
    memset(&p, 0, sizeof p);
    p.id = SMPP_BIND_TRANSCEIVER;
    p.seq = 1;
    strcpy(p.system_id, "smsr");
    strcpy(p.password, "pw");
    p.interface_version = 0x34;
    smpp_send(fd, &p);
    if (smpp_recv(fd, &p, 5000) || p.id != (SMPP_BIND_TRANSCEIVER | SMPP_RESP) || p.status) {
        snprintf(c->failure, sizeof c->failure, "bind failed");
        goto done;
    }
    /* first-attach notifications of all cards */
    uint16_t seq0 = 0;
    int types_ok = 1;
    for (int i = 0; i < NCARDS; i++) {
        if (next_deliver(fd, &p, 5000))
            break;
        c->notif_seen++;
        card_keys *k = NULL;
        for (int j = 0; j < NCARDS; j++)
            if (!strcmp(p.src, c->c[j].msisdn))
                k = &c->c[j];
        sim_scp80_cmd cmd;
        sim_buf plain;
        sim_buf_init(&plain);
        uint8_t st;
        int sec;
        sim_scp80_keyset ks = k ? k->ks : c->c[0].ks;
        sim_tlv e1, t;
        if (!k || p.sm_len < 4 || sim_scp80_unwrap(p.sm + 3, p.sm_len - 3u, &ks, 1, &cmd, &plain, &st, &sec, NULL) ||
            sim_tlv_find(plain.p + cmd.data_off, cmd.data_len, 0xE1, &e1) != 1 ||
            sim_tlv_find(e1.v, e1.len, 0x4D, &t) != 1 || t.v[0] != 0x01)
            types_ok = 0;
        else if (k == &c->c[0] && sim_tlv_find(e1.v, e1.len, 0x4E, &t) == 1)
            seq0 = sim_be16(t.v);
        sim_buf_free(&plain);
    }
    c->notif_types_ok = types_ok && seq0;
    /* confirm card 0's notification: 3A08 { 4E seq } */
    uint8_t conf[] = {0xAA, 0x0E, 0x22, 0x0C, 0x80, 0xE2, 0x89, 0x00, 0x07, 0x3A, 0x08, 0x04, 0x4E, 0x02,
                      (uint8_t)(seq0 >> 8), (uint8_t)seq0};
    submit(fd, &c->c[0], 1, conf, sizeof conf, 10);
    sim_scp80_por por;
    int stc = por_status(fd, &c->c[0], &por, 5000);
    if (stc == 0) {
        sim_tlv ab, r;
        c->conf_por_ok = sim_tlv_find(por.data.p, por.data.len, 0xAB, &ab) == 1 &&
                         sim_tlv_find(ab.v, ab.len, 0x23, &r) == 1 && sim_be16(r.v + r.len - 2) == 0x9000;
    }
    if (stc >= 0 || stc == -2)
        sim_buf_free(&por.data);
    /* push SMS to card 1 -> HTTPS session */
    static const uint8_t trig[] = {0x81, 0x18, 0x83, 0x16, 0x89, 0x14, 0x8A, 0x09, 's', 'm', 's', 'r', '.', 't',
                                   'e', 's', 't', 0x8C, 0x07, '/', 'a', 'd', 'm', 'i', 'n', '/'};
    submit(fd, &c->c[1], 1, trig, sizeof trig, 11);
    stc = por_status(fd, &c->c[1], &por, 5000);
    c->push_por_ok = stc == 0;
    if (stc >= 0 || stc == -2)
        sim_buf_free(&por.data);
    /* the SMSC loses the next message: no PoR */
    ctl_cmd(c->ctl, "smsc lose 1", out, sizeof out);
    static const uint8_t gd[] = {0xAA, 0x07, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00};
    submit(fd, &c->c[2], 1, gd, sizeof gd, 12);
    c->lost_ok = next_deliver(fd, &p, 700) != 0;
    /* an unreachable card: nothing either; then reachable again */
    char cmd[640];
    snprintf(cmd, sizeof cmd, "fault %s unreachable 1", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    submit(fd, &c->c[2], 2, gd, sizeof gd, 13);
    int quiet = next_deliver(fd, &p, 700) != 0;
    snprintf(cmd, sizeof cmd, "fault %s unreachable 0", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    submit(fd, &c->c[2], 3, gd, sizeof gd, 14);
    stc = por_status(fd, &c->c[2], &por, 5000);
    c->unreach_ok = quiet && stc == 0;
    if (stc >= 0 || stc == -2)
        sim_buf_free(&por.data);
    /* the SMSC duplicates the next message: the copy is a replay, the card answers PoR 02 */
    ctl_cmd(c->ctl, "smsc duplicate 1", out, sizeof out);
    submit(fd, &c->c[2], 4, gd, sizeof gd, 15);
    int s1 = por_status(fd, &c->c[2], &por, 5000);
    if (s1 >= 0 || s1 == -2)
        sim_buf_free(&por.data);
    int s2 = por_status(fd, &c->c[2], &por, 5000);
    if (s2 >= 0 || s2 == -2)
        sim_buf_free(&por.data);
    c->dup_ok = s1 == 0 && s2 == SIM_POR_CNTR_LOW;
    /* a tampered PoR no longer verifies; a slow card still answers */
    snprintf(cmd, sizeof cmd, "fault %s tamper 1", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    submit(fd, &c->c[2], 5, gd, sizeof gd, 16);
    s1 = por_status(fd, &c->c[2], &por, 5000);
    snprintf(cmd, sizeof cmd, "fault %s tamper 0", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    snprintf(cmd, sizeof cmd, "fault %s slow-ms 300", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    submit(fd, &c->c[2], 6, gd, sizeof gd, 17);
    s2 = por_status(fd, &c->c[2], &por, 5000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s2 >= 0 || s2 == -2)
        sim_buf_free(&por.data);
    /* the PoR was held back by the switch (a lower bound: the card never answers sooner) */
    long slow_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (slow_ms < 300)
        s2 = -100;
    /* counter-ahead: the SR's next counter (7) is now too low */
    snprintf(cmd, sizeof cmd, "fault %s counter-ahead 100", c->c[2].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    submit(fd, &c->c[2], 7, gd, sizeof gd, 18);
    int s3 = por_status(fd, &c->c[2], &por, 5000);
    if (s3 >= 0 || s3 == -2)
        sim_buf_free(&por.data);
    c->faults_ok = s1 == -2 && s2 == 0 && s3 == SIM_POR_CNTR_LOW;
    /* wait for the HTTPS session to end, then look at the card states */
    for (int i = 0; i < 50; i++) {
        snprintf(cmd, sizeof cmd, "show %s", c->c[1].eid);
        ctl_cmd(c->ctl, cmd, out, sizeof out);
        if (strstr(out, "session=none"))
            break;
        usleep(100000);
    }
    snprintf(cmd, sizeof cmd, "show %s", c->c[0].eid);
    ctl_cmd(c->ctl, cmd, out, sizeof out);
    c->show_ok = strstr(out, "notification.pending=0") != NULL && strstr(out, "scp80.01.counter=1") != NULL;
    ctl_cmd(c->ctl, "stats", out, sizeof out);
    c->stats_ok = strstr(out, "mt_lost=1") != NULL && strstr(out, "https_sessions=1") != NULL &&
                  strstr(out, "push=1") != NULL;
    ctl_cmd(c->ctl, "bogus", out, sizeof out);
    if (strncmp(out, "ERR ", 4))
        c->stats_ok = 0;
done:
    close(fd);
    ctl_cmd(c->ctl, "shutdown", out, sizeof out);
    return NULL;
}

static void test_run_end_to_end(void **st)
{
    (void)st;
    ctx *c = calloc(1, sizeof *c);
    g_ctx = c;
    char dir[64], pkidir[128], sdir[128];
    assert_non_null(tu_tmpdir(dir, sizeof dir));
    snprintf(pkidir, sizeof pkidir, "%s/pki", dir);
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    snprintf(c->ctl, sizeof c->ctl, "%s/ctl.sock", dir);
    sim_err err = {0};
    sim_pki pki;
    if (sim_pki_generate(pkidir, &err) || sim_pki_load(pkidir, &pki, &err))
        fail_msg("pki: %s", err.msg);
    sim_fleet f;
    sim_fleet_init(&f);
    sim_fleet_opts o = {.count = NCARDS, .first_serial = 500};
    if (sim_fleet_create(&f, &pki, &o, &err) || sim_state_save(&f, sdir, &err))
        fail_msg("fleet: %s", err.msg);
    for (int i = 0; i < NCARDS; i++) {
        sim_eid_hex(f.cards[i], c->c[i].eid);
        memcpy(c->c[i].eidb, f.cards[i]->eid, 16);
        snprintf(c->c[i].msisdn, sizeof c->c[i].msisdn, "%s", sim_euicc_msisdn(f.cards[i]));
        c->c[i].ks = f.cards[i]->scp80[0];
        memcpy(c->c[i].psk, f.cards[i]->scp81[0].psk, 16);
    }
    sim_fleet_free(&f);
    sim_pki_free(&pki);
    /* HTTPS listener for the test SM-SR */
    c->https_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(c->https_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(c->https_fd, 4), 0);
    socklen_t sl = sizeof sa;
    getsockname(c->https_fd, (struct sockaddr *)&sa, &sl);
    c->https_port = ntohs(sa.sin_port);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/admin/", c->https_port);
    sim_world w;
    sim_world_init(&w);
    w.attach_spread_ms = 0;
    w.notif_retry_ms = 60000;
    if (sim_world_open(&w, sdir, "127.0.0.1:0", url, c->ctl, &err))
        fail_msg("world: %s", err.msg);
    c->smpp_port = sim_smsc_port(&w);
    pthread_t th, tc;
    pthread_create(&th, NULL, https_thread, c);
    pthread_create(&tc, NULL, client_thread, c);
    event_base_dispatch(w.base);
    pthread_join(tc, NULL);
    pthread_join(th, NULL);
    sim_world_close(&w);
    close(c->https_fd);
    /* the state was saved at shutdown: card 0's notification is gone, its counter is 1 */
    sim_fleet g;
    sim_fleet_init(&g);
    assert_int_equal(sim_state_load(&g, sdir, NULL), SIM_OK);
    sim_euicc *e0 = sim_fleet_by_eid(&g, c->c[0].eid);
    assert_non_null(e0);
    assert_int_equal(e0->scp80[0].cntr, 1);
    assert_int_equal(e0->first_attach_done, 1);
    sim_fleet_free(&g);
    tu_rmrf(dir);
    if (c->failure[0])
        fail_msg("%s", c->failure);
    if (!(c->notif_types_ok && c->conf_por_ok && c->push_por_ok && c->https_ok && c->https_status_ok && c->lost_ok &&
          c->unreach_ok && c->show_ok && c->stats_ok && c->dup_ok && c->faults_ok))
        fprintf(stderr, "seen=%d types=%d conf=%d push=%d https=%d status=%d lost=%d unreach=%d show=%d stats=%d\n",
            c->notif_seen, c->notif_types_ok, c->conf_por_ok, c->push_por_ok, c->https_ok, c->https_status_ok,
            c->lost_ok, c->unreach_ok, c->show_ok, c->stats_ok);
    if (!c->dup_ok || !c->faults_ok)
        fprintf(stderr, "dup=%d faults=%d\n", c->dup_ok, c->faults_ok);
    assert_int_equal(c->notif_seen, NCARDS);
    assert_true(c->notif_types_ok);
    assert_true(c->conf_por_ok);
    assert_true(c->push_por_ok);
    assert_true(c->https_ok);
    assert_true(c->https_status_ok);
    assert_true(c->lost_ok);
    assert_true(c->unreach_ok);
    assert_true(c->show_ok);
    assert_true(c->stats_ok);
    assert_true(c->dup_ok);
    assert_true(c->faults_ok);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_end_to_end)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
