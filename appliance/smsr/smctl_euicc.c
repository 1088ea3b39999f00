/* smctl euicc: eUICC registration from EUM batch files, EUM certificates, development transport keys,
 * the eUICC owner, and a look at one EIS. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "appliance/smctl.h"
#include "appliance/smsr/import.h"
#include "appliance/smsr/repo.h"
#include "db/audit.h"
#include "db/eis_repo.h"
#include "lib/hex.h"
#include "lib/secmem.h"

#define BATCH_MAX (256u << 20)

void smctl_euicc_help(FILE *out)
{
    fprintf(out,
            "  import FILE\n"
            "           register the eUICCs of an EUM batch file (docs/euicc-batch-format.md): the file is checked\n"
            "           as a whole (format, trailer hash, EUM certificate, transport key), then each record on its\n"
            "           own (EUM signature, ECASD certificate chain to the CI, key values unwrapped and re-wrapped\n"
            "           under the KEK, duplicates): all or nothing per record. Prints every rejected record with\n"
            "           its line, EID and reason. Importing a file again changes nothing and says so.\n"
            "           Exit status 0 when every record is registered, 2 when some were rejected, 1 on failure\n"
            "  eum add --id OID --cert FILE [--tk-id TK-ID]\n"
            "           register (or replace) an EUM's X.509 certificate (PEM or DER), checked against the CI\n"
            "           (gsma.ci_cert_file); --tk-id names the transport key of its ES1 registrations\n"
            "  transport-key import --id TK-ID FILE\n"
            "           DEVELOPMENT ONLY: import the EUM<->SM-SR transport key that `sim pki` writes (32 hex\n"
            "           digits) into the token as <hsm.key_prefix>-tk-<TK-ID>: AES-128, sensitive, never\n"
            "           extractable, unwrap only. Production exchanges this key by ceremony (SECURITY.md)\n"
            "  owner EID [OWNER-ID | --none]\n"
            "           show or set the eUICC owner (an M2M SP's GSMA id) told about profile state changes\n"
            "  show EID\n"
            "           the EIS of one eUICC: platform, memory, ISD-R, key sets (versions only), profiles and the\n"
            "           latest history records\n");
}

static int read_file(const char *path, size_t max, uint8_t **out, size_t *len, bool locked)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return smctl_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return smctl_fail("%s: not a regular file of at most %zu bytes", path, max);
    }
    size_t cap = (size_t)st.st_size + 1;
    *out = locked ? sm_secmem_alloc(cap) : malloc(cap);
    if (!*out) {
        close(fd);
        return smctl_fail("%s: out of memory", path);
    }
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, *out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    (*out)[n] = 0;
    *len = n;
    return 0;
}

static int ctx_open(smctl_ctx *c, smsr_ctx *x)
{
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return 1;
    sm_err err = {0};
    if (smsr_ctx_init(x, cfg, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    return 0;
}

/* ---- import ------------------------------------------------------------------------------------------ */

static int do_import(smctl_ctx *c, int argc, char **argv)
{
    if (argc != 3)
        return smctl_fail("usage: smctl euicc import FILE");
    smsr_ctx x;
    if (ctx_open(c, &x))
        return 1;
    hsm_sess *s = smctl_hsm(c);
    db_conn *db = s ? smctl_db(c) : NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    if (!db || read_file(argv[2], BATCH_MAX, &data, &len, false)) {
        smsr_ctx_free(&x);
        return 1;
    }
    sm_err err = {0};
    smsr_import_report rep;
    smsr_why why = SMSR_WHY_NONE;
    sm_rc rc = db_begin(db, &err);
    if (rc == SM_OK)
        rc = smsr_import_batch(&x, s, db, smctl_actor(), NULL, (const char *)data, len, &rep, &why, &err);
    if (rc == SM_OK)
        rc = db_commit(db, &err);
    else
        db_rollback(db);
    free(data);
    smsr_ctx_free(&x);
    if (rc != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("%s: batch refused, nothing registered (%s): %s", argv[2], smsr_why_name(why), err.msg);
    }
    size_t rejected = rep.records - rep.imported - rep.unchanged;
    printf("batch %s: EUM %s, transport key %s, %zu records\n", argv[2], rep.eum_id, rep.tk_id, rep.records);
    if (rep.seen_before)
        printf("this file was imported before (first on %s)\n", rep.seen_at);
    for (size_t i = 0; i < rep.nrej; i++)
        printf("rejected line %zu eid %s: %s: %s\n", rep.rej[i].line, rep.rej[i].eid[0] ? rep.rej[i].eid : "?",
               smsr_why_name(rep.rej[i].why), rep.rej[i].reason);
    printf("imported %zu, unchanged %zu, rejected %zu\n", rep.imported, rep.unchanged, rejected);
    if (rep.imported == 0 && rejected == 0)
        printf("nothing changed: every eUICC of this file is registered already with the same data\n");
    smsr_import_report_free(&rep);
    smctl_audit_cmd(c, argc, argv, rejected ? "partial" : "ok");
    return rejected ? 2 : 0;
}

/* ---- eum add --------------------------------------------------------------------------------------- */

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int do_eum(smctl_ctx *c, int argc, char **argv)
{
    const char *id = opt(argc, argv, "--id"), *file = opt(argc, argv, "--cert"), *tk = opt(argc, argv, "--tk-id");
    if (argc < 3 || strcmp(argv[2], "add") || !id || !file)
        return smctl_fail("usage: smctl euicc eum add --id OID --cert FILE [--tk-id TK-ID]");
    if (!smsr_oid_ok(id))
        return smctl_fail("--id %s is not an OID", id);
    if (tk && (strlen(tk) > 40 || strspn(tk, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                                      strlen(tk)))
        return smctl_fail("--tk-id: [A-Za-z0-9._-]{1,40}");
    smsr_ctx x;
    if (ctx_open(c, &x))
        return 1;
    uint8_t *raw = NULL;
    size_t len = 0;
    if (read_file(file, 65536, &raw, &len, false)) {
        smsr_ctx_free(&x);
        return 1;
    }
    /* PEM or DER */
    unsigned char *der = NULL;
    int dl = 0;
    BIO *b = BIO_new_mem_buf(raw, (int)len);
    X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!cert) {
        const unsigned char *p = raw;
        cert = d2i_X509(NULL, &p, (long)len);
        if (cert && p != raw + len) {
            X509_free(cert);
            cert = NULL;
        }
    }
    free(raw);
    if (cert)
        dl = i2d_X509(cert, &der);
    X509_free(cert);
    if (dl <= 0) {
        smsr_ctx_free(&x);
        return smctl_fail("%s: not an X.509 certificate (PEM or DER)", file);
    }
    gpcert_issuer iss;
    smsr_why why;
    sm_err err = {0};
    sm_rc rc = smsr_eum_issuer(&x, der, (size_t)dl, time(NULL), &iss, &why, &err);
    smsr_ctx_free(&x);
    db_conn *db = rc == SM_OK ? smctl_db(c) : NULL;
    if (rc == SM_OK && !db) {
        OPENSSL_free(der);
        return 1;
    }
    if (rc == SM_OK)
        rc = smsr_eum_put(db, smctl_actor(), id, der, (size_t)dl, tk, &err);
    OPENSSL_free(der);
    if (rc != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("EUM %s: %s", id, err.msg);
    }
    smctl_audit_cmd(c, argc, argv, "ok");
    printf("EUM %s registered (certificate chains to the CI)%s%s\n", id, tk ? ", transport key " : "", tk ? tk : "");
    return 0;
}

/* ---- transport-key import (development) -------------------------------------------------------------- */

static int do_tk(smctl_ctx *c, int argc, char **argv)
{
    const char *id = opt(argc, argv, "--id");
    const char *file = argc > 0 ? argv[argc - 1] : NULL;
    if (argc != 6 || strcmp(argv[2], "import") || !id || !file || file == id || file[0] == '-')
        return smctl_fail("usage: smctl euicc transport-key import --id TK-ID FILE");
    if (strlen(id) > 40 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(id))
        return smctl_fail("--id: [A-Za-z0-9._-]{1,40}");
    smsr_ctx x;
    if (ctx_open(c, &x))
        return 1;
    char label[HSM_LABEL_MAX + 1];
    smsr_tk_label(&x, id, label, sizeof label);
    smsr_ctx_free(&x);
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    sm_err err = {0};
    hsm_key k;
    if (hsm_key_find(s, label, HSM_KT_AES, &k, &err) == SM_OK)
        return smctl_fail("%s is in the token already (a transport key is never replaced in place)", label);
    sm_err_clear(&err);
    uint8_t *txt = NULL;
    size_t tl = 0;
    if (read_file(file, 256, &txt, &tl, true))
        return 1;
    uint8_t *key = sm_secmem_alloc(32);
    size_t kl = 0;
    sm_rc rc = key ? sm_hex_decode((const char *)txt, key, 32, &kl, &err) : SM_ENOMEM;
    sm_secmem_free(txt, tl + 1);
    if (rc != SM_OK || kl != 16) {
        sm_secmem_free(key, 32);
        return smctl_fail("%s: not an AES-128 key in hex (32 digits)", file);
    }
    /* KCV for the operator to compare with the EUM's (first 3 bytes of AES-ECB(key, 16 x 01)) */
    uint8_t kcv[16];
    static const uint8_t ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    int ol = 0;
    bool kok = e && EVP_EncryptInit_ex(e, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
               EVP_CIPHER_CTX_set_padding(e, 0) == 1 && EVP_EncryptUpdate(e, kcv, &ol, ones, 16) == 1;
    EVP_CIPHER_CTX_free(e);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_UNWRAP, .token = true, .label = label};
    rc = kok ? hsm_secret_import(s, &sp, key, 16, &k, &err) : SM_ECRYPTO;
    sm_secmem_free(key, 32);
    if (rc != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("importing %s: %s", label, err.msg);
    }
    char why[300];
    db_conn *db = smctl_db_try(c, why, sizeof why);
    if (db && db_audit_appendf(db, &err, smctl_actor(), "smsr.transport-key.import", label, "created",
                               "tk-id=%s kcv=%02x%02x%02x development import", id, kcv[0], kcv[1], kcv[2]) != SM_OK)
        fprintf(stderr, "smctl: warning: not recorded in the audit trail: %s\n", err.msg);
    smctl_audit_cmd(c, argc, argv, "ok");
    printf("transport key %s imported as %s (AES-128, unwrap only, sensitive, not extractable), KCV %02x%02x%02x\n", id,
           label, kcv[0], kcv[1], kcv[2]);
    printf("DEVELOPMENT ONLY: delete %s now; production exchanges this key by ceremony (SECURITY.md)\n", file);
    explicit_bzero(kcv, sizeof kcv);
    return 0;
}

/* ---- owner / show ------------------------------------------------------------------------------------ */

static int do_owner(smctl_ctx *c, int argc, char **argv)
{
    if (argc < 3 || argc > 4)
        return smctl_fail("usage: smctl euicc owner EID [OWNER-ID | --none]");
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    sm_err err = {0};
    char owner[65];
    if (argc == 3) {
        if (smsr_euicc_owner(db, argv[2], owner, sizeof owner, &err) != SM_OK)
            return smctl_fail("%s", err.msg);
        printf("%s\n", owner[0] ? owner : "(no owner)");
        return 0;
    }
    bool none = !strcmp(argv[3], "--none");
    if (!none && !smsr_oid_ok(argv[3]))
        return smctl_fail("%s is not a GSMA identifier (OID)", argv[3]);
    if (smsr_euicc_set_owner(db, smctl_actor(), argv[2], none ? NULL : argv[3], &err) != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("%s", err.msg);
    }
    smctl_audit_cmd(c, argc, argv, "ok");
    printf("eUICC %s: owner %s\n", argv[2], none ? "removed" : argv[3]);
    return 0;
}

static void hexline(const char *name, const uint8_t *b, size_t n)
{
    char h[2 * 1024 + 1];
    if (n > 1024)
        n = 1024;
    sm_hex_encode(b, n, h);
    printf("  %-22s %s\n", name, n ? h : "-");
}

static int do_show(smctl_ctx *c, int argc, char **argv)
{
    if (argc != 3)
        return smctl_fail("usage: smctl euicc show EID");
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    sm_err err = {0};
    db_euicc e;
    if (db_eis_get(db, argv[2], &e, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    char owner[65] = "";
    smsr_euicc_owner(db, e.eid, owner, sizeof owner, &err);
    printf("eUICC %s (%s)\n", e.eid, e.state);
    printf("  %-22s %s\n  %-22s %s\n  %-22s %s %s\n  %-22s %s\n", "EUM", e.eum_id, "production date", e.production_date,
           "platform", e.platform_type, e.platform_version, "SGP.02 version", e.rsp_version);
    printf("  %-22s %s%s\n", "capabilities", e.caps & DB_CAP_HTTPS ? "HTTPS " : "", e.caps & DB_CAP_CATTP ? "CAT_TP" : "");
    printf("  %-22s %lld of %lld bytes\n", "remaining memory", (long long)e.remaining_memory,
           (long long)e.available_memory);
    printf("  %-22s %s\n  %-22s %s\n", "SM-SR", e.smsr_id, "owner", owner[0] ? owner : "-");
    printf("  %-22s %s\n", "last audit", e.last_audit[0] ? e.last_audit : "never");
    hexline("ISD-R AID", e.isdr_aid.b, e.isdr_aid.len);
    hexline("ISD-R TAR", e.isdr_tar.b, e.isdr_tar.len);
    hexline("ECASD AID", e.ecasd_aid.b, e.ecasd_aid.len);
    int *kvns = NULL;
    size_t nk = 0;
    if (db_keyset_list(db, e.eid, &kvns, &nk, &err) == SM_OK) {
        for (size_t i = 0; i < nk; i++) {
            db_keyset ks;
            if (db_keyset_get(db, e.eid, kvns[i], &ks, &err) == SM_OK)
                printf("  key set %-14d %s, %zu keys wrapped under %s, counter %lld\n", ks.kvn, ks.type, ks.nkeys,
                       ks.nkeys ? ks.keys[0].kek_label : "-", (long long)ks.counter);
        }
        free(kvns);
    }
    db_euicc_clear(&e);
    db_profile *pv = NULL;
    size_t np = 0;
    if (db_eis_profiles(db, argv[2], true, &pv, &np, &err) == SM_OK) {
        for (size_t i = 0; i < np; i++) {
            char aid[33];
            sm_hex_encode(pv[i].isdp_aid.b, pv[i].isdp_aid.len, aid);
            printf("  profile %s %-9s aid %s mno %s%s%s%s pol2=%d\n", pv[i].iccid, pv[i].state, aid, pv[i].mno_id,
                   pv[i].fallback ? " fall-back" : "", pv[i].smdp_id[0] ? " smdp " : "", pv[i].smdp_id, pv[i].pol2);
        }
        free(pv);
    }
    db_eis_change *h = NULL;
    size_t nh = 0;
    if (db_eis_history(db, argv[2], 10, &h, &nh, &err) == SM_OK) {
        for (size_t i = 0; i < nh; i++)
            printf("  history %s %-18s%s%s%s%s %s (%s)\n", h[i].at, h[i].action, h[i].op_type[0] ? " op=" : "",
                   h[i].op_type, h[i].iccid[0] ? " " : "", h[i].iccid, h[i].detail, h[i].actor);
        free(h);
    }
    return 0;
}

int smctl_euicc_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc < 2)
        return smctl_fail("usage: smctl euicc import | eum | transport-key | owner | show (see smctl help euicc)");
    if (!strcmp(argv[1], "import"))
        return do_import(c, argc, argv);
    if (!strcmp(argv[1], "eum"))
        return do_eum(c, argc, argv);
    if (!strcmp(argv[1], "transport-key"))
        return do_tk(c, argc, argv);
    if (!strcmp(argv[1], "owner"))
        return do_owner(c, argc, argv);
    if (!strcmp(argv[1], "show"))
        return do_show(c, argc, argv);
    return smctl_fail("euicc: unknown subcommand %s (see smctl help euicc)", argv[1]);
}
