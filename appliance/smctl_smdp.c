/* smctl profile | order | mno: SM-DP templates (check, import), batch orders (dry run, import into
 * stock) and MNO transport keys (development import). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appliance/smctl.h"
#include "appliance/smdp/batch.h"
#include "appliance/smdp/dp_stock.h"
#include "appliance/smdp/mnofile.h"
#include "appliance/smdp/mnokey.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/saip.h"
#include "appliance/smdp/template.h"
#include "lib/secmem.h"

void smctl_profile_help(FILE *out)
{
    fprintf(out, "  check-template FILE\n"
                 "           decode a profile package (SAIP DER) and check its structure; prints the format\n"
                 "           version, ICCID, PEs, mandatory services and the personalisable values found\n"
                 "           (where they are, never their secret contents); exit status 1 if it fails\n"
                 "  import-template FILE [--type NAME] [--mno MNO]\n"
                 "           decode and check a template as check-template does, then store it in the database\n"
                 "           as profile type NAME (default: the file name without extension), the template\n"
                 "           orders name; --mno binds it to one MNO (default: any). A template that fails a\n"
                 "           check is refused and nothing is stored; importing a name again replaces it\n"
                 "  stock TYPE [--mno MNO]\n"
                 "           counts of a profile type's stock: available, reserved, installed, retired\n");
}

void smctl_order_help(FILE *out)
{
    fprintf(out,
            "  dry-run ORDERFILE --template FILE [--out FILE] [--ephemeral-transport-key]\n"
            "           run an order (docs/sm-dp-files.md) in memory against the configured token: generates,\n"
            "           personalises and seals every profile, prints the ICCID/IMSI list and writes the MNO\n"
            "           output file (default ORDERFILE.mno.csv); nothing is stored. The MNO transport key\n"
            "           <hsm.key_prefix>-mno-<mno> must be in the token, unless --ephemeral-transport-key\n"
            "           makes a throw-away session key (then op-enc decrypts to a meaningless OP)\n"
            "  import ORDERFILE [--out FILE]\n"
            "           run the order against its imported template (profile import-template) and store every\n"
            "           sealed profile in stock with the batch, in one transaction (all or nothing); writes\n"
            "           the MNO output file (default ORDERFILE.mno.csv, mode 0600: it holds Ki/OPc encrypted\n"
            "           under the MNO transport key <hsm.key_prefix>-mno-<mno>, which must be in the HSM)\n");
}

void smctl_mno_help(FILE *out)
{
    fprintf(out,
            "  transport-key import --mno ID FILE\n"
            "           DEVELOPMENT: import an MNO transport key (FILE: 32, 48 or 64 hex digits) as the HSM token\n"
            "           key <hsm.key_prefix>-mno-<ID>: sensitive, never extractable, encrypt/decrypt/derive;\n"
            "           prints its KCV. Never replaces an existing key. Production exchanges transport keys by\n"
            "           key ceremony (SECURITY.md), the value never in a file on the appliance\n");
}

/* Reads a whole file (at most max bytes) into malloc'd or, when locked, secure memory. */
static int read_all(const char *path, size_t max, bool locked, uint8_t **out, size_t *len, size_t *cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return smctl_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return smctl_fail("%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return smctl_fail("%s: %lld bytes, more than the limit of %zu", path, (long long)st.st_size, max);
    }
    *cap = (size_t)st.st_size + 1;
    *out = locked ? sm_secmem_alloc(*cap) : calloc(1, *cap);
    if (!*out) {
        close(fd);
        return smctl_fail("%s: cannot allocate%s memory", path, locked ? " locked" : "");
    }
    size_t n = 0;
    while (n < *cap - 1) {
        ssize_t r = read(fd, *out + n, *cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return 0;
}

static void print_oid(const saip_pkg *p, int32_t node)
{
    char oid[96];
    size_t l;
    const uint8_t *v = saip_value(p, node, &l);
    printf("%s", der_oid_text(v, l, oid, sizeof oid) ? oid : "?");
}

static const char *owner_name(const saip_pkg *p, int32_t owner)
{
    return owner == SAIP_NONE ? "-" : p->pes[owner].name ? p->pes[owner].name : "?";
}

static void summary(const saip_pkg *p, const char *path, size_t len)
{
    printf("template %s: %zu bytes, %zu PEs\n", path, len, p->npes);
    printf("  format version  %u.%u\n", p->hdr.major, p->hdr.minor);
    printf("  profile type    %s\n", p->hdr.profile_type[0] ? p->hdr.profile_type : "(none)");
    printf("  ICCID           %s (EF.ICCID: %s)\n", p->hdr.iccid,
           p->ef_iccid_digits[0] ? p->ef_iccid_digits : "no content");
    printf("  services       ");
    for (unsigned b = 0; b < SAIP_SVC_COUNT; b++)
        if (p->hdr.services & (1u << b))
            printf(" %s", saip_service_name(b));
    printf("\n  GFSTE list     ");
    for (size_t k = 0; k < p->hdr.n_gfste; k++) {
        printf(" ");
        print_oid(p, p->hdr.gfste[k]);
    }
    printf("\n  POL1            %s\n", p->hdr.pol_node != SAIP_NONE ? "present" : "absent");
    if (p->hdr.n_ext)
        printf("  header fields newer than this SM-DP: %zu (kept)\n", p->hdr.n_ext);
    printf("  PEs:\n    %3s %-22s %5s %8s %7s %6s  %s\n", "#", "type", "id", "mandated", "offset", "length", "template");
    for (size_t i = 0; i < p->npes; i++) {
        const saip_pe *pe = &p->pes[i];
        const der_node *n = &p->tree.n[pe->node];
        char id[16] = "-";
        if (pe->id != SAIP_NONE)
            snprintf(id, sizeof id, "%d", (int)pe->id);
        printf("    %3zu %-22s %5s %8s %7u %6u  ", i, pe->name ? pe->name : "unknown", id,
               pe->has_hdr ? (pe->mandated ? "yes" : "no") : "-", n->off, n->hlen + n->len);
        if (pe->template_id != SAIP_NONE)
            print_oid(p, pe->template_id);
        printf("\n");
    }
    printf("  personalisable:\n");
    printf("    ICCID   header iccid + %s\n", p->ef_iccid.file != SAIP_NONE ? "EF.ICCID (mf)" : "(no EF.ICCID)");
    if (p->ef_imsi.file != SAIP_NONE)
        printf("    IMSI    EF.IMSI (usim): %s\n", p->imsi[0] ? p->imsi : "no content (appended when set)");
    else
        printf("    IMSI    none: no usim PE\n");
    for (size_t k = 0; k < p->naka; k++) {
        const saip_aka *a = &p->aka[k];
        printf("    AKA     akaParameter id %d (%s): ", (int)p->pes[a->pe].id, owner_name(p, a->owner));
        if (a->mapping) {
            printf("mappingParameter (uses another NAA's key)\n");
            continue;
        }
        const char *alg = a->algorithm == SAIP_ALG_MILENAGE ? "milenage"
                        : a->algorithm == SAIP_ALG_TUAK     ? "tuak"
                        : a->algorithm == SAIP_ALG_TEST     ? "usim-test-algorithm"
                                                            : "unknown";
        printf("%s, options %02X, key %u B, opc %u B%s%s%s\n", alg, a->options, p->tree.n[a->key].len,
               p->tree.n[a->opc].len, a->rotation != SAIP_NONE ? ", rotation constants" : "",
               a->xoring != SAIP_NONE ? ", xoring constants" : "", a->sqn_init != SAIP_NONE ? ", sqnInit" : "");
    }
    static const struct {
        bool puk;
        uint32_t ref;
        const char *name;
    } codes[] = {{false, 0x01, "PIN1"}, {false, 0x81, "PIN2"}, {true, 0x01, "PUK1"},
                 {true, 0x81, "PUK2"},  {false, 0x0A, "ADM1"}, {false, 0x0B, "ADM2"}};
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
        const saip_code *e = codes[c].puk ? p->puk : p->pin;
        size_t n = codes[c].puk ? p->npuk : p->npin, hits = 0;
        printf("    %-7s", codes[c].name);
        for (size_t k = 0; k < n; k++)
            if (e[k].keyref == codes[c].ref)
                printf("%s%s", hits++ ? ", " : " in ", owner_name(p, e[k].owner));
        printf("%s\n", hits ? "" : " not defined");
    }
    if (p->ef_msisdn.file != SAIP_NONE)
        printf("    MSISDN  EF.MSISDN (opt-usim), record %u B, %s\n", p->msisdn_reclen,
               p->ef_msisdn.n_fill ? "has content" : "empty (record 1 appended when set)");
    else
        printf("    MSISDN  none: no EF.MSISDN\n");
}

static int check_template(int argc, char **argv)
{
    if (argc != 3)
        return smctl_fail("usage: smctl profile check-template FILE");
    uint8_t *der = NULL;
    size_t len = 0, cap = 0;
    if (read_all(argv[2], SAIP_MAX_PACKAGE, false, &der, &len, &cap) != 0)
        return 1;
    saip_pkg *p = NULL;
    sm_err err = {0};
    int rc = 0;
    if (saip_decode(der, len, &p, &err) != SM_OK) {
        rc = smctl_fail("%s: %s", argv[2], err.msg);
    } else {
        summary(p, argv[2], len);
        if (saip_check(p, &err) != SM_OK) {
            printf("check: FAILED\n");
            rc = smctl_fail("%s: %s", argv[2], err.msg);
        } else {
            printf("check: ok\n");
        }
    }
    saip_free(p);
    free(der);
    return rc;
}

static int import_template(smctl_ctx *c, int argc, char **argv)
{
    const char *path = NULL, *type = NULL, *mno = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc)
            type = argv[++i];
        else if (!strcmp(argv[i], "--mno") && i + 1 < argc)
            mno = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return smctl_fail("usage: smctl profile import-template FILE [--type NAME] [--mno MNO]");
    }
    if (!path)
        return smctl_fail("usage: smctl profile import-template FILE [--type NAME] [--mno MNO]");
    char name[SMDP_NAME_MAX + 1];
    if (type)
        snprintf(name, sizeof name, "%s", type);
    else
        smdp_template_name_from_path(path, name, sizeof name);
    uint8_t *der = NULL;
    size_t len = 0, cap = 0;
    if (read_all(path, SAIP_MAX_PACKAGE, false, &der, &len, &cap) != 0)
        return 1;
    db_conn *db = smctl_db(c);
    if (!db) {
        free(der);
        return 1;
    }
    smdp_template_info in;
    sm_err err = {0};
    sm_rc rc = smdp_template_import(db, smctl_actor(), der, len, name, mno, &in, &err);
    free(der);
    smctl_audit_cmd(c, argc, argv, rc == SM_OK ? "ok" : "refused");
    if (rc != SM_OK)
        return smctl_fail("%s: %s", path, err.msg);
    printf("imported template %s: SAIP %u.%u, %zu PEs, %zu bytes, ICCID %s%s%s; downloads reserve %lld bytes\n",
           in.name, in.major, in.minor, in.npes, in.len, in.iccid, in.header_type[0] ? ", header type " : "",
           in.header_type, (long long)in.required_memory);
    return 0;
}

static int stock_counts(smctl_ctx *c, int argc, char **argv)
{
    if (argc < 3 || argc == 4 || argc > 5 || (argc == 5 && strcmp(argv[3], "--mno")))
        return smctl_fail("usage: smctl profile stock TYPE [--mno MNO]");
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    dp_stock_counts n;
    sm_err err = {0};
    if (dp_stock_count(db, argv[2], argc == 5 ? argv[4] : NULL, &n, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("profile type %s%s%s: available %ld, reserved %ld, installed %ld, retired %ld\n", argv[2],
           argc == 5 ? " of " : "", argc == 5 ? argv[4] : "", n.available, n.reserved, n.installed, n.retired);
    return 0;
}

int smctl_profile_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "check-template"))
        return check_template(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "import-template"))
        return import_template(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "stock"))
        return stock_counts(c, argc, argv);
    smctl_profile_help(stderr);
    return 2;
}

/* ---- order dry-run ----------------------------------------------------------------------- */

static sm_rc print_profile(const smdp_produced *p, void *arg, sm_err *err)
{
    (void)arg;
    (void)err;
    printf("  %6llu  %-20s  %-15s  %-15s  %zu B sealed\n", (unsigned long long)p->index, p->iccid, p->imsi,
           p->msisdn[0] ? p->msisdn : "-", p->sealed->ctlen);
    return SM_OK;
}

static int dry_run(smctl_ctx *c, int argc, char **argv)
{
    const char *order_path = NULL, *tpl_path = NULL, *out_path = NULL;
    bool ephemeral = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--template") && i + 1 < argc)
            tpl_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strcmp(argv[i], "--ephemeral-transport-key"))
            ephemeral = true;
        else if (argv[i][0] != '-' && !order_path)
            order_path = argv[i];
        else
            return smctl_fail("usage: smctl order dry-run ORDERFILE --template FILE [--out FILE] "
                              "[--ephemeral-transport-key]");
    }
    if (!order_path || !tpl_path)
        return smctl_fail("usage: smctl order dry-run ORDERFILE --template FILE [--out FILE] "
                          "[--ephemeral-transport-key]");
    char defout[4096];
    if (!out_path) {
        snprintf(defout, sizeof defout, "%s.mno.csv", order_path);
        out_path = defout;
    }
    uint8_t *der = NULL, *text = NULL;
    size_t dlen = 0, dcap = 0, tlen = 0, tcap = 0;
    saip_pkg *tpl = NULL;
    smdp_order *o = NULL;
    sm_buf mno;
    sm_buf_init(&mno);
    sm_err err = {0};
    int rc = 1;
    hsm_key ek;
    bool have_ek = false;
    if (read_all(tpl_path, SAIP_MAX_PACKAGE, false, &der, &dlen, &dcap) != 0 ||
        read_all(order_path, SMDP_ORDER_MAX_BYTES, true, &text, &tlen, &tcap) != 0)
        goto done;
    if (saip_decode(der, dlen, &tpl, &err) != SM_OK || saip_check(tpl, &err) != SM_OK) {
        smctl_fail("%s: %s", tpl_path, err.msg);
        goto done;
    }
    if (smdp_order_parse((const char *)text, tlen, &o, &err) != SM_OK) {
        smctl_fail("%s: %s", order_path, err.msg);
        goto done;
    }
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        goto done;
    const char *prefix = c->cfg->hsm.key_prefix;
    smdp_order_keys k;
    char label[HSM_LABEL_MAX + 1];
    if (smdp_stock_key(s, prefix, &k.profile, &err) != SM_OK ||
        smdp_transport_label(prefix, o->mno, label, sizeof label, &err) != SM_OK) {
        smctl_fail("%s", err.msg);
        goto done;
    }
    k.transport_label = label;
    if (hsm_key_find(s, label, HSM_KT_AES, &k.transport, &err) != SM_OK) {
        if (!ephemeral) {
            smctl_fail("MNO transport key %s: %s (import it, or use --ephemeral-transport-key for a dry run)", label,
                       err.msg);
            goto done;
        }
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE};
        sm_err_clear(&err);
        if (hsm_key_generate(s, &sp, &ek, &err) != SM_OK) {
            smctl_fail("ephemeral transport key: %s", err.msg);
            goto done;
        }
        have_ek = true;
        k.transport = ek;
        k.transport_label = "ephemeral-dry-run";
        fprintf(stderr, "smctl: warning: no %s in the token; a throw-away session key stands in (the MNO file "
                        "cannot be read by anyone, op-enc decrypts to a meaningless OP)\n", label);
    }
    printf("order %s: %llu profiles of %s for %s, template %s (%s)\n", order_path, (unsigned long long)o->quantity,
           o->profile_type, o->mno, o->template_id, tpl_path);
    printf("  %6s  %-20s  %-15s  %-15s\n", "#", "ICCID", "IMSI", "MSISDN");
    if (smdp_order_run(s, o, tpl, &k, print_profile, NULL, &mno, &err) != SM_OK) {
        smctl_fail("%s", err.msg);
        goto done;
    }
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, mno.data, mno.len) != (ssize_t)mno.len) {
        smctl_fail("%s: %s", out_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto done;
    }
    close(fd);
    printf("dry run: %llu profiles personalised and sealed, nothing stored\nMNO output file: %s\n",
           (unsigned long long)o->quantity, out_path);
    rc = 0;
done:
    if (have_ek) {
        sm_err e2 = {0};
        hsm_key_destroy(c->sess, &ek, &e2);
    }
    sm_buf_free(&mno);
    smdp_order_free(o);
    saip_free(tpl);
    free(der);
    if (text)
        sm_secmem_free(text, tcap);
    return rc;
}

/* Writes a file readable by its owner only (the MNO file holds encrypted subscriber keys). */
static int write_private(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return smctl_fail("%s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const uint8_t *)p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return smctl_fail("%s: %s", path, strerror(errno));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0)
        return smctl_fail("%s: %s", path, strerror(errno));
    return 0;
}

static int order_import(smctl_ctx *c, int argc, char **argv)
{
    const char *order_path = NULL, *out_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (argv[i][0] != '-' && !order_path)
            order_path = argv[i];
        else
            return smctl_fail("usage: smctl order import ORDERFILE [--out FILE]");
    }
    if (!order_path)
        return smctl_fail("usage: smctl order import ORDERFILE [--out FILE]");
    char defout[4096];
    if (!out_path) {
        snprintf(defout, sizeof defout, "%s.mno.csv", order_path);
        out_path = defout;
    }
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return 1;
    uint8_t *text = NULL;
    size_t tlen = 0, tcap = 0;
    if (read_all(order_path, SMDP_ORDER_MAX_BYTES, true, &text, &tlen, &tcap) != 0)
        return 1;
    int rc = 1;
    hsm_sess *s = smctl_hsm(c);
    db_conn *db = s ? smctl_db(c) : NULL;
    if (db) {
        smdp_batch_req req = {.text = (const char *)text, .len = tlen, .key_prefix = cfg->hsm.key_prefix,
                              .actor = smctl_actor(), .requester = smctl_actor()};
        smdp_batch_result res;
        sm_err err = {0};
        if (smdp_batch_import(db, s, &req, &res, &err) != SM_OK) {
            smctl_audit_cmd(c, argc, argv, "refused");
            smctl_fail("%s: %s (nothing was stored)", order_path, err.msg);
        } else {
            smctl_audit_cmd(c, argc, argv, "ok");
            printf("batch %lld: %llu profiles of %s for %s from template %s stored in stock, ICCID %s .. %s\n",
                   (long long)res.batch_id, (unsigned long long)res.quantity, res.profile_type, res.mno,
                   res.template_id, res.first_iccid, res.last_iccid);
            rc = write_private(out_path, res.mno_file.data, res.mno_file.len);
            if (!rc)
                printf("MNO output file: %s\n", out_path);
            else
                fprintf(stderr, "smctl: the batch is stored; its MNO file is kept in the database (batch %lld)\n",
                        (long long)res.batch_id);
        }
        smdp_batch_result_free(&res);
    }
    sm_secmem_free(text, tcap);
    return rc;
}

int smctl_order_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "dry-run"))
        return dry_run(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return order_import(c, argc, argv);
    smctl_order_help(stderr);
    return 2;
}

/* ---- mno transport-key import ------------------------------------------------------------ */

static int transport_key_import(smctl_ctx *c, int argc, char **argv)
{
    const char *mno = NULL, *path = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--mno") && i + 1 < argc)
            mno = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return smctl_fail("usage: smctl mno transport-key import --mno ID FILE");
    }
    if (!mno || !path)
        return smctl_fail("usage: smctl mno transport-key import --mno ID FILE");
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return 1;
    uint8_t *text = NULL;
    size_t tlen = 0, tcap = 0;
    if (read_all(path, 4096, true, &text, &tlen, &tcap) != 0)
        return 1;
    uint8_t *key = sm_secmem_alloc(32);
    int rc = 1;
    sm_err err = {0};
    size_t kl = 0;
    hsm_sess *s = NULL;
    if (!key) {
        smctl_fail("cannot allocate locked memory");
    } else if (smdp_mnokey_parse((const char *)text, tlen, key, &kl, &err) != SM_OK) {
        smctl_fail("%s: %s", path, err.msg);
    } else if ((s = smctl_hsm(c))) {
        char label[HSM_LABEL_MAX + 1];
        uint8_t kcv[3];
        sm_rc r = smdp_mnokey_import(s, cfg->hsm.key_prefix, mno, key, kl, label, kcv, &err);
        char why[200];
        if (smctl_db_try(c, why, sizeof why))
            smctl_audit_cmd(c, argc, argv, r == SM_OK ? "ok" : "refused");
        if (r != SM_OK) {
            smctl_fail("%s", err.msg);
        } else {
            printf("imported %s: AES-%zu token key, sensitive, never extractable (encrypt, decrypt, derive); "
                   "KCV %02x%02x%02x\nDEVELOPMENT ONLY: delete %s; production exchanges transport keys by "
                   "ceremony\n",
                   label, kl * 8, kcv[0], kcv[1], kcv[2], path);
            rc = 0;
        }
    }
    if (key)
        sm_secmem_free(key, 32);
    sm_secmem_free(text, tcap);
    return rc;
}

int smctl_mno_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "transport-key") && !strcmp(argv[2], "import"))
        return transport_key_import(c, argc, argv);
    smctl_mno_help(stderr);
    return 2;
}

