/* Throw-away SoftHSM2 development token for offline tools. */
#include "appliance/devtoken.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/hex.h"
#include "lib/secmem.h"

extern char **environ;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs softhsm2-util --init-token with arguments given as a vector (no shell), output discarded. */
static sm_rc init_token(const char *label, const char *pin, const char *so_pin, sm_err *err)
{
    char *argv[] = {"softhsm2-util", "--init-token", "--free", "--label", (char *)label, "--pin", (char *)pin,
                    "--so-pin", (char *)so_pin, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "softhsm2-util", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return sm_errf(err, SM_ENOTFOUND, "devtoken: cannot run softhsm2-util: %s", strerror(rc));
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return sm_errf(err, SM_EHSM, "devtoken: softhsm2-util --init-token failed");
    return SM_OK;
}

static sm_rc make_temporary(devtoken *t, char *pin, sm_err *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(t->dir, sizeof t->dir, "%s/smbox-tool-XXXXXX", tmp);
    if (!mkdtemp(t->dir)) {
        sm_rc rc = sm_errf(err, SM_EIO, "devtoken: mkdtemp under %s: %s", tmp, strerror(errno));
        t->dir[0] = 0;
        return rc;
    }
    t->temporary = true;
    char conf[600], tokdir[600];
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", t->dir);
    snprintf(tokdir, sizeof tokdir, "%s/tokens", t->dir);
    if (mkdir(tokdir, 0700) != 0)
        return sm_errf(err, SM_EIO, "devtoken: mkdir %s: %s", tokdir, strerror(errno));
    FILE *f = fopen(conf, "w");
    if (!f)
        return sm_errf(err, SM_EIO, "devtoken: writing %s: %s", conf, strerror(errno));
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokdir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    /* random PINs: nobody ever needs them again */
    uint8_t r[24];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
        if (fd >= 0)
            close(fd);
        return sm_errf(err, SM_EIO, "devtoken: cannot read /dev/urandom");
    }
    close(fd);
    char so[33];
    sm_hex_encode(r, 12, pin);
    sm_hex_encode(r + 12, 12, so);
    snprintf(t->module, sizeof t->module, "%s", DEVTOKEN_SOFTHSM2);
    snprintf(t->label, sizeof t->label, "smbox-tool");
    sm_rc rc = init_token(t->label, pin, so, err);
    explicit_bzero(so, sizeof so);
    explicit_bzero(r, sizeof r);
    return rc;
}

sm_rc devtoken_open(devtoken *t, sm_err *err)
{
    memset(t, 0, sizeof *t);
    const char *mod = getenv("SMBOX_TOOL_P11_MODULE");
    char *pin = sm_secmem_alloc(128);
    if (!pin)
        return sm_errf(err, SM_ENOMEM, "devtoken: cannot lock memory for the PIN");
    sm_rc rc = SM_OK;
    if (mod && *mod) {
        const char *tok = getenv("SMBOX_TOOL_TOKEN"), *p = getenv("SMBOX_TOOL_PIN");
        if (!tok || !*tok)
            rc = sm_errf(err, SM_ECONFIG, "devtoken: SMBOX_TOOL_P11_MODULE is set but SMBOX_TOOL_TOKEN is not");
        else if (strlen(tok) > 32 || strlen(mod) >= sizeof t->module || (p && strlen(p) >= 128))
            rc = sm_errf(err, SM_ECONFIG, "devtoken: SMBOX_TOOL_* values too long");
        if (rc == SM_OK) {
            snprintf(t->module, sizeof t->module, "%s", mod);
            snprintf(t->label, sizeof t->label, "%s", tok);
            snprintf(pin, 128, "%s", p ? p : "");
        }
    } else {
        rc = make_temporary(t, pin, err);
    }
    if (rc == SM_OK) {
        hsm_config cfg = {.module_path = t->module, .token_label = t->label, .pin = pin, .pin_len = strlen(pin),
                          .sessions = 1};
        rc = hsm_open(&cfg, &t->ctx, err);
    }
    sm_secmem_free(pin, 128);
    if (rc == SM_OK)
        rc = hsm_session_get(t->ctx, &t->sess, err);
    if (rc != SM_OK)
        devtoken_close(t);
    return rc;
}

void devtoken_close(devtoken *t)
{
    if (t->sess)
        hsm_session_put(t->sess);
    t->sess = NULL;
    if (t->ctx)
        hsm_close(t->ctx);
    t->ctx = NULL;
    if (t->temporary && t->dir[0] == '/' && strlen(t->dir) > 5)
        nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    t->dir[0] = 0;
    t->temporary = false;
}
