/* Interoperability: python3-zeep (a standard SOAP toolkit) loads the GSMA SGP.02 v3 WSDLs and calls
 * smbox over mutual TLS with WS-Addressing — a synchronous ES2.GetEIS, a refused call, a one-way
 * (asynchronous) ES2.DownloadProfile — and must understand every answer (zeep validates them against
 * the schema). Skipped when python3-zeep is not installed (mk/packages.txt lists it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/nettest.h"

#define EID "89001012012341234012345678901224"

static nettest N;
static int g_have_zeep;

static void h_geteis(es_call *c, void *arg)
{
    es_value *eis = es_add_struct(c->out, "Eis");
    es_add_str(es_add_struct(eis, "EumSignedInfo"), "Eid", es_str(c->in, "Eid"));
}

static void h_download(es_call *c, void *arg) { es_add_str(c->out, "Iccid", "8988299000000000014"); }

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    es_server_bind(s, "ES2.GetEIS", ES_KIND_REQUEST, h_geteis, NULL, &err);
    es_server_bind(s, "ES2.DownloadProfile", ES_KIND_REQUEST, h_download, NULL, &err);
}

static int setup(void **state)
{
    g_have_zeep = testenv_sh("/usr/bin/python3 -c 'import zeep' >/dev/null 2>&1") == 0;
    if (g_have_zeep)
        nettest_start(&N, NULL, bind_all, NULL);
    return 0;
}

static int teardown(void **state)
{
    if (g_have_zeep)
        nettest_stop(&N);
    return 0;
}

/* runs the zeep client; returns its exit status, its output in out */
static int zeep(const char *who, const char *wsdl, const char *binding, const char *path, const char *op,
                const char *args, char *out, size_t cap)
{
    char crt[400], key[400], script[1024], wdir[1024], outf[400];
    testpki_path(&N.pki, who, "crt", crt, sizeof crt);
    testpki_path(&N.pki, who, "key", key, sizeof key);
    testenv_path(script, sizeof script, "tests/net/zeep_client.py");
    testenv_path(wdir, sizeof wdir, "tests/vectors/gsma-sgp02");
    snprintf(outf, sizeof outf, "%s/zeep.out", N.pki.dir);
    int rc = testenv_sh("/usr/bin/python3 %s --wsdl %s/%s --binding '{http://namespaces.gsma.org/esim-messaging/3}%s' "
                        "--url https://127.0.0.1:%d%s --op %s --cert %s --key %s --ca %s %s >%s 2>&1",
                        script, wdir, wsdl, binding, N.port, path, op, crt, key, N.pki.ca_file, args, outf);
    out[0] = 0;
    FILE *f = fopen(outf, "r");
    if (f) {
        size_t n = fread(out, 1, cap - 1, f);
        out[n] = 0;
        fclose(f);
    }
    if (rc != 0)
        fprintf(stderr, "zeep client: %s\n", out);
    return rc;
}

static void test_zeep_sync_call(void **state)
{
    if (!g_have_zeep)
        skip();
    char out[8192];
    assert_int_equal(zeep("mno", "ES2_SMDP.wsdl", "ES2SmDpServiceBinding", "/esim-messaging/3/ES2/ES2SmDpService",
                          "ES2-GetEIS", "--arg Eid=" EID " --arg Smsr-id=1.3.6.1.4.1.99999.1.2", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "status=EXECUTED_SUCCESS"));
    assert_non_null(strstr(out, "Eis.EumSignedInfo.Eid=" EID));
}

static void test_zeep_refused(void **state)
{
    if (!g_have_zeep)
        skip();
    char out[8192];
    assert_int_equal(zeep("smsr", "ES2_SMDP.wsdl", "ES2SmDpServiceBinding", "/gsma/soap/es2", "ES2-GetEIS",
                          "--arg Eid=" EID " --arg Smsr-id=1.2", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "status=FAILED"));
    assert_non_null(strstr(out, "subject=1.1 reason=1.2"));
}

static void test_zeep_one_way(void **state)
{
    if (!g_have_zeep)
        skip();
    char out[8192];
    assert_int_equal(zeep("mno", "ES2_SMDP.wsdl", "ES2SmDpServiceBinding", "/gsma/soap/es2", "ES2-DownloadProfile",
                          "--arg Eid=" EID " --arg SmSr-id=1.2 --arg EnableProfile=true", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "accepted"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeep_sync_call),
        cmocka_unit_test(test_zeep_refused),
        cmocka_unit_test(test_zeep_one_way),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
