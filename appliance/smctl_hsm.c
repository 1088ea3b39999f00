/* smctl hsm: the key ceremony and HSM inspection. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance/keyring.h"
#include "appliance/smctl.h"
#include "db/audit.h"
#include "lib/hex.h"
#include "lib/secmem.h"

void smctl_hsm_help(FILE *out)
{
    fprintf(out,
            "  init     create the appliance key hierarchy in the configured token (idempotent: existing keys\n"
            "           are kept, never overwritten); prints labels, CKA_IDs and public keys, nothing secret\n"
            "  list     list the token's objects with their security attributes; keys that are extractable or\n"
            "           not sensitive are flagged and make the command exit with status 3\n"
            "  status   the module, token, mechanisms and fallbacks in use\n"
            "  init-token [--so-pin-file FILE] [--reinit]\n"
            "           initialise a free slot of the configured module as the token hsm.token_label, with the\n"
            "           SO PIN from FILE (default <var_dir>/secrets/hsm-so-pin) and the user PIN from\n"
            "           hsm.pin_file / hsm.pin_env (development tokens; `make run` uses it); --reinit erases\n"
            "           and re-initialises an existing token of that label (test tokens only)\n");
}

/* Each ceremony step goes to the audit trail when the database is reachable. */
struct ceremony {
    db_conn *db;
    int unrecorded;
};

static void print_step(const sm_ceremony_step *st, void *arg)
{
    struct ceremony *cr = arg;
    printf("%-8s %-24s id=%s  %s\n", st->created ? "created" : "exists", st->label, st->id_hex,
           sm_keyring_defs[st->which].purpose);
    if (st->pub_hex[0])
        printf("         public key %s\n", st->pub_hex);
    sm_err err = {0};
    if (cr->db && db_audit_appendf(cr->db, &err, smctl_actor(), "hsm.ceremony.key", st->label,
                                   st->created ? "created" : "exists", "id=%s%s%s", st->id_hex,
                                   st->pub_hex[0] ? " public_key=" : "", st->pub_hex) != SM_OK) {
        fprintf(stderr, "smctl: warning: %s\n", err.msg);
        cr->unrecorded++;
    }
}

static int do_init(smctl_ctx *c, int argc, char **argv)
{
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    sm_err err = {0};
    /* The ceremony must work before any database exists (first installation); then it is not audited
     * here, and smboxd records the key hierarchy it runs with (daemon.start) once the database is up. */
    char why[600];
    struct ceremony cr = {smctl_db_try(c, why, sizeof why), 0};
    printf("key ceremony on token '%s' (%s)\n", c->cfg->hsm.token_label, c->cfg->hsm.module);
    if (sm_keyring_ceremony(s, c->cfg->hsm.key_prefix, print_step, &cr, &err) != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("%s", err.msg);
    }
    if (!cr.db)
        printf("note: not recorded in the audit trail: the database is not reachable (%s)\n", why);
    else if (cr.unrecorded)
        printf("note: %d ceremony step(s) could not be recorded in the audit trail\n", cr.unrecorded);
    else
        printf("audit: every step recorded in the audit trail as %s\n", smctl_actor());
    smctl_audit_cmd(c, argc, argv, "ok");
    printf("ECKA: no static key (SGP.02 key establishment uses an ephemeral key per session)\n");
    sm_keyring kr;
    if (sm_keyring_load(s, c->cfg->hsm.key_prefix, &kr, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("key-encryption key CKA_TRUSTED: %s\n",
           kr.kek_trusted ? "yes (wrappable keys require a trusted wrapping key)"
                          : "no (the module does not let the user set it; see SECURITY.md)");
    return 0;
}

struct list_state {
    int flagged;
    int n;
};

static int print_obj(const hsm_objinfo *o, void *arg)
{
    struct list_state *st = arg;
    char id[65];
    sm_hex_encode(o->id, o->idlen, id);
    printf("%-4s %-12s %-18s %-28s id=%-16s tok=%d priv=%d sens=%d extr=%d asens=%d nextr=%d trusted=%d wwt=%d\n",
           o->flagged ? "FLAG" : "", o->cls, o->keytype, o->label[0] ? o->label : "-", o->idlen ? id : "-", o->token,
           o->priv, o->sensitive, o->extractable, o->always_sensitive, o->never_extractable, o->trusted,
           o->wrap_with_trusted);
    st->n++;
    if (o->flagged)
        st->flagged++;
    return 0;
}

static int do_list(smctl_ctx *c)
{
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    struct list_state st = {0, 0};
    sm_err err = {0};
    if (hsm_objects_list(s, print_obj, &st, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("%d object(s), %d flagged\n", st.n, st.flagged);
    return st.flagged ? 3 : 0;
}

static int do_status(smctl_ctx *c)
{
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    const hsm_caps *k = hsm_capabilities(c->hsm);
    printf("module       %s\ntoken        %s\nmanufacturer %s\nmodel        %s\nlibrary      %s\n", c->cfg->hsm.module,
           c->cfg->hsm.token_label, k->manufacturer, k->model, k->library);
    printf("P-256 %s, brainpoolP256r1 %s, ECDH %s, AES-CMAC %s, AES key wrap (pad) %s, AES-GCM %s, 3DES %s\n",
           k->ec_p256 ? "yes" : "NO", k->ec_brainpool ? "yes" : "NO", k->ecdh ? "yes" : "NO",
           k->aes_cmac ? "yes" : "NO", k->aes_key_wrap_pad ? "yes" : "NO", k->aes_gcm ? "yes" : "NO",
           k->des3 ? "yes" : "NO");
    printf("SGP.02 KDF   %s\n", k->ecdh_kdf_sha256 && k->extract_key
                                   ? "inside the token (CKD_SHA256_KDF + CKM_EXTRACT_KEY_FROM_KEY)"
                                   : k->digest_key ? "fallback: C_DigestKey keeps Z in the token; derived keys imported"
                                                   : "fallback: Z in locked memory for the KDF instant");
    printf("SCP03 KDF    %s\n", k->aes_ecb_encrypt_data ? "inside the token (CKM_AES_ECB_ENCRYPT_DATA)"
                                                        : "fallback: CMAC output imported");
    return 0;
}

static int do_init_token(smctl_ctx *c, int argc, char **argv)
{
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return 1;
    char sofile[4096], pinfile[4096];
    sm_config_var_path(cfg, "secrets/hsm-so-pin", sofile, sizeof sofile);
    bool reinit = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--so-pin-file") && i + 1 < argc)
            snprintf(sofile, sizeof sofile, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--reinit"))
            reinit = true;
        else
            return smctl_fail("hsm init-token: unknown argument %s", argv[i]);
    }
    char conf[4096];
    sm_config_var_path(cfg, cfg->hsm.softhsm2_conf, conf, sizeof conf);
    if (conf[0] && !getenv("SOFTHSM2_CONF") && access(conf, R_OK) == 0)
        setenv("SOFTHSM2_CONF", conf, 0);
    sm_config_var_path(cfg, cfg->hsm.pin_env && *cfg->hsm.pin_env ? NULL : cfg->hsm.pin_file, pinfile,
                       sizeof pinfile);
    char *so = NULL, *pin = NULL;
    size_t solen = 0, pinlen = 0;
    sm_err err = {0};
    if (sm_secmem_read_file(sofile, &so, &solen, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    int rc = 0;
    if (sm_config_secret(pinfile, cfg->hsm.pin_env, "HSM PIN", &pin, &pinlen, &err) != SM_OK ||
        hsm_init_token(cfg->hsm.module, cfg->hsm.token_label, so, solen, pin, pinlen, reinit, &err) != SM_OK)
        rc = err.code == SM_EEXIST ? (printf("token '%s' already exists\n", cfg->hsm.token_label), 0)
                                   : smctl_fail("%s", err.msg);
    else
        printf("initialised token '%s' in %s\n", cfg->hsm.token_label, cfg->hsm.module);
    sm_secmem_free(so, solen + 1);
    sm_secmem_free(pin, pinlen + 1);
    return rc;
}

int smctl_hsm_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "init-token"))
        return do_init_token(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "init"))
        return do_init(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "list"))
        return do_list(c);
    if (argc == 2 && !strcmp(argv[1], "status"))
        return do_status(c);
    smctl_hsm_help(stderr);
    return 2;
}
