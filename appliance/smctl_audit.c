/* smctl audit: verify the trail (in the database, or an exported bundle offline), export a bundle for
 * an auditor, write a signed checkpoint now. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance/keyring.h"
#include "appliance/smctl.h"
#include "db/audit.h"

void smctl_audit_help(FILE *out)
{
    fprintf(out,
            "  verify [--bundle FILE [--key FINGERPRINT|PUBLIC-KEY]]\n"
            "           walk every hash chain and signed checkpoint of the trail and name the first entry that\n"
            "           was changed, deleted or reordered (exit 1). With --bundle, verify an exported bundle\n"
            "           offline: no database, no HSM, no configuration needed; --key pins the audit key (the\n"
            "           public key `smctl hsm init` printed for <prefix>-audit, or its SHA-256 fingerprint)\n"
            "  export [--from TIME] [--to TIME] --out FILE\n"
            "           write a self-contained bundle (entries, signed checkpoints, public keys) of the entries\n"
            "           appended between the two times (e.g. 2024-05-01 or 2024-05-01T12:00:00Z), extended to\n"
            "           the checkpoints around them; FILE '-' is standard output\n"
            "  checkpoint\n"
            "           sign a checkpoint of every chain now with the HSM audit key (smboxd does this every\n"
            "           database.audit_checkpoint_entries entries and database.audit_checkpoint_seconds)\n");
}

static void print_report(const char *what, const db_audit_report *r)
{
    printf("%s OK: %ld entries in %ld chains, %ld signed checkpoints\n", what, r->entries, r->chains, r->checkpoints);
    if (r->key_fp[0])
        printf("audit key    fingerprint %s\n             public key  %s\n", r->key_fp, r->key_pub);
    if (r->uncovered)
        printf("note         %ld entries came after the last checkpoint (hash-linked, not yet signed)\n",
               r->uncovered);
}

static int verify_bundle(const char *path, const char *key)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        return smctl_fail("audit: cannot open %s: %s", path, strerror(errno));
    db_audit_report rep;
    sm_err err = {0};
    sm_rc rc = db_audit_verify_bundle(f, key, &rep, &err);
    if (f != stdin)
        fclose(f);
    if (rc == SM_EVERIFY) {
        printf("bundle BROKEN: %s\n", rep.problem);
        return 1;
    }
    if (rc != SM_OK)
        return smctl_fail("%s", err.msg);
    print_report("bundle", &rep);
    if (!key)
        printf("check        that the public key above is the one recorded at the key ceremony (or pass --key)\n");
    return 0;
}

static int do_verify(smctl_ctx *c, int argc, char **argv)
{
    const char *bundle = NULL, *key = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bundle") && i + 1 < argc)
            bundle = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else
            return smctl_fail("audit verify: unknown argument %s", argv[i]);
    }
    if (bundle)
        return verify_bundle(bundle, key);
    if (key)
        return smctl_fail("audit verify: --key goes with --bundle");
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    db_audit_report rep;
    sm_err err = {0};
    sm_rc rc = db_audit_verify(db, &rep, &err);
    if (rc == SM_EVERIFY) {
        printf("audit trail BROKEN: %s\n", rep.problem);
        smctl_audit_cmd(c, argc, argv, "broken");
        return 1;
    }
    if (rc != SM_OK)
        return smctl_fail("%s", err.msg);
    print_report("audit trail", &rep);
    smctl_audit_cmd(c, argc, argv, "ok");
    return 0;
}

static int do_export(smctl_ctx *c, int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--from") && i + 1 < argc)
            from = argv[++i];
        else if (!strcmp(argv[i], "--to") && i + 1 < argc)
            to = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            path = argv[++i];
        else
            return smctl_fail("audit export: unknown argument %s", argv[i]);
    }
    if (!path)
        return smctl_fail("audit export: --out FILE is required ('-' for standard output)");
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    FILE *f = stdout;
    if (strcmp(path, "-")) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f)
            return smctl_fail("audit export: cannot create %s: %s", path, strerror(errno));
    }
    long n = 0, left = 0;
    sm_err err = {0};
    sm_rc rc = db_audit_export(db, from, to, f, &n, &left, &err);
    if (f != stdout && fclose(f) != 0 && rc == SM_OK)
        rc = sm_errf(&err, SM_EIO, "audit export: writing %s: %s", path, strerror(errno));
    smctl_audit_cmd(c, argc, argv, rc == SM_OK ? "ok" : "failed");
    if (rc != SM_OK)
        return smctl_fail("%s", err.msg);
    if (left)
        fprintf(stderr, "smctl: note: %ld newer entries are not signed by a checkpoint yet and were left out "
                        "(`smctl audit checkpoint`, or wait for smboxd's next one)\n", left);
    if (f == stdout)
        return 0;
    fprintf(stderr, "exported %ld entries to %s\n", n, path);
    /* check what was written, as the auditor will */
    FILE *in = fopen(path, "r");
    db_audit_report rep;
    sm_err verr = {0};
    rc = in ? db_audit_verify_bundle(in, NULL, &rep, &verr) : SM_EIO;
    if (in)
        fclose(in);
    if (rc != SM_OK) {
        fprintf(stderr, "smctl: the written bundle does not verify: %s\n", rep.problem[0] ? rep.problem : verr.msg);
        return 1;
    }
    fprintf(stderr, "bundle verifies: %ld entries, %ld checkpoints, key %.16s...\n", rep.entries, rep.checkpoints,
            rep.key_fp);
    return 0;
}

static int do_checkpoint(smctl_ctx *c, int argc, char **argv)
{
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    sm_keyring kr;
    sm_err err = {0};
    if (sm_keyring_load(s, c->cfg->hsm.key_prefix, &kr, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    db_audit_signer signer;
    bool written = false;
    /* the command's own entry goes first, so that the checkpoint covers it */
    smctl_audit_cmd(c, argc, argv, "requested");
    if (db_audit_signer_init(&signer, s, &kr.key[AK_AUDIT], &kr.pub[AK_AUDIT], kr.label[AK_AUDIT], &err) != SM_OK ||
        db_audit_checkpoint(db, &signer, NULL, &written, &err) != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("%s", err.msg);
    }
    printf("%s\n", written ? "checkpoint written" : "nothing new since the last checkpoint");
    return 0;
}

int smctl_audit_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return do_verify(c, argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "export"))
        return do_export(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "checkpoint"))
        return do_checkpoint(c, argc, argv);
    smctl_audit_help(stderr);
    return 2;
}
