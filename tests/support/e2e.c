/* The end-to-end harness (tests/support/e2e.h). */
#include "tests/support/e2e.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/support/testenv.h"

#define SAY(...)                               \
    do {                                       \
        fprintf(stderr, "e2e: " __VA_ARGS__);  \
        fputc('\n', stderr);                   \
    } while (0)

int64_t e2e_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool e2e_until(bool (*fn)(void *arg), void *arg, int timeout_ms)
{
    int64_t end = e2e_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (fn(arg))
            return true;
        if (e2e_now_us() >= end)
            return false;
        sleep_ms(100);
    }
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = vfmt(f, ap);
    va_end(ap);
    return s;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* runs a command through sh -c, output (stdout+stderr) captured */
static char *run_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        if (status)
            *status = -1;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    size_t r;
    while (out && (r = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 1024) {
            char *o = realloc(out, cap *= 2);
            if (!o) {
                free(out);
                out = NULL;
                break;
            }
            out = o;
        }
    }
    int st = pclose(p);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (out)
        out[n] = 0;
    return out;
}

static void tail_file(const char *path, int lines)
{
    char *c = fmt("tail -n %d '%s' >&2", lines, path);
    if (system(c) != 0) {
    }
    free(c);
}

/* ---- child processes ------------------------------------------------------------------------------ */

static pid_t spawn(const char *log, char *const argv[])
{
    fflush(NULL);
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0) {
        setsid(); /* its own session: signals from the test reach it by pid only */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (in >= 0)
            dup2(in, 0);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    return p;
}

/* waits for a child up to ms; 1 if it exited (status in *st), 0 if still running */
static int reap(pid_t p, int ms, int *st)
{
    int64_t end = e2e_now_us() + (int64_t)ms * 1000;
    for (;;) {
        int s = 0;
        pid_t r = waitpid(p, &s, WNOHANG);
        if (r == p || (r < 0 && errno == ECHILD)) {
            if (st)
                *st = s;
            return 1;
        }
        if (e2e_now_us() >= end)
            return 0;
        sleep_ms(20);
    }
}

static int stop_child(pid_t *pp, const char *what, int ms)
{
    if (*pp <= 0)
        return 0;
    int st = 0, rc = 0;
    kill(*pp, SIGTERM);
    if (!reap(*pp, ms, &st)) {
        SAY("%s (pid %ld) did not stop within %d ms of SIGTERM: SIGKILL", what, (long)*pp, ms);
        kill(*pp, SIGKILL);
        reap(*pp, 5000, &st);
        rc = -1;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        SAY("%s (pid %ld) ended with status %d", what, (long)*pp, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        rc = -1;
    }
    *pp = 0;
    return rc;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* does path contain needle after offset `from`? */
static bool file_has(const char *path, long from, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    if (from > 0)
        fseek(f, from, SEEK_SET);
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

long e2e_smboxd_log_count(e2e_world *w, const char *needle)
{
    FILE *f = fopen(w->log, "r");
    if (!f)
        return 0;
    char line[8192];
    long n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

bool e2e_smboxd_log_wait(e2e_world *w, const char *needle, long min_count, int timeout_ms)
{
    int64_t end = e2e_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (e2e_smboxd_log_count(w, needle) >= min_count)
            return true;
        if (e2e_now_us() >= end)
            return false;
        sleep_ms(100);
    }
}

int e2e_smboxd_start(e2e_world *w)
{
    long off = file_size(w->log);
    char *argv[] = {fmt("%s/smboxd", w->bin), "-c", w->cfg, NULL};
    w->smboxd = spawn(w->log, argv);
    free(argv[0]);
    if (w->smboxd < 0)
        return -1;
    w->smboxd_starts++;
    int64_t end = e2e_now_us() + (w->asan ? 180 : 60) * 1000000LL;
    while (e2e_now_us() < end) {
        if (file_has(w->log, off, "event=ready workers"))
            return 0;
        int st;
        if (reap(w->smboxd, 0, &st)) {
            SAY("smboxd exited during start (status %d); its log:", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            tail_file(w->log, 20);
            w->smboxd = 0;
            return -1;
        }
        sleep_ms(50);
    }
    SAY("smboxd not ready in time; its log:");
    tail_file(w->log, 20);
    return -1;
}

int e2e_smboxd_stop(e2e_world *w) { return stop_child(&w->smboxd, "smboxd", w->asan ? 120000 : 60000); }

void e2e_smboxd_kill9(e2e_world *w)
{
    if (w->smboxd <= 0)
        return;
    kill(w->smboxd, SIGKILL);
    reap(w->smboxd, 10000, NULL);
    w->smboxd = 0;
}

bool e2e_smboxd_alive(e2e_world *w) { return w->smboxd > 0 && !reap(w->smboxd, 0, NULL); }

int e2e_sim_start(e2e_world *w)
{
    char state[400], smpp[40], url[120];
    snprintf(state, sizeof state, "%s/fleet/state", w->dir);
    snprintf(smpp, sizeof smpp, "127.0.0.1:%d", w->smpp_port);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/gsma/adminagent", w->admin_port);
    char *argv[32];
    int n = 0;
    argv[n++] = w->sim;
    argv[n++] = "run";
    argv[n++] = "--state";
    argv[n++] = state;
    argv[n++] = "--smpp-listen";
    argv[n++] = smpp;
    argv[n++] = "--sm-sr-url";
    argv[n++] = url;
    argv[n++] = "--ctl";
    argv[n++] = w->ctl;
    if (!w->o.first_attach)
        argv[n++] = "--no-first-attach";
    char *extra = w->o.sim_args ? strdup(w->o.sim_args) : NULL;
    for (char *save = NULL, *t = extra ? strtok_r(extra, " ", &save) : NULL; t && n < 30; t = strtok_r(NULL, " ", &save))
        argv[n++] = t;
    argv[n] = NULL;
    char log[400];
    snprintf(log, sizeof log, "%s/log/sim.log", w->dir);
    unlink(w->ctl);
    w->simpid = spawn(log, argv);
    free(extra);
    if (w->simpid < 0)
        return -1;
    w->sim_starts++;
    for (int i = 0; i < 600; i++) {
        char *r = NULL;
        struct stat st;
        if (stat(w->ctl, &st) == 0 && (r = e2e_sim(w, "help")) != NULL) {
            free(r);
            return 0;
        }
        if (reap(w->simpid, 0, NULL)) {
            SAY("the simulator exited during start; its log:");
            tail_file(log, 20);
            w->simpid = 0;
            return -1;
        }
        sleep_ms(50);
    }
    SAY("the simulator's control socket did not answer");
    return -1;
}

int e2e_sim_stop(e2e_world *w) { return stop_child(&w->simpid, "sim", 30000); }

char *e2e_sim(e2e_world *w, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *cmd = vfmt(f, ap);
    va_end(ap);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "%s", w->ctl) >= sizeof a.sun_path) {
        close(fd);
        free(cmd);
        return NULL;
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        free(cmd);
        return NULL;
    }
    size_t cl = strlen(cmd);
    cmd[cl] = '\n';
    ssize_t wr = write(fd, cmd, cl + 1);
    cmd[cl] = 0;
    size_t cap = 8192, n = 0;
    char *out = malloc(cap);
    bool done = false;
    while (wr == (ssize_t)cl + 1 && out && !done) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0)
            break;
        ssize_t r = read(fd, out + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = 0;
        /* the final line: OK... or ERR... at the start of a line, complete */
        char *last = n >= 2 ? out + n - 2 : out;
        while (last > out && last[-1] != '\n')
            last--;
        if (n && out[n - 1] == '\n' && (!strncmp(last, "OK", 2) || !strncmp(last, "ERR", 3)))
            done = true;
        if (cap - n < 4096) {
            char *o = realloc(out, cap *= 2);
            if (!o)
                break;
            out = o;
        }
    }
    close(fd);
    if (!done || !out) {
        SAY("sim %s: no complete answer", cmd);
        free(out);
        free(cmd);
        return NULL;
    }
    char *last = out + n - 1;
    while (last > out && last[-1] != '\n')
        last--;
    if (!strncmp(last, "ERR", 3)) {
        SAY("sim %s: %s", cmd, last);
        free(out);
        out = NULL;
    }
    free(cmd);
    return out;
}

long e2e_sim_stat(e2e_world *w, const char *name)
{
    char *s = e2e_sim(w, "stats");
    if (!s)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    char *line = fmt("\n%s", s);
    for (char *q = line; *q; q++) /* one key=value per line, or several on one line */
        if (*q == ' ')
            *q = '\n';
    char *p = strstr(line, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
    free(line);
    free(s);
    return v;
}

/* ---- database and smctl --------------------------------------------------------------------------- */

char *e2e_sql(e2e_world *w, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *sql = vfmt(f, ap);
    va_end(ap);
    char path[400];
    snprintf(path, sizeof path, "%s/sql.XXXXXX", w->dir);
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, sql, strlen(sql)) != (ssize_t)strlen(sql)) {
        if (fd >= 0)
            close(fd);
        free(sql);
        return NULL;
    }
    close(fd);
    char *cmd = fmt("psql -X -q -At -v ON_ERROR_STOP=1 'host=%s/pg port=5432 user=smbox dbname=smbox' -f '%s' 2>&1",
                    w->dir, path);
    int st = 0;
    char *out = run_capture(cmd, &st);
    unlink(path);
    if (st != 0) {
        SAY("sql failed (%s): %s", sql, out ? out : "");
        free(out);
        out = NULL;
    }
    free(cmd);
    free(sql);
    return out;
}

long e2e_sql_long(e2e_world *w, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *sql = vfmt(f, ap);
    va_end(ap);
    char *r = e2e_sql(w, "%s", sql);
    free(sql);
    if (!r)
        return -1;
    char *end = NULL;
    long v = strtol(r, &end, 10);
    if (end == r)
        v = -1;
    free(r);
    return v;
}

char *e2e_smctl(e2e_world *w, int *status, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *args = vfmt(f, ap);
    va_end(ap);
    char *cmd = fmt("'%s/smctl' -c '%s' %s 2>&1", w->bin, w->cfg, args);
    char *out = run_capture(cmd, status);
    free(cmd);
    free(args);
    return out;
}

/* ---- HTTP over TLS (both sides) ------------------------------------------------------------------- */

typedef struct rd {
    SSL *s;
    char buf[16384];
    size_t len, off;
    int ssl_err;      /* SSL_get_error of the last failed read */
    bool tls_alert;   /* it failed on a TLS error (e.g. the peer refused our certificate) */
} rd;

static int rd_fill(rd *r)
{
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len == sizeof r->buf)
        return -1;
    int n = SSL_read(r->s, r->buf + r->len, (int)(sizeof r->buf - r->len));
    if (n <= 0) {
        r->ssl_err = SSL_get_error(r->s, n);
        r->tls_alert = r->ssl_err == SSL_ERROR_SSL || ERR_peek_error() != 0;
        return -1;
    }
    r->len += (size_t)n;
    return n;
}

/* one line without CRLF into out; -1 at EOF */
static int rd_line(rd *r, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
        if (nl) {
            size_t l = (size_t)(nl - (r->buf + r->off));
            size_t c = l && nl[-1] == '\r' ? l - 1 : l;
            if (c >= cap)
                c = cap - 1;
            memcpy(out, r->buf + r->off, c);
            out[c] = 0;
            r->off += l + 1;
            return 0;
        }
        if (rd_fill(r) < 0)
            return -1;
    }
}

static int rd_n(rd *r, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (r->off == r->len && rd_fill(r) < 0)
            return -1;
        size_t k = r->len - r->off < n - got ? r->len - r->off : n - got;
        memcpy(out + got, r->buf + r->off, k);
        r->off += k;
        got += k;
    }
    return 0;
}

typedef struct hmsg {
    char first[512];
    long clen;
    bool chunked, close;
    char *body;
    size_t len;
} hmsg;

/* reads one request or response: start line, headers, body (Content-Length, chunked, or to EOF
 * for a response without either) */
static int read_msg(rd *r, hmsg *m, bool response)
{
    memset(m, 0, sizeof *m);
    m->clen = -1;
    if (rd_line(r, m->first, sizeof m->first) < 0)
        return -1;
    char h[2048];
    for (;;) {
        if (rd_line(r, h, sizeof h) < 0)
            return -1;
        if (!h[0])
            break;
        if (!strncasecmp(h, "content-length:", 15))
            m->clen = strtol(h + 15, NULL, 10);
        else if (!strncasecmp(h, "transfer-encoding:", 18) && strcasestr(h, "chunked"))
            m->chunked = true;
        else if (!strncasecmp(h, "connection:", 11) && strcasestr(h, "close"))
            m->close = true;
    }
    size_t cap = 1024;
    m->body = malloc(cap);
    if (!m->body)
        return -1;
    if (m->chunked) {
        for (;;) {
            if (rd_line(r, h, sizeof h) < 0)
                return -1;
            long n = strtol(h, NULL, 16);
            if (n <= 0) {
                while (rd_line(r, h, sizeof h) == 0 && h[0]) {
                }
                break;
            }
            if (m->len + (size_t)n + 1 > cap) {
                char *o = realloc(m->body, cap = m->len + (size_t)n + 1024);
                if (!o)
                    return -1;
                m->body = o;
            }
            if (rd_n(r, m->body + m->len, (size_t)n) < 0 || rd_line(r, h, sizeof h) < 0)
                return -1;
            m->len += (size_t)n;
        }
    } else if (m->clen >= 0) {
        if ((size_t)m->clen + 1 > cap) {
            char *o = realloc(m->body, cap = (size_t)m->clen + 1);
            if (!o)
                return -1;
            m->body = o;
        }
        if (rd_n(r, m->body, (size_t)m->clen) < 0)
            return -1;
        m->len = (size_t)m->clen;
    } else if (response) {
        for (;;) {
            if (r->off < r->len) {
                size_t k = r->len - r->off;
                if (m->len + k + 1 > cap) {
                    char *o = realloc(m->body, cap = m->len + k + 4096);
                    if (!o)
                        return -1;
                    m->body = o;
                }
                memcpy(m->body + m->len, r->buf + r->off, k);
                m->len += k;
                r->off = r->len;
            }
            if (rd_fill(r) < 0)
                break;
        }
    }
    m->body[m->len] = 0;
    return 0;
}

static void copy_status(const tj *j, char *status, size_t scap, char *subject, char *reason, char *message,
                        size_t mcap)
{
    const tj *fs = j ? tj_path(j, "header.functionExecutionStatus") : NULL;
    const char *s = fs ? tj_str(fs, "status") : NULL;
    snprintf(status, scap, "%s", s ? s : "");
    const tj *cd = fs ? tj_get(fs, "statusCodeData") : NULL;
    const char *sc = cd ? tj_str(cd, "subjectCode") : NULL, *rc = cd ? tj_str(cd, "reasonCode") : NULL;
    const char *msg = cd ? tj_str(cd, "message") : NULL;
    snprintf(subject, 16, "%s", sc ? sc : "");
    snprintf(reason, 16, "%s", rc ? rc : "");
    if (message)
        snprintf(message, mcap, "%s", msg ? msg : "");
}

/* ---- the ES client -------------------------------------------------------------------------------- */

void e2e_resp_free(e2e_resp *r)
{
    free(r->body);
    tj_free(r->json);
    memset(r, 0, sizeof *r);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

struct e2e_client {
    e2e_world *w;
    SSL_CTX *ctx;
    SSL *s;
    int fd;
    rd r;
};

static SSL_CTX *client_ctx(e2e_world *w, const char *cert, const char *key)
{
    char ca[400];
    snprintf(ca, sizeof ca, "%s/tls-ca.crt", w->pki);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        SAY("client TLS context for %s: %s", cert, ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1");
    return ctx;
}

static void client_drop(e2e_client *c)
{
    if (c->s) {
        SSL_shutdown(c->s);
        SSL_free(c->s);
        c->s = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ERR_clear_error();
}

/* -1 TLS refused, -2 no connection */
static int client_connect(e2e_client *c)
{
    client_drop(c);
    if ((c->fd = tcp_connect(c->w->es_port)) < 0)
        return -2;
    c->s = SSL_new(c->ctx);
    SSL_set_fd(c->s, c->fd);
    if (SSL_connect(c->s) != 1) {
        client_drop(c);
        return -1;
    }
    memset(&c->r, 0, sizeof c->r);
    c->r.s = c->s;
    return 0;
}

/* one exchange on the connection (connecting first when needed) */
static int client_post(e2e_client *c, const char *path, const char *json, bool keep, e2e_resp *out)
{
    memset(out, 0, sizeof out[0]);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = !c->s;
        if (!c->s) {
            int rc = client_connect(c);
            if (rc < 0)
                return out->http = rc;
        }
        char *req = fmt("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n%s\r\n%s",
                        path, c->w->es_port, strlen(json), keep ? "" : "Connection: close\r\n", json);
        int wl = SSL_write(c->s, req, (int)strlen(req));
        free(req);
        hmsg m;
        if (wl > 0 && read_msg(&c->r, &m, true) == 0) {
            int code = 0;
            sscanf(m.first, "HTTP/1.%*d %d", &code);
            out->http = code;
            out->body = m.body;
            out->len = m.len;
            char eb[200];
            if (m.len)
                out->json = tj_parse(m.body, m.len, eb, sizeof eb);
            copy_status(out->json, out->status, sizeof out->status, out->subject, out->reason, out->message,
                        sizeof out->message);
            if (!keep || m.close)
                client_drop(c);
            return code;
        }
        if (wl > 0)
            free(m.body);
        /* a refused client certificate shows up at the first read with TLS 1.3 (an alert) */
        bool alert = c->r.tls_alert || ERR_peek_error() != 0 || (wl <= 0 && SSL_get_error(c->s, wl) == SSL_ERROR_SSL);
        client_drop(c);
        if (fresh)
            return out->http = alert ? -1 : -2;
        /* a kept connection the server closed meanwhile: once more on a new one */
    }
    return out->http = -2;
}

e2e_client *e2e_client_open(e2e_world *w, const char *who)
{
    char cert[400], key[400];
    snprintf(cert, sizeof cert, "%s/tls-%s.crt", w->pki, who);
    snprintf(key, sizeof key, "%s/tls-%s.key", w->pki, who);
    e2e_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->w = w;
    c->fd = -1;
    if (!(c->ctx = client_ctx(w, cert, key))) {
        free(c);
        return NULL;
    }
    return c;
}

void e2e_client_close(e2e_client *c)
{
    if (!c)
        return;
    client_drop(c);
    SSL_CTX_free(c->ctx);
    free(c);
}

int e2e_client_call(e2e_client *c, const char *iface, const char *function, const char *fcid, long validity_s,
                    const char *body, e2e_resp *out)
{
    char *json = fmt("{\"header\":{\"functionCallIdentifier\":\"%s\",\"validityPeriod\":%ld,\"messageId\":\"%s\"},"
                     "\"body\":%s}",
                     fcid, validity_s, fcid, body);
    char *path = fmt("/gsma/rest/%s/%s", iface, function);
    int rc = client_post(c, path, json, true, out);
    free(path);
    free(json);
    return rc;
}

int e2e_post_cert(e2e_world *w, const char *cert, const char *key, const char *path, const char *json,
                  e2e_resp *out)
{
    e2e_client c = {.w = w, .fd = -1};
    memset(out, 0, sizeof *out);
    if (!(c.ctx = client_ctx(w, cert, key)))
        return out->http = -2;
    int rc = client_post(&c, path, json, false, out);
    client_drop(&c);
    SSL_CTX_free(c.ctx);
    return rc;
}

int e2e_call_cert(e2e_world *w, const char *cert, const char *key, const char *iface, const char *function,
                  const char *fcid, long validity_s, const char *body, e2e_resp *out)
{
    char *json = fmt("{\"header\":{\"functionCallIdentifier\":\"%s\",\"validityPeriod\":%ld,\"messageId\":\"%s\"},"
                     "\"body\":%s}",
                     fcid, validity_s, fcid, body);
    char *path = fmt("/gsma/rest/%s/%s", iface, function);
    int rc = e2e_post_cert(w, cert, key, path, json, out);
    free(path);
    free(json);
    return rc;
}

int e2e_post(e2e_world *w, const char *who, const char *path, const char *json, e2e_resp *out)
{
    char cert[400], key[400];
    snprintf(cert, sizeof cert, "%s/tls-%s.crt", w->pki, who);
    snprintf(key, sizeof key, "%s/tls-%s.key", w->pki, who);
    return e2e_post_cert(w, cert, key, path, json, out);
}

int e2e_call(e2e_world *w, const char *who, const char *iface, const char *function, const char *fcid,
             long validity_s, const char *body, e2e_resp *out)
{
    char cert[400], key[400];
    snprintf(cert, sizeof cert, "%s/tls-%s.crt", w->pki, who);
    snprintf(key, sizeof key, "%s/tls-%s.key", w->pki, who);
    return e2e_call_cert(w, cert, key, iface, function, fcid, validity_s, body, out);
}

int e2e_download(e2e_world *w, const char *fcid, const char *eid, const char *iccid, bool enable, e2e_resp *out)
{
    char body[512];
    if (iccid)
        snprintf(body, sizeof body, "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"Iccid\":\"%s\",\"EnableProfile\":%s}",
                 eid, iccid, enable ? "true" : "false");
    else
        snprintf(body, sizeof body,
                 "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":%s}",
                 eid, enable ? "true" : "false");
    return e2e_call(w, "mno1", "es2", "DownloadProfile", fcid, 1200, body, out);
}

/* ---- stakeholders' endpoints ---------------------------------------------------------------------- */

#define PEER_MAXCONN 64

struct e2e_peer {
    SSL_CTX *ctx;
    int lfd;
    pthread_t acc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    e2e_msg *msgs;
    size_t n, cap;
    int fail_n, fail_http;
    int conns[PEER_MAXCONN];
    int nthreads;
    bool stopping;
};

typedef struct pconn {
    e2e_peer *p;
    int fd;
    int slot;
} pconn;

/* the text of the first element named `name` (any namespace prefix) in an XML text */
static void xml_text(const char *xml, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = strchr(xml, '<'); p; p = strchr(p + 1, '<')) {
        const char *q = p + 1;
        if (*q == '/' || *q == '?' || *q == '!')
            continue;
        const char *end = q + strcspn(q, " >/");
        const char *colon = memchr(q, ':', (size_t)(end - q));
        const char *local = colon ? colon + 1 : q;
        if ((size_t)(end - local) != nl || strncmp(local, name, nl))
            continue;
        const char *gt = strchr(end, '>');
        if (!gt || gt[-1] == '/')
            return;
        const char *lt = strchr(gt + 1, '<');
        if (lt)
            snprintf(out, cap, "%.*s", (int)(lt - gt - 1), gt + 1);
        return;
    }
}

static void peer_store(e2e_peer *p, const char *path, hmsg *m, int answered)
{
    e2e_msg x = {0};
    snprintf(x.path, sizeof x.path, "%s", path);
    x.body = m->body;
    x.len = m->len;
    m->body = NULL;
    x.at_us = e2e_now_us();
    x.answered = answered;
    char eb[200];
    tj *j = x.len ? tj_parse(x.body, x.len, eb, sizeof eb) : NULL;
    if (j) {
        const char *rt = tj_str(tj_get(j, "header"), "relatesTo");
        snprintf(x.relates_to, sizeof x.relates_to, "%s", rt ? rt : "");
        const char *mid = tj_str(tj_get(j, "header"), "messageId");
        snprintf(x.message_id, sizeof x.message_id, "%s", mid ? mid : "");
        copy_status(j, x.status, sizeof x.status, x.subject, x.reason, NULL, 0);
        const char *ic = tj_str(tj_get(j, "body"), "Iccid");
        snprintf(x.iccid, sizeof x.iccid, "%s", ic ? ic : "");
        const char *ei = tj_str(tj_get(j, "body"), "Eid");
        snprintf(x.eid, sizeof x.eid, "%s", ei ? ei : "");
        const char *slash = strrchr(path, '/');
        snprintf(x.function, sizeof x.function, "%.*s", (int)sizeof x.function - 1, slash ? slash + 1 : path);
        tj_free(j);
    } else if (x.len && memmem(x.body, x.len, "Envelope", 8)) {
        /* SOAP: the few fields the checks need, by element name (any prefix) */
        xml_text(x.body, "MessageID", x.message_id, sizeof x.message_id);
        xml_text(x.body, "RelatesTo", x.relates_to, sizeof x.relates_to);
        xml_text(x.body, "Status", x.status, sizeof x.status);
        xml_text(x.body, "Iccid", x.iccid, sizeof x.iccid);
        xml_text(x.body, "Eid", x.eid, sizeof x.eid);
        const char *b = strstr(x.body, "Body>");
        const char *e = b ? strchr(b + 5, '<') : NULL;
        if (e) {
            e++;
            const char *colon = strchr(e, ':'), *end = e + strcspn(e, " >/");
            if (colon && colon < end)
                e = colon + 1;
            snprintf(x.function, sizeof x.function, "%.*s", (int)(end - e), e);
        }
    }
    pthread_mutex_lock(&p->mu);
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        e2e_msg *v = realloc(p->msgs, nc * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&p->mu);
            free(x.body);
            return;
        }
        p->msgs = v;
        p->cap = nc;
    }
    p->msgs[p->n++] = x;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *peer_conn(void *arg)
{
    pconn *c = arg;
    e2e_peer *p = c->p;
    SSL *s = SSL_new(p->ctx);
    SSL_set_fd(s, c->fd);
    if (SSL_accept(s) == 1) {
        rd r = {.s = s};
        for (;;) {
            hmsg m;
            if (read_msg(&r, &m, false) != 0) {
                free(m.body);
                break;
            }
            char path[256] = "";
            sscanf(m.first, "%*s %255s", path);
            int code = 202;
            pthread_mutex_lock(&p->mu);
            if (p->fail_n > 0) {
                p->fail_n--;
                code = p->fail_http;
            }
            pthread_mutex_unlock(&p->mu);
            bool close_it = m.close;
            peer_store(p, path, &m, code);
            free(m.body);
            char resp[160];
            int l = snprintf(resp, sizeof resp, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n%s\r\n", code,
                             code == 202 ? "Accepted" : "Unavailable", close_it ? "Connection: close\r\n" : "");
            if (SSL_write(s, resp, l) != l || close_it)
                break;
        }
    }
    ERR_clear_error();
    SSL_shutdown(s);
    SSL_free(s);
    pthread_mutex_lock(&p->mu);
    p->conns[c->slot] = -1;
    close(c->fd);
    p->nthreads--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    free(c);
    return NULL;
}

static void *peer_accept(void *arg)
{
    e2e_peer *p = arg;
    for (;;) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        pthread_mutex_lock(&p->mu);
        int slot = -1;
        for (int i = 0; i < PEER_MAXCONN && slot < 0; i++)
            if (p->conns[i] < 0)
                slot = i;
        if (p->stopping || slot < 0) {
            pthread_mutex_unlock(&p->mu);
            close(fd);
            continue;
        }
        p->conns[slot] = fd;
        p->nthreads++;
        pthread_mutex_unlock(&p->mu);
        pconn *c = malloc(sizeof *c);
        pthread_t t;
        if (c) {
            *c = (pconn){p, fd, slot};
            if (pthread_create(&t, NULL, peer_conn, c) == 0) {
                pthread_detach(t);
                continue;
            }
            free(c);
        }
        pthread_mutex_lock(&p->mu);
        p->conns[slot] = -1;
        p->nthreads--;
        pthread_mutex_unlock(&p->mu);
        close(fd);
    }
    return NULL;
}

static e2e_peer *peer_start(e2e_world *w, const char *who, int port)
{
    e2e_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    for (int i = 0; i < PEER_MAXCONN; i++)
        p->conns[i] = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    char cert[400], key[400], ca[400];
    snprintf(cert, sizeof cert, "%s/tls-%s.crt", w->pki, who);
    snprintf(key, sizeof key, "%s/tls-%s.key", w->pki, who);
    snprintf(ca, sizeof ca, "%s/tls-ca.crt", w->pki);
    p->ctx = SSL_CTX_new(TLS_server_method());
    if (!p->ctx || SSL_CTX_use_certificate_chain_file(p->ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(p->ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(p->ctx, ca, NULL) != 1)
        goto bad;
    /* smboxd authenticates with its certificate (issued by the same TLS CA) */
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->lfd, 64) != 0)
        goto bad;
    if (pthread_create(&p->acc, NULL, peer_accept, p) != 0)
        goto bad;
    return p;
bad:
    SAY("endpoint of %s on port %d: cannot start (%s)", who, port, strerror(errno));
    if (p->lfd > 0)
        close(p->lfd);
    SSL_CTX_free(p->ctx);
    free(p);
    return NULL;
}

static void peer_stop(e2e_peer *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->acc, NULL);
    close(p->lfd);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < PEER_MAXCONN; i++)
        if (p->conns[i] >= 0)
            shutdown(p->conns[i], SHUT_RDWR);
    while (p->nthreads > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        free(p->msgs[i].body);
    free(p->msgs);
    SSL_CTX_free(p->ctx);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static void msg_copy(e2e_msg *dst, const e2e_msg *src)
{
    *dst = *src;
    dst->body = malloc(src->len + 1);
    if (dst->body) {
        memcpy(dst->body, src->body, src->len);
        dst->body[src->len] = 0;
    }
}

void e2e_msg_free(e2e_msg *m)
{
    free(m->body);
    m->body = NULL;
}

void e2e_msgs_free(e2e_msg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].body);
    free(v);
}

int e2e_peer_wait(e2e_peer *p, const char *relates_to, int timeout_ms, e2e_msg *out)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (size_t i = 0; i < p->n; i++)
            if (!strcmp(p->msgs[i].relates_to, relates_to) && p->msgs[i].answered / 100 == 2) {
                if (out)
                    msg_copy(out, &p->msgs[i]);
                pthread_mutex_unlock(&p->mu);
                return 0;
            }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    return -1;
}

int e2e_peer_count(e2e_peer *p, const char *relates_to)
{
    pthread_mutex_lock(&p->mu);
    int n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += !relates_to || !strcmp(p->msgs[i].relates_to, relates_to);
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t e2e_peer_msgs(e2e_peer *p, const char *path_part, e2e_msg **out)
{
    pthread_mutex_lock(&p->mu);
    e2e_msg *v = calloc(p->n ? p->n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < p->n; i++)
        if (!path_part || strstr(p->msgs[i].path, path_part))
            msg_copy(&v[k++], &p->msgs[i]);
    pthread_mutex_unlock(&p->mu);
    *out = v;
    return k;
}

size_t e2e_peer_wait_total(e2e_peer *p, size_t n, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->n < n && pthread_cond_timedwait(&p->cv, &p->mu, &dl) != ETIMEDOUT) {
    }
    size_t got = p->n;
    pthread_mutex_unlock(&p->mu);
    return got;
}

e2e_msg *e2e_peer_since(e2e_peer *p, size_t from, size_t *count)
{
    pthread_mutex_lock(&p->mu);
    size_t k = p->n > from ? p->n - from : 0;
    e2e_msg *v = calloc(k ? k : 1, sizeof *v);
    for (size_t i = 0; v && i < k; i++)
        msg_copy(&v[i], &p->msgs[from + i]);
    pthread_mutex_unlock(&p->mu);
    *count = v ? k : 0;
    return v;
}

void e2e_peer_fail_next(e2e_peer *p, int n, int http)
{
    pthread_mutex_lock(&p->mu);
    p->fail_n = n;
    p->fail_http = http;
    pthread_mutex_unlock(&p->mu);
}

/* ---- checks ---------------------------------------------------------------------------------------- */

static const char *card_state_to_eis(const char *s)
{
    if (!strcmp(s, "ENABLED"))
        return "Enabled";
    if (!strcmp(s, "DISABLED"))
        return "Disabled";
    return "Created"; /* SELECTABLE, PERSONALIZED: an ISD-P before completion */
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
}

#define APPEND(...)                                                              \
    do {                                                                         \
        size_t l_ = strlen(why);                                                 \
        if (l_ + 200 < cap)                                                      \
            snprintf(why + l_, cap - l_, __VA_ARGS__);                           \
        bad++;                                                                   \
    } while (0)

int e2e_check_cards(e2e_world *w, char (*eids)[33], size_t n, char *why, size_t cap)
{
    why[0] = 0;
    int bad = 0;
    size_t ql = 64 + n * 36;
    char *in = malloc(ql);
    if (!in)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(in + o, ql - o, "%s'%s'", i ? "," : "", eids[i]);
    char *rows = e2e_sql(w, "SELECT eid, encode(isdp_aid, 'hex'), state, iccid FROM profile WHERE eid IN (%s) "
                            "ORDER BY eid", in);
    free(in);
    if (!rows) {
        snprintf(why, cap, "the EIS could not be read");
        return -1;
    }
    for (size_t i = 0; i < n && bad < 10; i++) {
        char *card = e2e_sim(w, "profiles %s", eids[i]);
        if (!card) {
            APPEND("%s: the simulator does not answer for it\n", eids[i]);
            continue;
        }
        /* card side: each profile line; EIS side: rows of this eid (AIDs compared in lowercase hex) */
        int ncard = 0, neis = 0;
        char *cardl = strdup(card);
        if (!cardl) {
            free(card);
            break;
        }
        lower(cardl);
        for (char *save = NULL, *l = strtok_r(card, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (strncmp(l, "profile ", 8))
                continue;
            ncard++;
            char aid[40] = "", st[20] = "", iccid[24] = "";
            const char *p;
            if ((p = strstr(l, "aid=")))
                sscanf(p + 4, "%39[0-9A-Fa-f]", aid);
            if ((p = strstr(l, "state=")))
                sscanf(p + 6, "%19[A-Z]", st);
            if ((p = strstr(l, "iccid=")))
                sscanf(p + 6, "%23[0-9A-Fa-f]", iccid);
            lower(aid);
            bool found = false;
            char *rc = strdup(rows);
            for (char *s2 = NULL, *r = rc ? strtok_r(rc, "\n", &s2) : NULL; r; r = strtok_r(NULL, "\n", &s2)) {
                char reid[40] = "", raid[40] = "", rst[20] = "", ric[24] = "";
                if (sscanf(r, "%39[^|]|%39[^|]|%19[^|]|%23[^|\n]", reid, raid, rst, ric) < 3 || strcmp(reid, eids[i]) ||
                    strcmp(raid, aid))
                    continue;
                found = true;
                if (strcmp(rst, card_state_to_eis(st)))
                    APPEND("%s: ISD-P %s is %s on the card, %s in the EIS\n", eids[i], aid, st, rst);
                else if (iccid[0] && ric[0] && strcasecmp(iccid, ric))
                    APPEND("%s: ISD-P %s holds ICCID %s on the card, %s in the EIS\n", eids[i], aid, iccid, ric);
            }
            free(rc);
            if (!found)
                APPEND("%s: ISD-P %s (%s, ICCID %s) is on the card but not in the EIS\n", eids[i], aid, st,
                       iccid[0] ? iccid : "-");
        }
        char *rc = strdup(rows);
        for (char *s2 = NULL, *r = rc ? strtok_r(rc, "\n", &s2) : NULL; r; r = strtok_r(NULL, "\n", &s2)) {
            char reid[40] = "", raid[40] = "", rst[20] = "", ric[24] = "";
            if (sscanf(r, "%39[^|]|%39[^|]|%19[^|]|%23[^|\n]", reid, raid, rst, ric) < 3 || strcmp(reid, eids[i]))
                continue;
            neis++;
            char needle[48];
            snprintf(needle, sizeof needle, "aid=%s ", raid);
            if (!strstr(cardl, needle))
                APPEND("%s: ISD-P %s (%s, ICCID %s) is in the EIS but not on the card\n", eids[i], raid, rst,
                       ric[0] ? ric : "-");
        }
        free(rc);
        (void)ncard;
        (void)neis;
        free(cardl);
        free(card);
    }
    free(rows);
    return bad ? -1 : 0;
}

void e2e_eid_make(const char *first30, char out[33])
{
    unsigned r = 0;
    char d[33];
    snprintf(d, sizeof d, "%.30s00", first30);
    for (int i = 0; i < 32; i++)
        r = (r * 10 + (unsigned)(d[i] - '0')) % 97;
    snprintf(out, 33, "%.30s%02u", first30, 98 - r);
}

int e2e_order(e2e_world *w, const char *type, unsigned qty, const char *iccid_start)
{
    /* mk/devworld.sh writes it like the demo order (MSISDN = IMSI for each profile) and imports it */
    static unsigned serial;
    char *cmd = fmt("cd '%s' && SMBOX_FLEET=%u mk/devworld.sh '%s' '%s' '%s' order %s %s 001019%02u0000001 %u "
                    ">>'%s/devworld.log' 2>&1",
                    w->src, w->o.fleet, w->bin, w->sim, w->dir, type, iccid_start, ++serial % 100, qty, w->dir);
    int rc = system(cmd);
    free(cmd);
    if (rc != 0) {
        char dl[400];
        snprintf(dl, sizeof dl, "%s/devworld.log", w->dir);
        SAY("the order of %s failed:", type);
        tail_file(dl, 10);
        return -1;
    }
    return 0;
}

/* ---- set-up and teardown -------------------------------------------------------------------------- */

static int load_eids(e2e_world *w)
{
    FILE *f = fopen(w->batch, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0, n = 0, lc = 0;
    while (getline(&line, &cap, f) > 0)
        lc++;
    rewind(f);
    w->eids = calloc(lc ? lc : 1, sizeof *w->eids);
    w->sms_only = calloc(lc ? lc : 1, sizeof *w->sms_only);
    while (w->eids && w->sms_only && getline(&line, &cap, f) > 0) {
        if (strncmp(line, "eis;eid=", 8))
            continue;
        snprintf(w->eids[n], 33, "%.32s", line + 8);
        w->sms_only[n] = strstr(line, ";http=0;") != NULL;
        n++;
    }
    free(line);
    fclose(f);
    w->neids = n;
    return n ? 0 : -1;
}

/* runs mk/devworld.sh on the world with the test's settings (merged into the generated configuration:
 * the development MNO and our own SM-DP are not rate limited here, the test's own keys follow) */
static int devworld(e2e_world *w, const char *phase, const char *extra_yaml)
{
    char extra[400];
    snprintf(extra, sizeof extra, "%s/extra.yaml", w->dir);
    FILE *xf = fopen(extra, "w");
    if (!xf)
        return -1;
    fputs("es:\n  rate_per_second: 1000000\n  rate_burst: 1000000\n", xf);
    if (extra_yaml)
        fputs(extra_yaml, xf);
    fclose(xf);
    char *cmd = fmt("cd '%s' && SMBOX_FLEET=%u SMBOX_ORDER_QTY=%u SMBOX_SMS_ONLY=%u SMBOX_WORKERS=%u SMBOX_NODE=e2e "
                    "SMBOX_ES_PORT=%d SMBOX_SMPP_PORT=%d SMBOX_ADMIN_PORT=%d SMBOX_MNO_PORT=%d SMBOX_M2MSP_PORT=%d "
                    "SMBOX_EXTRA_YAML='%s' mk/devworld.sh '%s' '%s' '%s' %s >>'%s/devworld.log' 2>&1",
                    w->src, w->o.fleet, w->o.order_qty, w->o.sms_only, w->o.workers, w->es_port, w->smpp_port,
                    w->admin_port, w->mno_port, w->m2msp_port, extra, w->bin, w->sim, w->dir, phase, w->dir);
    int st = system(cmd);
    free(cmd);
    if (st != 0) {
        char dl[400];
        snprintf(dl, sizeof dl, "%s/devworld.log", w->dir);
        SAY("mk/devworld.sh %s failed; its output:", phase);
        tail_file(dl, 30);
        return -1;
    }
    return 0;
}

int e2e_reconfigure(e2e_world *w, const char *extra_yaml)
{
    if (e2e_smboxd_stop(w) != 0 || devworld(w, "prepare", extra_yaml) != 0)
        return -1;
    w->o.extra_yaml = extra_yaml;
    return e2e_smboxd_start(w);
}

int e2e_setup(e2e_world *w, const e2e_opts *o)
{
    memset(w, 0, sizeof *w);
    signal(SIGPIPE, SIG_IGN);
    w->o = *o;
    if (!w->o.fleet)
        w->o.fleet = 50;
    if (!w->o.order_qty)
        w->o.order_qty = 50;
    if (!w->o.workers)
        w->o.workers = 2;
    snprintf(w->src, sizeof w->src, "%s", testenv_srcdir());
    const char *b = getenv("SMBOX_BIN_DIR");
    int l = b && *b ? snprintf(w->bin, sizeof w->bin, "%s", b) : snprintf(w->bin, sizeof w->bin, "%s/build/rel/bin", w->src);
    if (l < 0 || (size_t)l >= sizeof w->bin || (size_t)snprintf(w->sim, sizeof w->sim, "%s/../sim/sim", w->bin) >= sizeof w->sim) {
        SAY("paths too long");
        return -1;
    }
    w->asan = strstr(w->bin, "/asan/") != NULL;
    if (access(w->sim, X_OK) != 0 || access(w->bin, X_OK) != 0) {
        SAY("binaries not found: %s/smboxd, %s (set SMBOX_BIN_DIR)", w->bin, w->sim);
        return -1;
    }
    if (testenv_mkdtemp(w->dir, sizeof w->dir, "smbox-e2e") != 0)
        return -1;
    chmod(w->dir, 0755);
    snprintf(w->cfg, sizeof w->cfg, "%s/smbox.yaml", w->dir);
    snprintf(w->pki, sizeof w->pki, "%s/pki", w->dir);
    snprintf(w->ctl, sizeof w->ctl, "%s/sim.sock", w->dir);
    snprintf(w->batch, sizeof w->batch, "%s/fleet/euicc-batch.txt", w->dir);
    snprintf(w->log, sizeof w->log, "%s/log/smboxd.log", w->dir);
    w->es_port = free_port();
    w->smpp_port = free_port();
    w->admin_port = free_port();
    w->mno_port = free_port();
    w->m2msp_port = free_port();
    int64_t t0 = e2e_now_us();
    if (devworld(w, "all", w->o.extra_yaml) != 0)
        return -1;
    SAY("world ready in %s (%.1f s): %u cards, ES :%d, SMPP :%d, SCP81 :%d, MNO :%d", w->dir,
        (double)(e2e_now_us() - t0) / 1e6, w->o.fleet, w->es_port, w->smpp_port, w->admin_port, w->mno_port);
    char logdir[400];
    snprintf(logdir, sizeof logdir, "%s/log", w->dir);
    mkdir(logdir, 0755);
    if (load_eids(w) != 0) {
        SAY("no eUICC in %s", w->batch);
        return -1;
    }
    if (!(w->mno = peer_start(w, "mno1", w->mno_port)) || !(w->m2msp = peer_start(w, "m2msp1", w->m2msp_port)))
        return -1;
    if (e2e_sim_start(w) != 0 || e2e_smboxd_start(w) != 0)
        return -1;
    return 0;
}

void e2e_teardown(e2e_world *w)
{
    if (!w->dir[0])
        return;
    e2e_smboxd_stop(w);
    e2e_sim_stop(w);
    peer_stop(w->mno);
    peer_stop(w->m2msp);
    w->mno = w->m2msp = NULL;
    int st = 0;
    char *out = e2e_smctl(w, &st, "db stop");
    free(out);
    const char *keep = getenv("SMBOX_E2E_KEEP");
    if (keep && *keep && strcmp(keep, "0"))
        SAY("kept %s (SMBOX_E2E_KEEP)", w->dir);
    else
        testenv_rmtree(w->dir);
    free(w->eids);
    free(w->sms_only);
    w->eids = NULL;
    w->dir[0] = 0;
}
