#include "tests/support/es5test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "appliance/es5/es5.h"
#include "db/eis_repo.h"
#include "lib/hex.h"
#include "tests/support/workers.h"

const char *es5t_sim_bin(void)
{
    static char path[600];
    const char *bin = getenv("SMBOX_BIN_DIR");
    snprintf(path, sizeof path, "%s/../sim/sim", bin && *bin ? bin : "build/rel/bin");
    return path;
}

/* ---- fleet ------------------------------------------------------------------------------------- */

static const char *field(const char *line, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = line; p && *p;) {
        if (!strncmp(p, name, nl) && p[nl] == '=') {
            const char *v = p + nl + 1, *e = strchr(v, ';');
            size_t l = e ? (size_t)(e - v) : strlen(v);
            while (l && (v[l - 1] == '\n' || v[l - 1] == '\r'))
                l--;
            if (l >= cap)
                return NULL;
            memcpy(out, v, l);
            out[l] = 0;
            return out;
        }
        p = strchr(p, ';');
        if (p)
            p++;
    }
    return NULL;
}

static size_t hexfield(const char *line, const char *name, uint8_t *out, size_t cap)
{
    char v[600];
    size_t n = 0;
    if (!field(line, name, v, sizeof v) || sm_hex_decode(v, out, cap, &n, NULL) != SM_OK)
        return 0;
    return n;
}

int es5t_fleet_make(es5t_fleet *f, const char *dir, unsigned n) { return es5t_fleet_make2(f, dir, n, 0); }

int es5t_fleet_make2(es5t_fleet *f, const char *dir, unsigned n, unsigned sms_only)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    if (testenv_sh("'%s' fleet --count %u --out '%s' --sr-sms %s --no-es1 --sms-only %u >/dev/null", es5t_sim_bin(), n,
                   dir, ES5T_SR_SMS, sms_only) != 0)
        return -1;
    char path[400];
    snprintf(path, sizeof path, "%s/euicc-batch.txt", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    f->cards = calloc(n, sizeof *f->cards);
    char *line = NULL;
    size_t cap = 0;
    while (f->cards && getline(&line, &cap, fp) > 0 && f->n < n) {
        if (strncmp(line, "eis;", 4))
            continue;
        es5t_card *c = &f->cards[f->n++];
        char prof[400];
        field(line, "eid", c->eid, sizeof c->eid);
        field(line, "msisdn", c->msisdn, sizeof c->msisdn);
        char h[8];
        c->https = field(line, "http", h, sizeof h) && !strcmp(h, "1");
        c->isdr_aid_len = hexfield(line, "isdr-aid", c->isdr_aid, sizeof c->isdr_aid);
        c->elf_aid_len = hexfield(line, "isdp-elf-aid", c->elf_aid, sizeof c->elf_aid);
        c->module_aid_len = hexfield(line, "isdp-module-aid", c->module_aid, sizeof c->module_aid);
        if (field(line, "profile", prof, sizeof prof)) {
            char *comma = strchr(prof, ',');
            if (comma) {
                *comma = 0;
                sm_hex_decode(prof, c->isdp_aid, sizeof c->isdp_aid, &c->isdp_aid_len, NULL);
                char *ic = comma + 1, *e2 = strchr(ic, ',');
                if (e2)
                    *e2 = 0;
                snprintf(c->iccid, sizeof c->iccid, "%s", ic);
            }
        }
    }
    free(line);
    fclose(fp);
    return f->cards && f->n == n ? 0 : -1;
}

void es5t_fleet_free(es5t_fleet *f)
{
    free(f->cards);
    f->cards = NULL;
    f->n = 0;
}

static int rewrap(hsm_sess *s, const hsm_key *tk, const hsm_key *kek, const char *kek_label, const char *line,
                  const char *name, int index, db_key *out)
{
    uint8_t blob[64];
    size_t bl = hexfield(line, name, blob, sizeof blob);
    if (!bl)
        return -1;
    hsm_keyspec spec = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_SIGN,
                        .wrappable = true};
    hsm_key k;
    sm_err err = {0};
    if (hsm_unwrap(s, tk, blob, bl, &spec, &k, &err) != SM_OK) {
        fprintf(stderr, "es5test: unwrapping %s: %s\n", name, err.msg);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->index = index;
    out->key_type = 0x88;
    sm_rc rc = hsm_wrap(s, kek, &k, out->wrapped, sizeof out->wrapped, &out->wrapped_len, &err);
    hsm_key_destroy(s, &k, NULL);
    snprintf(out->kek_label, sizeof out->kek_label, "%s", kek_label);
    if (rc != SM_OK)
        fprintf(stderr, "es5test: wrapping %s: %s\n", name, err.msg);
    return rc == SM_OK ? 0 : -1;
}

static int import_line(db_conn *c, hsm_sess *s, const hsm_key *tk, const hsm_key *kek, const char *kek_label,
                       const char *line)
{
    db_euicc e;
    memset(&e, 0, sizeof e);
    char v[200];
    field(line, "eid", e.eid, sizeof e.eid);
    field(line, "eum-id", e.eum_id, sizeof e.eum_id);
    field(line, "smsr-id", e.smsr_id, sizeof e.smsr_id);
    field(line, "platform-type", e.platform_type, sizeof e.platform_type);
    e.caps = field(line, "http", v, sizeof v) && !strcmp(v, "1") ? DB_CAP_HTTPS : 0;
    e.isdr_aid.len = hexfield(line, "isdr-aid", e.isdr_aid.b, 16);
    e.isdr_tar.len = hexfield(line, "isdr-tar", e.isdr_tar.b, 16);
    e.isdr_sin.len = hexfield(line, "isdr-sin", e.isdr_sin.b, 16);
    e.isdr_sdin.len = hexfield(line, "isdr-sdin", e.isdr_sdin.b, 16);
    e.isdp_loadfile_aid.len = hexfield(line, "isdp-elf-aid", e.isdp_loadfile_aid.b, 16);
    e.isdp_module_aid.len = hexfield(line, "isdp-module-aid", e.isdp_module_aid.b, 16);
    e.available_memory = field(line, "mem-total", v, sizeof v) ? atoll(v) : 0;
    e.remaining_memory = field(line, "mem-free", v, sizeof v) ? atoll(v) : 0;
    db_profile prof[4];
    size_t np = 0;
    /* profile=aid,iccid,imsi,msisdn,state,fallback,allocated,pol1,mno (repeated) */
    for (const char *p = strstr(line, ";profile="); p && np < 4; p = strstr(p + 1, ";profile=")) {
        char pv[400];
        if (!field(p + 1, "profile", pv, sizeof pv))
            break;
        char *parts[9] = {0};
        char *save = NULL;
        int k = 0;
        for (char *t = strtok_r(pv, ",", &save); t && k < 9; t = strtok_r(NULL, ",", &save))
            parts[k++] = t;
        if (k < 9)
            return -1;
        db_profile *q = &prof[np++];
        memset(q, 0, sizeof *q);
        sm_hex_decode(parts[0], q->isdp_aid.b, 16, &q->isdp_aid.len, NULL);
        snprintf(q->iccid, sizeof q->iccid, "%s", parts[1]);
        snprintf(q->eid, sizeof q->eid, "%s", e.eid);
        snprintf(q->imsi, sizeof q->imsi, "%s", parts[2]);
        snprintf(q->msisdn, sizeof q->msisdn, "%s", parts[3]);
        snprintf(q->state, sizeof q->state, "%s", parts[4]);
        q->fallback = !strcmp(parts[5], "1");
        q->allocated_memory = atoll(parts[6]);
        q->free_memory = -1;
        snprintf(q->mno_id, sizeof q->mno_id, "%s", parts[8]);
    }
    sm_err err = {0};
    if (db_eis_register(c, "test", &e, prof, np, &err) != SM_OK) {
        fprintf(stderr, "es5test: registering %s: %s\n", e.eid, err.msg);
        return -1;
    }
    db_keyset k80, k81;
    memset(&k80, 0, sizeof k80);
    memset(&k81, 0, sizeof k81);
    k80.kvn = field(line, "scp80-kvn", v, sizeof v) ? (int)strtol(v, NULL, 16) : 1;
    k80.counter = field(line, "scp80-cntr", v, sizeof v) ? atoll(v) : 0;
    snprintf(k80.sd, sizeof k80.sd, "ISD-R");
    snprintf(k80.type, sizeof k80.type, "SCP80");
    k80.nkeys = 3;
    k81.kvn = field(line, "scp81-kvn", v, sizeof v) ? (int)strtol(v, NULL, 16) : 0x40;
    int kid81 = field(line, "scp81-key-id", v, sizeof v) ? (int)strtol(v, NULL, 16) : 1;
    snprintf(k81.sd, sizeof k81.sd, "ISD-R");
    snprintf(k81.type, sizeof k81.type, "SCP81");
    k81.nkeys = 1;
    if (rewrap(s, tk, kek, kek_label, line, "scp80-kic", 1, &k80.keys[0]) ||
        rewrap(s, tk, kek, kek_label, line, "scp80-kid", 2, &k80.keys[1]) ||
        rewrap(s, tk, kek, kek_label, line, "scp80-dek", 3, &k80.keys[2]) ||
        rewrap(s, tk, kek, kek_label, line, "scp81-psk", kid81, &k81.keys[0]))
        return -1;
    if (db_keyset_put(c, "test", e.eid, &k80, &err) != SM_OK || db_keyset_put(c, "test", e.eid, &k81, &err) != SM_OK) {
        fprintf(stderr, "es5test: key sets of %s: %s\n", e.eid, err.msg);
        return -1;
    }
    return 0;
}

int es5t_fleet_import(const es5t_fleet *f, db_conn *c, hsm_sess *s, const hsm_key *kek, const char *kek_label)
{
    char path[640], line[200], tkhex[100] = "";
    snprintf(path, sizeof path, "%s/pki/manifest", f->dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char tkfile[200] = "";
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, "transport.eum1-smsr.key=", 24)) {
            snprintf(tkfile, sizeof tkfile, "%s", line + 24);
            tkfile[strcspn(tkfile, "\r\n")] = 0;
        }
    fclose(fp);
    snprintf(path, sizeof path, "%s/pki/%s", f->dir, tkfile);
    fp = fopen(path, "r");
    if (!fp || !fgets(tkhex, sizeof tkhex, fp)) {
        if (fp)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    tkhex[strcspn(tkhex, "\r\n")] = 0;
    uint8_t tkv[16];
    size_t tl = 0;
    if (sm_hex_decode(tkhex, tkv, sizeof tkv, &tl, NULL) != SM_OK || tl != 16)
        return -1;
    hsm_keyspec ts = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_UNWRAP};
    hsm_key tk;
    sm_err err = {0};
    if (hsm_secret_import(s, &ts, tkv, 16, &tk, &err) != SM_OK) {
        fprintf(stderr, "es5test: transport key: %s\n", err.msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/euicc-batch.txt", f->dir);
    fp = fopen(path, "r");
    char *l = NULL;
    size_t cap = 0;
    int rc = fp && db_begin(c, &err) == SM_OK ? 0 : -1;
    while (rc == 0 && getline(&l, &cap, fp) > 0)
        if (!strncmp(l, "eis;", 4))
            rc = import_line(c, s, &tk, kek, kek_label, l);
    if (rc == 0 && db_commit(c, &err) != SM_OK)
        rc = -1;
    if (rc)
        db_rollback(c);
    free(l);
    if (fp)
        fclose(fp);
    hsm_key_destroy(s, &tk, NULL);
    return rc;
}

/* ---- simulator ---------------------------------------------------------------------------------- */

int es5t_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int ctl_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int es5t_sim_start(es5t_sim *s, const es5t_fleet *f, int smpp_port, int admin_port, const char *extra)
{
    memset(s, 0, sizeof *s);
    s->smpp_port = smpp_port;
    s->admin_port = admin_port;
    snprintf(s->ctl, sizeof s->ctl, "%s/ctl.sock", f->dir);
    snprintf(s->log, sizeof s->log, "%s/sim.log", f->dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "exec '%s' run --state '%s/state' --smpp-listen 127.0.0.1:%d --sm-sr-url https://127.0.0.1:%d/ram "
             "--ctl '%s' --no-first-attach %s >>'%s' 2>&1",
             es5t_sim_bin(), f->dir, smpp_port, admin_port, s->ctl, extra ? extra : "", s->log);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 500; i++) {
        int fd = ctl_connect(s->ctl);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

void es5t_sim_stop(es5t_sim *s)
{
    if (s->pid > 0) {
        es5t_simctl(s, NULL, 0, "shutdown");
        for (int i = 0; i < 200 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
            usleep(20000);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

int es5t_simctl(const es5t_sim *s, char *out, size_t cap, const char *fmt, ...)
{
    char cmd[1100];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd - 1)
        return -1;
    cmd[n++] = '\n';
    int fd = ctl_connect(s->ctl);
    if (fd < 0)
        return -1;
    if (write(fd, cmd, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[65536];
    size_t len = 0;
    int rc = -1;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = 0;
        /* the final line: OK or ERR at the start of a line */
        char *last = len >= 2 ? buf + len - 1 : NULL;
        if (!last || *last != '\n')
            continue;
        char *ls = last;
        while (ls > buf && ls[-1] != '\n')
            ls--;
        if (!strncmp(ls, "OK", 2)) {
            rc = 0;
            break;
        }
        if (!strncmp(ls, "ERR", 3))
            break;
    }
    close(fd);
    if (out && cap) {
        size_t l = len < cap - 1 ? len : cap - 1;
        memcpy(out, buf, l);
        out[l] = 0;
    }
    return rc;
}

long es5t_sim_stat(const es5t_sim *s, const char *name)
{
    char out[2000], key[64];
    if (es5t_simctl(s, out, sizeof out, "stats") != 0)
        return -1;
    snprintf(key, sizeof key, "%s=", name);
    for (char *p = strstr(out, key); p; p = strstr(p + 1, key))
        if (p == out || p[-1] == ' ' || p[-1] == '\n')
            return atol(p + strlen(key));
    return -1;
}

/* ---- node ---------------------------------------------------------------------------------------- */

static void *loop_main(void *arg)
{
    es5t_node *n = arg;
    event_base_loop(n->app.base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int es5t_node_start(es5t_node *n, testenv_hsm *T, const char *dir, const char *name, const char *conninfo,
                    const char *yaml_es5)
{
    memset(n, 0, sizeof *n);
    static int threads_once;
    if (!threads_once++)
        evthread_use_pthreads();
    snprintf(n->cfgpath, sizeof n->cfgpath, "%s/%s.yaml", dir, name);
    FILE *fp = fopen(n->cfgpath, "w");
    if (!fp)
        return -1;
    fprintf(fp, "node:\n  name: %s\n  var_dir: %s\nworkers:\n  threads: 3\n%s%s", name, dir,
            yaml_es5 && *yaml_es5 ? "es5:\n" : "", yaml_es5 ? yaml_es5 : "");
    fclose(fp);
    sm_err err = {0};
    if (sm_config_load(n->cfgpath, &n->app.cfg, &err) != SM_OK) {
        fprintf(stderr, "es5test: config: %s\n", err.msg);
        return -1;
    }
    unsigned threads = (unsigned)n->app.cfg->workers.threads;
    n->app.hsm = testenv_hsm_open(T, threads + 2);
    if (hsm_session_get(n->app.hsm, &n->app.loop_hsm, &err) != SM_OK)
        return -1;
    if (sm_keyring_load(n->app.loop_hsm, "t", &n->app.keys, &err) != SM_OK) {
        sm_err_clear(&err);
        if (sm_keyring_ceremony(n->app.loop_hsm, "t", NULL, NULL, &err) != SM_OK ||
            sm_keyring_load(n->app.loop_hsm, "t", &n->app.keys, &err) != SM_OK) {
            fprintf(stderr, "es5test: keyring: %s\n", err.msg);
            return -1;
        }
    }
    db_config dc = {.conninfo = conninfo, .node = name, .size = threads + 2};
    if (db_pool_open(&dc, &n->pool, &err) != SM_OK) {
        fprintf(stderr, "es5test: pool: %s\n", err.msg);
        return -1;
    }
    n->app.db = n->pool;
    n->app.base = event_base_new();
    n->hook = tw_db_hook(n->pool);
    if (sm_workers_start(n->app.base, n->app.hsm, threads, &n->hook, 1, 0, &n->app.workers, &err) != SM_OK ||
        es5_start(&n->app, &err) != SM_OK) {
        fprintf(stderr, "es5test: start: %s\n", err.msg);
        return -1;
    }
    if (pthread_create(&n->loop, NULL, loop_main, n) != 0)
        return -1;
    n->loop_running = true;
    return 0;
}

void es5t_node_stop(es5t_node *n)
{
    if (n->loop_running) {
        event_base_loopbreak(n->app.base);
        pthread_join(n->loop, NULL);
        n->loop_running = false;
    }
    if (n->app.base)
        es5_stop(&n->app);
    if (n->app.workers)
        sm_workers_stop(n->app.workers);
    if (n->app.base)
        event_base_free(n->app.base);
    if (n->pool)
        db_pool_close(n->pool);
    if (n->app.loop_hsm)
        hsm_session_put(n->app.loop_hsm);
    if (n->app.hsm)
        hsm_close(n->app.hsm);
    sm_config_free(n->app.cfg);
    memset(n, 0, sizeof *n);
}

int es5t_wait_result(db_conn *c, int64_t req, int timeout_ms, void *result)
{
    es5_result *out = result;
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        bool done = false;
        sm_err err = {0};
        if (es5_result_get(c, req, out, &done, &err) != SM_OK) {
            fprintf(stderr, "es5test: result of %lld: %s\n", (long long)req, err.msg);
            return -1;
        }
        if (done)
            return 0;
        usleep(20000);
    }
    return -1;
}

size_t es5t_capdu(uint8_t *out, size_t cap, const char *apdu_hex)
{
    size_t n = 0;
    if (cap < 3 || sm_hex_decode(apdu_hex, out + 2, cap - 2, &n, NULL) != SM_OK || n > 127)
        return 0;
    out[0] = 0x22;
    out[1] = (uint8_t)n;
    return n + 2;
}
