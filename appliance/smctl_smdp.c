/* smctl profile | order: SM-DP template inspection and in-memory order dry runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appliance/smctl.h"
#include "appliance/smdp/mnofile.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/saip.h"
#include "lib/secmem.h"

void smctl_profile_help(FILE *out)
{
    fprintf(out, "  check-template FILE\n"
                 "           decode a profile package (SAIP DER) and check its structure; prints the format\n"
                 "           version, ICCID, PEs, mandatory services and the personalisable values found\n"
                 "           (where they are, never their secret contents); exit status 1 if it fails\n");
}

void smctl_order_help(FILE *out)
{
    fprintf(out,
            "  dry-run ORDERFILE --template FILE [--out FILE] [--ephemeral-transport-key]\n"
            "           run an order (docs/sm-dp-files.md) in memory against the configured token: generates,\n"
            "           personalises and seals every profile, prints the ICCID/IMSI list and writes the MNO\n"
            "           output file (default ORDERFILE.mno.csv); nothing is stored. The MNO transport key\n"
            "           <hsm.key_prefix>-mno-<mno> must be in the token, unless --ephemeral-transport-key\n"
            "           makes a throw-away session key (then op-enc decrypts to a meaningless OP)\n");
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

int smctl_profile_main(smctl_ctx *c, int argc, char **argv)
{
    (void)c;
    if (argc >= 2 && !strcmp(argv[1], "check-template"))
        return check_template(argc, argv);
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

int smctl_order_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "dry-run"))
        return dry_run(c, argc, argv);
    smctl_order_help(stderr);
    return 2;
}
