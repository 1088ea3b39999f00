/* crypto/scp81 (GP Amd B, PSK-TLS admin over HTTP) and hsm_unwrap_psk_for_tls: PSK identities,
 * the PSK obtained for a handshake (wiped, nothing non-sensitive left in the token), real TLS 1.2
 * PSK handshakes through memory BIOs (allowed suites succeed; wrong key, TLS 1.3-only, disallowed
 * suites and unknown identities fail), X-Admin-* headers, command/response scripts, push trigger.
 * No public vectors exist for these formats: the checks are structural and against crypto.md §6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/err.h>

#include "crypto/scp81.h"
#include "crypto/tlv.h"
#include "tests/crypto/ctest.h"

static const uint8_t EID[16] = {0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23, 0x45, 0x12, 0x34, 0x56, 0x78, 0x90, 0x13, 0x35};
static const uint8_t ISDR[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
static const uint8_t PSK[16] = "sixteen-byte-psk";

static void test_psk_identity(void **state)
{
    sm_err err = {0};
    scp81_psk_id id = {.format = 2, .aid_len = 16, .key_id = 1, .kvn = 0x40}, back;
    memcpy(id.eid, EID, 16);
    memcpy(id.aid, ISDR, 16);
    char text[128];
    assert_int_equal(scp81_psk_id_encode(&id, text, sizeof text, &err), SM_OK);
    assert_string_equal(text, "800102811089049032123451234512345678901335" "4F10A0000005591010FFFFFFFF8900000100"
                              "820101830140");
    assert_int_equal(scp81_psk_id_decode(text, strlen(text), &back, &err), SM_OK);
    assert_memory_equal(&back, &id, sizeof id);
    /* lowercase is accepted too */
    for (char *p = text; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
    assert_int_equal(scp81_psk_id_decode(text, strlen(text), &back, &err), SM_OK);
    const char *bad[] = {
        "800102",                                                                                      /* truncated */
        "81108904903212345123451234567890133580010240" "10A0000005591010FFFFFFFF8900000100820101830140", /* order */
        "800102811089049032123451234512345678901335" "4F10A0000005591010FFFFFFFF8900000100820101830130", /* KVN 30 */
        "800102811089049032123451234512345678901335" "4F10A0000005591010FFFFFFFF8900000100820101830140" "00",
        "800102811089049032123451234512345678901335" "4F10A0000005591010FFFFFFFF8900000100820101830140" "0",
        "80010281108904903212345123451234567890133X" "4F10A0000005591010FFFFFFFF8900000100820101830140",
        "8001028108890490321234512345" "4F10A0000005591010FFFFFFFF8900000100820101830140",            /* EID 8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sm_err_clear(&err);
        if (scp81_psk_id_decode(bad[i], strlen(bad[i]), &back, &err) != SM_EPROTO)
            fail_msg("case %zu accepted", i);
    }
    id.aid_len = 3;
    assert_int_equal(scp81_psk_id_encode(&id, text, sizeof text, &err), SM_EINVAL);
}

static hsm_key KEK;
static uint8_t WRAPPED[48];
static size_t WRAPPED_LEN;

static int count_flagged(const hsm_objinfo *o, void *arg)
{
    if (o->flagged)
        (*(int *)arg)++;
    return 0;
}

static void make_wrapped_psk(hsm_sess *s)
{
    sm_err err = {0};
    hsm_keyspec ksp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    assert_int_equal(hsm_key_generate(s, &ksp, &KEK, &err), SM_OK);
    hsm_keyspec psp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .wrappable = true};
    hsm_key k;
    assert_int_equal(hsm_secret_import(s, &psp, PSK, 16, &k, &err), SM_OK);
    assert_int_equal(hsm_wrap(s, &KEK, &k, WRAPPED, sizeof WRAPPED, &WRAPPED_LEN, &err), SM_OK);
    hsm_key_destroy(s, &k, NULL);
}

static void test_psk_load(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    make_wrapped_psk(s);
    int before = 0, after = 0;
    assert_int_equal(hsm_objects_list(s, count_flagged, &before, &err), SM_OK);
    scp81_psk psk;
    assert_int_equal(scp81_psk_load(s, &KEK, WRAPPED, WRAPPED_LEN, &psk, &err), SM_OK);
    assert_int_equal(psk.len, 16);
    assert_memory_equal(psk.key, PSK, 16);
    /* the non-sensitive helper object is gone again */
    assert_int_equal(hsm_objects_list(s, count_flagged, &after, &err), SM_OK);
    assert_int_equal(after, before);
    scp81_psk_wipe(&psk);
    assert_null(psk.key);
    /* a tampered blob or another KEK: no key, nothing left behind */
    uint8_t bad[48];
    memcpy(bad, WRAPPED, WRAPPED_LEN);
    bad[3] ^= 1;
    assert_int_not_equal(scp81_psk_load(s, &KEK, bad, WRAPPED_LEN, &psk, &err), SM_OK);
    assert_null(psk.key);
    sm_err_clear(&err);
    hsm_keyspec ksp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    hsm_key other;
    assert_int_equal(hsm_key_generate(s, &ksp, &other, &err), SM_OK);
    assert_int_not_equal(scp81_psk_load(s, &other, WRAPPED, WRAPPED_LEN, &psk, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(scp81_psk_load(s, &KEK, WRAPPED, 7, &psk, &err), SM_EINVAL);
    after = 0;
    assert_int_equal(hsm_objects_list(s, count_flagged, &after, &err), SM_OK);
    assert_int_equal(after, before);
    /* the error never carries the key */
    assert_null(memmem(err.msg, strlen(err.msg), PSK, 16));
}

/* ---- TLS ------------------------------------------------------------------------------------ */

static hsm_sess *TLS_SESS;
static int lookups;

static sm_rc lookup(void *arg, const scp81_psk_id *id, scp81_psk *psk, sm_err *err)
{
    lookups++;
    if (memcmp(id->eid, EID, 16) != 0 || id->kvn != 0x40)
        return sm_errf(err, SM_ENOTFOUND, "no PSK for this EID/KVN");
    return scp81_psk_load(TLS_SESS, &KEK, WRAPPED, WRAPPED_LEN, psk, err);
}

static const uint8_t *client_key;
static char client_identity[128];

static unsigned int client_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_identity_len,
                              unsigned char *psk, unsigned int max_psk_len)
{
    snprintf(identity, max_identity_len, "%s", client_identity);
    memcpy(psk, client_key, 16);
    return 16;
}

/* Runs a handshake between a fresh server and a client configured by the arguments. */
static int handshake(const char *ciphers, int max_version, const char **suite)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    sm_err err = {0};
    assert_int_equal(scp81_tls_server_setup(sctx, lookup, NULL, &err), SM_OK);
    assert_int_equal(SSL_CTX_get_session_cache_mode(sctx), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_psk_client_callback(cctx, client_cb);
    if (ciphers)
        SSL_CTX_set_cipher_list(cctx, ciphers);
    SSL_CTX_set_max_proto_version(cctx, max_version);
    if (max_version == TLS1_3_VERSION)
        SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    SSL *srv = SSL_new(sctx), *cli = SSL_new(cctx);
    BIO *a, *b;
    BIO_new_bio_pair(&a, 0, &b, 0);
    SSL_set_bio(srv, a, a);
    SSL_set_bio(cli, b, b);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        int rs = SSL_do_handshake(srv), rc = SSL_do_handshake(cli);
        if (rs == 1 && rc == 1) {
            ok = 1;
            break;
        }
        int es = SSL_get_error(srv, rs), ec = SSL_get_error(cli, rc);
        if ((rs != 1 && es != SSL_ERROR_WANT_READ && es != SSL_ERROR_WANT_WRITE) ||
            (rc != 1 && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE))
            break;
    }
    if (ok) {
        *suite = SSL_CIPHER_get_name(SSL_get_current_cipher(srv));
        assert_true(scp81_cipher_allowed((uint16_t)SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(srv))));
        assert_int_equal(SSL_version(srv), TLS1_2_VERSION);
        char buf[8];
        assert_int_equal(SSL_write(cli, "POST", 4), 4);
        assert_int_equal(SSL_read(srv, buf, sizeof buf), 4);
        assert_memory_equal(buf, "POST", 4);
    }
    ERR_clear_error();
    SSL_free(srv);
    SSL_free(cli);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return ok;
}

static void test_tls_psk_handshake(void **state)
{
    TLS_SESS = sess();
    sm_err err = {0};
    if (!WRAPPED_LEN)
        make_wrapped_psk(TLS_SESS);
    scp81_psk_id id = {.format = 2, .aid_len = 16, .key_id = 1, .kvn = 0x40};
    memcpy(id.eid, EID, 16);
    memcpy(id.aid, ISDR, 16);
    assert_int_equal(scp81_psk_id_encode(&id, client_identity, sizeof client_identity, &err), SM_OK);
    client_key = PSK;
    const char *suite = NULL;
    assert_true(handshake("PSK-AES128-GCM-SHA256", TLS1_2_VERSION, &suite));
    assert_string_equal(suite, "PSK-AES128-GCM-SHA256");
    assert_true(handshake("PSK-AES128-CBC-SHA256", TLS1_2_VERSION, &suite));
    assert_string_equal(suite, "PSK-AES128-CBC-SHA256");
    /* suites SGP.02 does not list */
    assert_false(handshake("PSK-AES128-CBC-SHA", TLS1_2_VERSION, &suite));
    assert_false(handshake("PSK-AES256-GCM-SHA384", TLS1_2_VERSION, &suite));
    /* TLS 1.3 only */
    assert_false(handshake(NULL, TLS1_3_VERSION, &suite));
    /* the wrong key */
    static const uint8_t wrong[16] = "sixteen-byte-PSK";
    client_key = wrong;
    assert_false(handshake("PSK-AES128-GCM-SHA256", TLS1_2_VERSION, &suite));
    client_key = PSK;
    /* an identity the SM-SR does not know, and a malformed one */
    id.kvn = 0x41;
    assert_int_equal(scp81_psk_id_encode(&id, client_identity, sizeof client_identity, &err), SM_OK);
    assert_false(handshake("PSK-AES128-GCM-SHA256", TLS1_2_VERSION, &suite));
    assert_non_null(strstr(scp81_tls_last_error(NULL), "no PSK"));
    int before = lookups;
    snprintf(client_identity, sizeof client_identity, "not-hex");
    assert_false(handshake("PSK-AES128-GCM-SHA256", TLS1_2_VERSION, &suite));
    assert_int_equal(lookups, before); /* refused before any lookup */
    assert_non_null(strstr(scp81_tls_last_error(NULL), "PSK identity"));
    assert_true(scp81_cipher_allowed(0x00A8));
    assert_false(scp81_cipher_allowed(0x008C));
}

/* ---- HTTP ------------------------------------------------------------------------------------- */

static void test_http_headers(void **state)
{
    sm_err err = {0};
    scp81_request r;
    scp81_request_init(&r);
    assert_int_equal(scp81_request_header(&r, "x-admin-protocol", " globalplatform-remote-admin/1.0 ", &err), SM_OK);
    assert_int_equal(scp81_request_header(&r, "X-Admin-From",
                                          "//se-id/eid/89049032123451234512345678901335;//aa-id/aid/A000000559/"
                                          "1010FFFFFFFF8900000100", &err), SM_OK);
    assert_int_equal(scp81_request_header(&r, "Host", "smsr.example", &err), SM_OK);
    assert_int_equal(scp81_request_check(&r, 0, &err), SM_OK);
    assert_true(r.has_from);
    assert_memory_equal(r.eid, EID, 16);
    assert_int_equal(r.agent_aid_len, 16);
    assert_memory_equal(r.agent_aid, ISDR, 16);
    assert_int_equal(r.status, SCP81_ST_NONE);
    /* a body needs content type and status */
    assert_int_equal(scp81_request_check(&r, 10, &err), SM_EPROTO);
    sm_err_clear(&err);
    assert_int_equal(scp81_request_header(&r, "Content-Type",
                                          "application/vnd.globalplatform.card-content-mgt-response; version=1.0", &err),
                     SM_OK);
    assert_int_equal(scp81_request_header(&r, "X-Admin-Script-Status", "security-error", &err), SM_OK);
    assert_int_equal(r.status, SCP81_ST_SECURITY_ERROR);
    assert_int_equal(scp81_request_check(&r, 10, &err), SM_OK);
    assert_int_equal(scp81_request_header(&r, "X-Admin-Resume", "true", &err), SM_OK);
    assert_true(r.resume);

    const struct {
        const char *n, *v;
    } bad[] = {
        {"X-Admin-Protocol", "globalplatform-remote-admin/2.0"},
        {"X-Admin-From", "//se-id/eid/8904903212345123451234567890133;//aa-id/aid/A000000559/10"},
        {"X-Admin-From", "//se-id/eid/89049032123451234512345678901335//aa-id/aid/A000000559/10"},
        {"X-Admin-From", "//se-id/eid/89049032123451234512345678901335;//aa-id/aid/A0000005/10"},
        {"X-Admin-From", "//se-id/eid/89049032123451234512345678901335;//aa-id/aid/A000000559/1"},
        {"X-Admin-From", "//se-id/eid/89049032123451234512345678901335;//aa-id/aid/A000000559/00112233445566778899AABB"},
        {"X-Admin-Script-Status", "fine"},
        {"X-Admin-Resume", "yes"},
        {"Content-Type", "application/vnd.globalplatform.card-content-mgt;version=1.0"},
        {"X-Admin-Next-URI", "/x\x01y"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        scp81_request q;
        scp81_request_init(&q);
        sm_err_clear(&err);
        if (scp81_request_header(&q, bad[i].n, bad[i].v, &err) != SM_EPROTO)
            fail_msg("%s: %s accepted", bad[i].n, bad[i].v);
    }
    /* repeats */
    sm_err_clear(&err);
    assert_int_equal(scp81_request_header(&r, "X-Admin-Script-Status", "ok", &err), SM_EPROTO);
    scp81_request q;
    scp81_request_init(&q);
    assert_int_equal(scp81_request_check(&q, 0, &err), SM_EPROTO);

    /* the SM-SR's replies */
    sm_buf b;
    sm_buf_init(&b);
    scp81_reply rep = {.status = 200, .next_uri = "/smsr/ras/7/1", .target_aid = ISDR, .target_aid_len = 16};
    assert_int_equal(scp81_reply_headers(&rep, &b, &err), SM_OK);
    sm_buf_append_byte(&b, 0);
    assert_string_equal((char *)b.data, "X-Admin-Protocol: globalplatform-remote-admin/1.0\r\n"
                                        "Content-Type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\n"
                                        "X-Admin-Next-URI: /smsr/ras/7/1\r\n"
                                        "X-Admin-Targeted-Application: //aid/A000000559/1010FFFFFFFF8900000100\r\n");
    sm_buf_reset(&b);
    scp81_reply end = {.status = 204};
    assert_int_equal(scp81_reply_headers(&end, &b, &err), SM_OK);
    sm_buf_append_byte(&b, 0);
    assert_string_equal((char *)b.data, "X-Admin-Protocol: globalplatform-remote-admin/1.0\r\n");
    scp81_reply nouri = {.status = 200};
    assert_int_equal(scp81_reply_headers(&nouri, &b, &err), SM_EINVAL);
    sm_err_clear(&err);
    scp81_reply crlf = {.status = 204, .next_uri = "/a\r\nX-Evil: 1"};
    assert_int_equal(scp81_reply_headers(&crlf, &b, &err), SM_EINVAL);
    sm_err_clear(&err);
    scp81_reply st = {.status = 302, .next_uri = "/a"};
    assert_int_equal(scp81_reply_headers(&st, &b, &err), SM_EINVAL);
    sm_buf_free(&b);
}

static void test_scripts(void **state)
{
    sm_err err = {0};
    sm_buf b;
    sm_buf_init(&b);
    scp81_script sc;
    assert_int_equal(scp81_script_open(&sc, &b, true, &err), SM_OK);
    assert_int_equal(scp81_script_chaining(&sc, 0x01, &err), SM_OK);
    const uint8_t a1[] = {0x80, 0xCA, 0x00, 0x66, 0x00}, a2[] = {0x80, 0xE2, 0x89, 0x00, 0x03, 0x3A, 0x08, 0x00};
    assert_int_equal(scp81_script_capdu(&sc, a1, sizeof a1, &err), SM_OK);
    assert_int_equal(scp81_script_capdu(&sc, a2, sizeof a2, &err), SM_OK);
    const uint8_t scp03t[] = {0x84, 0x0A, 0x30, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(scp81_script_raw(&sc, scp03t, sizeof scp03t, &err), SM_OK);
    assert_int_equal(scp81_script_chaining(&sc, 0x02, &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(scp81_script_raw(&sc, scp03t, 5, &err), SM_EPARSE);
    sm_err_clear(&err);
    assert_int_equal(scp81_script_close(&sc, &err), SM_OK);
    assert_hex_equal(b.data, b.len, "ae80" "830101" "220580ca006600" "220880e28900033a0800" "840a30000102030405060708" "0000");
    scp81_parsed ps;
    assert_int_equal(scp81_script_parse(b.data, b.len, false, &ps, &err), SM_OK);
    assert_true(ps.indefinite);
    assert_int_equal(ps.chaining, 1);
    assert_int_equal(ps.n, 4);
    assert_int_equal(ps.n_apdu, 2);
    assert_int_equal(ps.items[3].tag, 0x84);
    scp81_parsed_free(&ps);
    /* as a response script it is refused */
    assert_int_equal(scp81_script_parse(b.data, b.len, true, &ps, &err), SM_EPARSE);
    sm_err_clear(&err);
    /* the definite form */
    sm_buf_reset(&b);
    assert_int_equal(scp81_script_open(&sc, &b, false, &err), SM_OK);
    uint8_t big[300];
    memset(big, 0x11, sizeof big);
    memcpy(big, a2, 4);
    assert_int_equal(scp81_script_capdu(&sc, big, sizeof big, &err), SM_OK);
    assert_int_equal(scp81_script_close(&sc, &err), SM_OK);
    assert_hex_equal(b.data, 8, "aa8201302282012c");
    assert_int_equal(scp81_script_parse(b.data, b.len, false, &ps, &err), SM_OK);
    assert_false(ps.indefinite);
    assert_int_equal(ps.items[0].len, 300);
    scp81_parsed_free(&ps);

    /* response scripts */
    uint8_t rs[64];
    size_t rl = testenv_unhex("af80" "800102" "2303bf3e00" "23029000" "9F460102" "0000", rs, sizeof rs);
    assert_int_equal(scp81_script_parse(rs, rl, true, &ps, &err), SM_OK);
    assert_int_equal(ps.executed, 2);
    assert_int_equal(ps.n_apdu, 2);
    const uint8_t *d;
    size_t dl;
    uint16_t sw;
    assert_int_equal(scp81_rapdu(&ps.items[1], &d, &dl, &sw, &err), SM_OK);
    assert_int_equal(dl, 1);
    assert_int_equal(sw, 0x3E00);
    assert_int_equal(scp81_rapdu(&ps.items[2], &d, &dl, &sw, &err), SM_OK);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(scp81_rapdu(&ps.items[3], &d, &dl, &sw, &err), SM_EPARSE);
    scp81_parsed_free(&ps);
    sm_err_clear(&err);
    const char *bad[] = {
        "af8080010223029000",            /* not terminated */
        "af80800102230290000000aa",      /* trailing bytes */
        "ab80800102230290000000",        /* AB must be definite */
        "af0523029000",                  /* AF must be indefinite */
        "af802301000000",                /* R-APDU of one byte */
        "af80800201022302900000 00",     /* 80 of two bytes */
        "af80a08023029000000000 00",     /* indefinite element */
        "ae80220380ca000000",            /* C-APDU of three bytes */
        "ae802205" "80ca006600" "830101" "0000", /* chaining not first */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t x[64];
        size_t xl = testenv_unhex(bad[i], x, sizeof x);
        sm_err_clear(&err);
        sm_rc rc = scp81_script_parse(x, xl, xl > 0 && (x[0] == 0xAF || x[0] == 0xAB), &ps, &err);
        if (rc == SM_OK)
            fail_msg("case %zu (%s) accepted", i, bad[i]);
        assert_null(ps.items);
    }
    sm_buf_free(&b);
}

static void test_push_trigger(void **state)
{
    sm_err err = {0};
    sm_buf b;
    sm_buf_init(&b);
    const uint8_t conn[] = {0x35, 0x01, 0x03, 0x39, 0x02, 0x05, 0x78, 0x3C, 0x03, 0x02, 0x01, 0xBB};
    const char *pskid = "800102811089049032123451234512345678901335";
    scp81_trigger t = {.conn = conn, .conn_len = sizeof conn, .psk_id = (const uint8_t *)pskid,
                       .psk_id_len = strlen(pskid), .kvn = 0x40, .key_id = 0x01, .has_retry = true,
                       .retry_count = 3, .retry_timer = {0x00, 0x01, 0x00}, .host = "smsr.example",
                       .agent_id = "//se-id/eid/89049032123451234512345678901335", .uri = "/ras"};
    assert_int_equal(scp81_trigger_encode(&t, &b, &err), SM_OK);
    /* structure: 81 { 83 { 84, 85, 86, 89 { 8A 8B 8C } } } */
    tlv top, t83, e;
    assert_int_equal(tlv_parse_one(b.data, b.len, TLV_F_MINLEN, &top, &err), SM_OK);
    assert_int_equal(top.tag, 0x81);
    assert_int_equal(tlv_parse_one(top.val, top.len, TLV_F_MINLEN, &t83, &err), SM_OK);
    assert_int_equal(t83.tag, 0x83);
    tlv_rd r;
    tlv_rd_init(&r, t83.val, t83.len, TLV_F_MINLEN);
    const uint32_t order[] = {0x84, 0x85, 0x86, 0x89};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tlv_next(&r, &e, &err), SM_OK);
        assert_int_equal(e.tag, order[i]);
        if (e.tag == 0x85) {
            assert_int_equal(e.val[0], strlen(pskid));
            assert_memory_equal(e.val + 1, pskid, strlen(pskid));
            assert_hex_equal(e.val + 1 + strlen(pskid), 3, "024001");
        }
        if (e.tag == 0x86)
            assert_hex_equal(e.val, e.len, "0003a503000100");
        if (e.tag == 0x89)
            assert_hex_equal(e.val, 14, "8a0c736d73722e6578616d706c65");
    }
    assert_true(tlv_rd_done(&r));
    t.kvn = 0x30;
    assert_int_equal(scp81_trigger_encode(&t, &b, &err), SM_EINVAL);
    sm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_psk_identity, return_sessions),
        cmocka_unit_test_teardown(test_psk_load, return_sessions),
        cmocka_unit_test_teardown(test_tls_psk_handshake, return_sessions),
        cmocka_unit_test_teardown(test_http_headers, return_sessions),
        cmocka_unit_test_teardown(test_scripts, return_sessions),
        cmocka_unit_test_teardown(test_push_trigger, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_scp81", tests, ct_group_setup, ct_group_teardown);
}
