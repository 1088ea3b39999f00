/* appliance/smctl_tool (`smctl tool`): each subcommand run in a child process with its output
 * captured, on the public vectors (NIST SP 800-38B CMAC, NIST CAVP X9.63, pySim SCP03 and SCP80
 * incl. a real-card PoR) and on a test PKI made here with plain OpenSSL; exit codes and the
 * one-line errors for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/smctl_tool.h"
#include "crypto/gpcert.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

typedef struct run_out {
    int status;
    char out[16384];
    char err[4096];
} run_out;

static void slurp_fd(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
}

/* Runs `smctl tool ARGS...` (NULL-terminated) with stdin_text on stdin. */
static void run(run_out *o, const char *stdin_text, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = "tool";
    va_list ap;
    va_start(ap, stdin_text);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 39)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char tmpl_o[] = "/tmp/smctl-tool-out-XXXXXX", tmpl_e[] = "/tmp/smctl-tool-err-XXXXXX";
    int fo = mkstemp(tmpl_o), fe = mkstemp(tmpl_e), pin[2];
    assert_true(fo >= 0 && fe >= 0 && pipe(pin) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        close(pin[1]);
        dup2(fo, 1);
        dup2(fe, 2);
        _exit(smctl_tool_main(argc, argv));
    }
    close(pin[0]);
    if (stdin_text)
        assert_true(write(pin[1], stdin_text, strlen(stdin_text)) == (ssize_t)strlen(stdin_text));
    close(pin[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    lseek(fo, 0, SEEK_SET);
    lseek(fe, 0, SEEK_SET);
    slurp_fd(fo, o->out, sizeof o->out);
    slurp_fd(fe, o->err, sizeof o->err);
    close(fo);
    close(fe);
    unlink(tmpl_o);
    unlink(tmpl_e);
}

#define assert_ok(o)                                                                                 \
    do {                                                                                             \
        if ((o)->status != 0)                                                                        \
            fail_msg("exit %d: %s", (o)->status, (o)->err);                                          \
    } while (0)

/* One error line on stderr, nothing on stdout. */
static void assert_error(const run_out *o, int status, const char *needle)
{
    if (o->status != status)
        fail_msg("exit %d (want %d): %s / %s", o->status, status, o->err, o->out);
    const char *nl = strchr(o->err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0);
    if (needle && !strstr(o->err, needle))
        fail_msg("'%s' not in: %s", needle, o->err);
}

static void test_cmac_and_kdfs(void **state)
{
    run_out o;
    /* NIST SP 800-38B D.1, Example 2 */
    run(&o, NULL, "cmac", "--key", "2b7e151628aed2a6abf7158809cf4f3c", "--data", "6bc1bee22e409f96e93d7e117393172a",
        NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "070a16b46b4d4144f79bdd9dd04a287c\n");
    /* data from stdin */
    run(&o, "6bc1bee2 2e409f96 e93d7e11 7393172a\n", "cmac", "--key", "2b7e151628aed2a6abf7158809cf4f3c", "--data",
        "-", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "070a16b46b4d4144f79bdd9dd04a287c\n");
    /* NIST CAVP X9.63 SHA-256: first case of each group, and a length that is not whole AES blocks */
    tj *v = ct_vectors("tests/vectors/x963_kdf_sha256_cavp.json");
    const tj *groups = tj_get(v, "testGroups");
    for (size_t g = 0; g < groups->n; g++) {
        const tj *tc = tj_get(groups->items[g], "tests")->items[0];
        const char *kd = tj_str(tc, "key_data");
        char len[24];
        snprintf(len, sizeof len, "%zu", strlen(kd) / 2);
        const char *si = tj_str(tc, "SharedInfo");
        if (si[0])
            run(&o, NULL, "kdf-x963", "--z", tj_str(tc, "Z"), "--info", si, "--len", len, NULL);
        else
            run(&o, NULL, "kdf-x963", "--z", tj_str(tc, "Z"), "--len", len, NULL);
        assert_ok(&o);
        assert_memory_equal(o.out, kd, strlen(kd));
        run(&o, NULL, "kdf-x963", "--z", tj_str(tc, "Z"), "--len", "5", NULL);
        assert_ok(&o);
        assert_int_equal(strlen(o.out), 11);
    }
    tj_free(v);
    /* pySim SCP03 AES-128, security level 11: S-ENC */
    run(&o, NULL, "scp03-kdf", "--key", "000102030405060708090a0b0c0d0e0f", "--constant", "04", "--context",
        "b13e5f938fc108c43eb51047495b249f", "--bits", "128", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "c4e87149f2114da66bb015a567d751f9\n");
    /* bad input */
    run(&o, NULL, "cmac", "--key", "2b7e15", "--data", "00", NULL);
    assert_error(&o, 1, "16, 24 or 32");
    run(&o, NULL, "cmac", "--key", "zz", "--data", "00", NULL);
    assert_error(&o, 1, "--key");
    run(&o, NULL, "kdf-x963", "--z", "00", "--len", "0", NULL);
    assert_error(&o, 1, "--len");
    run(&o, NULL, "kdf-x963", "--z", "00", NULL);
    assert_error(&o, 2, "--len is required");
    run(&o, NULL, "cmac", "--nope", "1", NULL);
    assert_error(&o, 2, "unknown option");
    run(&o, NULL, "frobnicate", NULL);
    assert_error(&o, 2, "unknown subcommand");
}

static void test_scp03_wrap(void **state)
{
    run_out o;
    /* pySim SCP03_Test_AES128_03: GET DATA(EID) after EXTERNAL AUTHENTICATE */
    run(&o, NULL, "scp03-wrap", "--enc", "ee54985e150155e021725489f717d645", "--mac",
        "59b76ddff91dba0515a9644de3a48863", "--chain", "3c451d2f8ae6bb21fba689f2f1fa7d47", "--counter", "1",
        "--apdu", "80E2910006BF3E035C015A00", NULL);
    assert_ok(&o);
    assert_memory_equal(o.out, "84e2910018ca9c00f6713d79bc8baa642bdff51c3f6a4082d3bd9ad26c00\nchain: ", 68);
    /* level 11 (C-MAC only) of the same case in the SL 11 session */
    run(&o, NULL, "scp03-wrap", "--mac", "8b2635556e987a6b84f43d9ffc197d3f", "--chain",
        "9eea24957fa0b3ced4d746a63ebbaf32", "--apdu", "80E2910006BF3E035C015A00", NULL);
    assert_ok(&o);
    assert_memory_equal(o.out, "84e291000ebf3e035c015a558d036518a2829700\n", 41);
    run(&o, NULL, "scp03-wrap", "--mac", "8b2635556e987a6b84f43d9ffc197d3f", "--level", "03", "--apdu", "80f2", NULL);
    assert_error(&o, 1, "--apdu");
    run(&o, NULL, "scp03-wrap", "--mac", "8b2635556e987a6b84f43d9ffc197d3f", "--level", "03", "--apdu",
        "80f22002", NULL);
    assert_error(&o, 2, "--enc is required");
}

static void test_scp80(void **state)
{
    run_out o;
    /* pySim AES128-SJA5-CIPHERED-CC and its real-card PoR */
    run(&o, NULL, "scp80-wrap", "--spi", "0619", "--kic", "22", "--kid", "22", "--tar", "b00011", "--cntr",
        "0000000000", "--kic-key", "200102030405060708090a0b0c0d0e0f", "--kid-key",
        "201102030405060708090a0b0c0d0e0f", "--data", "00a40004023f00", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "00281506192222b00011e87cceebb2d93083011ce294f93fc4d8de80da1abae8c37ca3e72ec4432e5058\n");
    run(&o, NULL, "scp80-wrap", "--spi", "0619", "--kic", "22", "--kid", "22", "--tar", "b00011", "--kic-key",
        "200102030405060708090a0b0c0d0e0f", "--kid-key", "201102030405060708090a0b0c0d0e0f", "--data",
        "00a40004023f00", "--sms", NULL);
    assert_ok(&o);
    assert_memory_equal(o.out, "02700000281506192222b00011e87c", 30);
    run(&o, NULL, "scp80-unwrap-por", "--spi", "0619", "--kic", "22", "--kid", "22", "--tar", "b00011",
        "--kic-key", "200102030405060708090a0b0c0d0e0f", "--kid-key", "201102030405060708090a0b0c0d0e0f", "--por",
        "027100002412b00011ebc6b497e2cad7aedf36ace0e3a29b38853f0fe9ccde81913be5702b73abce1f", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "status: 00 (PoR OK)\ncntr: 0000000000\ncc: verified\ndata: 016132\n");
    /* the same PoR with one bit changed */
    run(&o, NULL, "scp80-unwrap-por", "--spi", "0619", "--kic", "22", "--kid", "22", "--tar", "b00011",
        "--kic-key", "200102030405060708090a0b0c0d0e0f", "--kid-key", "201102030405060708090a0b0c0d0e0f", "--por",
        "027100002412b00011ebc6b497e2cad7aedf36ace0e3a29b38853f0fe9ccde81913be5702b73abce1e", NULL);
    assert_error(&o, 1, "CC does not verify");
    /* a 3DES key of the wrong length */
    run(&o, NULL, "scp80-wrap", "--spi", "0619", "--kic", "35", "--kid", "35", "--tar", "b00011", "--kic-key",
        "300102030405060708090a0b0c0d0e0f00", "--kid-key", "301102030405060708090a0b0c0d0e0f", "--data", "00", NULL);
    assert_error(&o, 1, "16 bytes");
}

static void test_tlv_decode(void **state)
{
    run_out o;
    run(&o, "7f210a 9301 01 7302c800 5f3700\n", "tlv-decode", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "7f21 len=10\n  93 len=1 01\n  73 len=2\n    c8 len=0\n  5f37 len=0\n");
    run(&o, NULL, "tlv-decode", "--data", "ae80 2201aa 0000", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "ae len=3 (indefinite)\n  22 len=1 aa\n");
    /* a C-APDU TLV (22, constructed by its tag bit) holds APDU bytes, not TLVs */
    run(&o, NULL, "tlv-decode", "--data", "aa07 220580ca006600", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "aa len=7\n  22 len=5 80ca006600\n");
    run(&o, "7f2109930101\n", "tlv-decode", NULL);
    assert_error(&o, 1, "offset 2");
    run(&o, NULL, "tlv-decode", "--dgi", "--data", "3a0102aabb", NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "3a01 len=2 aabb\n");
}

/* A test PKI on disk: CI (X.509), an SM-DP 7F21 signed by the CI, an ECASD 7F21 signed by an EUM. */
static char dir[256];
static char ci_path[300], eum_path[300], dp_path[300], ecasd_path[300], dp_hex_path[300];
static uint8_t dp_d[32], ecasd_d[32];

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void make_7f21(EVP_PKEY *issuer, EVP_PKEY *subject, int type, const uint8_t *aki, const char *path)
{
    uint8_t pub[65];
    ref_ec_pub(subject, pub);
    gpcert_tbs t = {.serial = (const uint8_t *)"\x42", .serial_len = 1, .ca_id = (const uint8_t *)"CI", .ca_id_len = 2,
                    .subject_id = (const uint8_t *)"SUBJ", .subject_id_len = 4, .key_usage = type > 0 ? 0x88 : 0x0080,
                    .key_usage_len = type > 0 ? 1 : 2, .expiry = {2099, 12, 31}, .has_disc = true, .cert_type = type,
                    .aki = aki, .aki_len = 20, .pubkey = pub, .pubkey_len = 65, .curve = HSM_CURVE_P256};
    sm_buf tbs, cert;
    sm_buf_init(&tbs);
    sm_buf_init(&cert);
    sm_err err = {0};
    assert_int_equal(gpcert_encode_tbs(&t, &tbs, &err), SM_OK);
    uint8_t sig[64];
    ref_ecdsa_sign_raw(issuer, tbs.data, tbs.len, sig);
    assert_int_equal(gpcert_assemble(tbs.data, tbs.len, sig, 64, &cert, &err), SM_OK);
    write_file(path, cert.data, cert.len);
    sm_buf_free(&tbs);
    sm_buf_free(&cert);
}

static int pki_setup(void **state)
{
    if (testenv_mkdtemp(dir, sizeof dir, "smctl-tool-pki"))
        return -1;
    EVP_PKEY *ci = ref_ec_gen("P-256"), *eum = ref_ec_gen("P-256"), *dp = ref_ec_gen("P-256"),
             *ecasd = ref_ec_gen("P-256");
    ref_x509_opts ca = {.days_from = -1, .days_to = 3650, .ca = true, .key_cert_sign = true, .ski = true};
    uint8_t *cd, *ed, ski_ci[20], ski_eum[20];
    size_t cl, el;
    ref_x509_make(ci, "Tool CI", ci, NULL, 0, &ca, &cd, &cl);
    ref_x509_make(eum, "Tool EUM", ci, cd, cl, &ca, &ed, &el);
    ref_x509_ski(cd, cl, ski_ci);
    ref_x509_ski(ed, el, ski_eum);
    snprintf(ci_path, sizeof ci_path, "%s/ci.der", dir);
    snprintf(eum_path, sizeof eum_path, "%s/eum.der", dir);
    snprintf(dp_path, sizeof dp_path, "%s/smdp.7f21", dir);
    snprintf(dp_hex_path, sizeof dp_hex_path, "%s/smdp.hex", dir);
    snprintf(ecasd_path, sizeof ecasd_path, "%s/ecasd.7f21", dir);
    write_file(ci_path, cd, cl);
    write_file(eum_path, ed, el);
    make_7f21(ci, dp, 1, ski_ci, dp_path);
    make_7f21(eum, ecasd, -1, ski_eum, ecasd_path);
    /* the SM-DP certificate once more as hex text */
    FILE *f = fopen(dp_path, "rb");
    uint8_t b[1024];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    char h[2100];
    sm_hex_encode(b, n, h);
    write_file(dp_hex_path, (const uint8_t *)h, strlen(h));
    ref_ec_priv(dp, dp_d);
    ref_ec_priv(ecasd, ecasd_d);
    free(cd);
    free(ed);
    EVP_PKEY_free(ci);
    EVP_PKEY_free(eum);
    EVP_PKEY_free(dp);
    EVP_PKEY_free(ecasd);
    return 0;
}

static int pki_teardown(void **state)
{
    testenv_rmtree(dir);
    return 0;
}

static void test_certs(void **state)
{
    run_out o;
    run(&o, NULL, "cert-show", dp_path, NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "format: GP Amendment E (7F21)\n"));
    assert_non_null(strstr(o.out, "type: 01 (SM-DP)\n"));
    assert_non_null(strstr(o.out, "expiry: 2099-12-31\n"));
    run(&o, NULL, "cert-show", dp_hex_path, NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "key-usage: 88\n"));
    run(&o, NULL, "cert-show", ci_path, NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "subject: CN=Tool CI,O=smbox test PKI\n"));
    assert_non_null(strstr(o.out, "ca: yes\n"));
    run(&o, NULL, "cert-verify", "--ca", ci_path, dp_path, NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "ok: chain of 2 verified, leaf 7F21 checked as smdp\n");
    run(&o, NULL, "cert-verify", "--ca", ci_path, eum_path, ecasd_path, NULL);
    assert_ok(&o);
    assert_string_equal(o.out, "ok: chain of 3 verified, leaf 7F21 checked as ecasd\n");
    run(&o, NULL, "cert-verify", "--ca", ci_path, eum_path, NULL);
    assert_ok(&o);
    /* failures */
    run(&o, NULL, "cert-verify", "--ca", ci_path, ecasd_path, NULL);
    assert_error(&o, 1, "does not verify");
    run(&o, NULL, "cert-verify", "--ca", ci_path, dp_path, "--purpose", "smsr", NULL);
    assert_error(&o, 1, "certificate type");
    run(&o, NULL, "cert-verify", "--ca", ci_path, dp_path, "--at", "2100-01-01", NULL);
    assert_error(&o, 1, NULL);
    run(&o, NULL, "cert-show", "/nonexistent/cert", NULL);
    assert_error(&o, 1, "No such file");
    run(&o, NULL, "cert-show", NULL);
    assert_error(&o, 2, NULL);
}

static void test_keyest(void **state)
{
    run_out o;
    char sdk[65], ek[65];
    sm_hex_encode(dp_d, 32, sdk);
    sm_hex_encode(ecasd_d, 32, ek);
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", sdk, "--ecasd-key", ek,
        "--rc", "00112233445566778899aabbccddeeff", NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "crt: a615900203099501108001888101108201018301309100\n"));
    assert_non_null(strstr(o.out, "shared-info: 108810\n"));
    assert_non_null(strstr(o.out, "receipt-check: verified\n"));
    assert_non_null(strstr(o.out, "kcv-enc: "));
    assert_non_null(strstr(o.out, "kcv-mac: "));
    assert_non_null(strstr(o.out, "kcv-dek: "));
    assert_non_null(strstr(o.out, "store-data: 80e20900"));
    assert_non_null(strstr(o.out, "store-data: 80e28901"));
    assert_non_null(strstr(o.out, "rc: 00112233445566778899aabbccddeeff\n"));
    /* SCP81 PSK with a derivation random */
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", sdk, "--ecasd-key", ek,
        "--kind", "scp81", "--dr", "0102030405060708090a0b0c0d0e0f10", NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "shared-info: 5c8810" "0102030405060708090a0b0c0d0e0f10\n"));
    assert_non_null(strstr(o.out, "kcv-psk: "));
    /* without the card's key: the data only */
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", sdk, NULL);
    assert_ok(&o);
    assert_non_null(strstr(o.out, "receipt: not simulated"));
    assert_null(strstr(o.out, "kcv-"));
    /* a key that is not the certificate's, an ECASD key that is not the ECASD's */
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", ek, NULL);
    assert_error(&o, 1, "does not belong");
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", sdk, "--ecasd-key", sdk,
        NULL);
    assert_error(&o, 1, "does not belong");
    run(&o, NULL, "keyest", "--ecasd-cert", ecasd_path, "--sd-cert", dp_path, "--sd-key", sdk, "--kind", "scp99",
        NULL);
    assert_error(&o, 2, "--kind");
}

static void test_help(void **state)
{
    run_out o;
    run(&o, NULL, "help", NULL);
    assert_ok(&o);
    const char *subs[] = {"cmac", "kdf-x963", "scp03-kdf", "scp03-wrap", "scp80-wrap", "scp80-unwrap-por",
                          "tlv-decode", "cert-show", "cert-verify", "keyest"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        assert_non_null(strstr(o.out, subs[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmac_and_kdfs), cmocka_unit_test(test_scp03_wrap), cmocka_unit_test(test_scp80),
        cmocka_unit_test(test_tlv_decode),    cmocka_unit_test(test_certs),      cmocka_unit_test(test_keyest),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests_name("smctl_tool", tests, pki_setup, pki_teardown);
}
