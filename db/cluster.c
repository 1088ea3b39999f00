/* The embedded PostgreSQL cluster: initdb, pg_ctl start/stop, status, createdb. */
#include "db/cluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lib/log.h"

#define SERVER_USER "postgres"

/* The server's OS account: ourselves, or the postgres system user when we are root (PostgreSQL
 * refuses to run as root). */
typedef struct runas {
    bool drop;
    uid_t uid;
    gid_t gid;
} runas;

static sm_rc server_account(runas *ra, sm_err *err)
{
    memset(ra, 0, sizeof *ra);
    if (geteuid() != 0)
        return SM_OK;
    struct passwd *pw = getpwnam(SERVER_USER);
    if (!pw)
        return sm_errf(err, SM_ECONFIG,
                       "cluster: running as root, PostgreSQL needs the '%s' system user, which does not exist "
                       "(install postgresql-15)", SERVER_USER);
    ra->drop = true;
    ra->uid = pw->pw_uid;
    ra->gid = pw->pw_gid;
    return SM_OK;
}

/* Runs argv[0] (a path) as the server account; output to logpath, or captured into out (last bytes
 * kept). Returns the exit status, -1 when it could not be started. Only async-signal-safe calls in
 * the child (the caller may have threads). */
static int run(const runas *ra, const char *const *argv, const char *logpath, char *out, size_t outcap)
{
    int pfd[2] = {-1, -1};
    if (!logpath && out && pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    int logfd = -1;
    if (logpath) {
        logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (logfd < 0)
            return -1;
        if (ra->drop && fchown(logfd, ra->uid, ra->gid) != 0) {
            /* best effort: the file stays ours, the child still writes through the inherited fd */
        }
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (pfd[0] >= 0)
            close(pfd[0]), close(pfd[1]);
        if (logfd >= 0)
            close(logfd);
        return -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0)
            dup2(nul, 0);
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        } else if (pfd[1] >= 0) {
            dup2(pfd[1], 1);
            dup2(pfd[1], 2);
        } else if (nul >= 0 && out) {
            dup2(nul, 1);
        }
        closefrom(3);
        if (ra->drop) {
            if (setgroups(0, NULL) != 0 || setgid(ra->gid) != 0 || setuid(ra->uid) != 0)
                _exit(125);
        }
        if (chdir("/") != 0)
            _exit(125);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (logfd >= 0)
        close(logfd);
    if (pfd[1] >= 0)
        close(pfd[1]);
    size_t len = 0;
    if (pfd[0] >= 0) {
        char buf[1024];
        ssize_t n;
        while ((n = read(pfd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
            for (ssize_t i = 0; i < n && outcap > 1; i++) {
                if (len + 1 >= outcap) { /* keep the tail: errors come last */
                    memmove(out, out + outcap / 2, len - outcap / 2);
                    len -= outcap / 2;
                }
                out[len++] = buf[i];
            }
        }
        close(pfd[0]);
    }
    if (out && outcap)
        out[len < outcap ? len : outcap - 1] = 0;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Last non-empty line of a program's output, for error messages. */
static const char *last_line(char *out)
{
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = 0;
    char *p = strrchr(out, '\n');
    return p ? p + 1 : out;
}

static bool is_exec(const char *dir, const char *prog)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, prog) >= (int)sizeof p)
        return false;
    return access(p, X_OK) == 0;
}

static void find_bindir(char *out, size_t cap)
{
    out[0] = 0;
    const char *e = getenv("SMBOX_PG_BINDIR");
    if (e && *e && is_exec(e, "pg_ctl")) {
        snprintf(out, cap, "%s", e);
        return;
    }
    FILE *f = popen("pg_config --bindir 2>/dev/null", "r");
    if (f) {
        char line[PATH_MAX] = "";
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            if (is_exec(line, "pg_ctl") && snprintf(out, cap, "%s", line) >= (int)cap)
                out[0] = 0;
        }
        pclose(f);
        if (out[0])
            return;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    int best = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            int v = atoi(de->d_name);
            char bin[PATH_MAX];
            if (snprintf(bin, sizeof bin, "/usr/lib/postgresql/%s/bin", de->d_name) >= (int)sizeof bin)
                continue;
            if (v > best && is_exec(bin, "pg_ctl") && snprintf(out, cap, "%s", bin) < (int)cap)
                best = v;
        }
        closedir(d);
    }
}

sm_rc db_cluster_setup(db_cluster *cl, const char *datadir, const char *bindir, sm_err *err)
{
    memset(cl, 0, sizeof *cl);
    snprintf(cl->user, sizeof cl->user, "smbox");
    if (!datadir || !*datadir)
        return sm_errf(err, SM_ECONFIG, "cluster: no data directory");
    if (datadir[0] == '/') {
        if (strlen(datadir) >= sizeof cl->datadir)
            return sm_errf(err, SM_ECONFIG, "cluster: data directory path too long: %s", datadir);
        snprintf(cl->datadir, sizeof cl->datadir, "%s", datadir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return sm_errf(err, SM_EIO, "cluster: getcwd: %s", strerror(errno));
        if (strlen(cwd) + 1 + strlen(datadir) >= sizeof cl->datadir)
            return sm_errf(err, SM_ECONFIG, "cluster: data directory path too long: %s/%s", cwd, datadir);
        if (snprintf(cl->datadir, sizeof cl->datadir, "%s/%s", cwd, datadir) >= (int)sizeof cl->datadir)
            return sm_errf(err, SM_ECONFIG, "cluster: data directory path too long");
    }
    size_t n = strlen(cl->datadir);
    while (n > 1 && cl->datadir[n - 1] == '/')
        cl->datadir[--n] = 0;
    struct sockaddr_un sun;
    if (n + strlen("/.s.PGSQL.5432") >= sizeof sun.sun_path)
        return sm_errf(err, SM_ECONFIG,
                       "cluster: %s is too long for the unix socket inside it (at most %zu characters): set "
                       "database.embedded_dir to a shorter absolute path",
                       cl->datadir, sizeof sun.sun_path - strlen("/.s.PGSQL.5432") - 1);
    if (strchr(cl->datadir, '\'') || strchr(cl->datadir, '\\') || strchr(cl->datadir, ' '))
        return sm_errf(err, SM_ECONFIG, "cluster: the data directory path must not contain quotes, backslashes or "
                                        "spaces: %s", cl->datadir);
    if (bindir && *bindir)
        snprintf(cl->bindir, sizeof cl->bindir, "%s", bindir);
    else
        find_bindir(cl->bindir, sizeof cl->bindir);
    if (!cl->bindir[0] || !is_exec(cl->bindir, "pg_ctl") || !is_exec(cl->bindir, "initdb"))
        return sm_errf(err, SM_ECONFIG,
                       "cluster: PostgreSQL server programs (initdb, pg_ctl) not found%s%s: install postgresql-15 or "
                       "set database.pg_bindir",
                       cl->bindir[0] ? " in " : "", cl->bindir);
    return SM_OK;
}

static bool file_exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static sm_rc mkdirs(const char *path, sm_err *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return sm_errf(err, SM_EIO, "cluster: creating %s: %s", p, strerror(errno));
        *s = '/';
    }
    return SM_OK;
}

/* As root, the server's user must be able to walk down to the data directory: root-owned ancestors
 * without "others may traverse" get o+x (traverse only, never read; their 0700 children such as
 * secrets/ stay closed). */
static void make_traversable(const char *datadir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", datadir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 && !(st.st_mode & S_IXOTH)) {
            if (chmod(p, (st.st_mode & 07777) | S_IXOTH) == 0)
                sm_log(SM_LOG_NOTICE, "db", "dir_traversable", "dir=%s why=\"the %s user reaches the embedded "
                                                               "cluster through it\"", p, SERVER_USER);
        }
        *s = '/';
    }
}

sm_rc db_cluster_init(const db_cluster *cl, sm_err *err)
{
    if (file_exists(cl->datadir, "PG_VERSION"))
        return SM_OK;
    runas ra;
    sm_rc rc = server_account(&ra, err);
    if (rc != SM_OK)
        return rc;
    rc = mkdirs(cl->datadir, err);
    if (rc != SM_OK)
        return rc;
    if (mkdir(cl->datadir, 0700) != 0 && errno != EEXIST)
        return sm_errf(err, SM_EIO, "cluster: creating %s: %s", cl->datadir, strerror(errno));
    if (ra.drop && chown(cl->datadir, ra.uid, ra.gid) != 0)
        return sm_errf(err, SM_EIO, "cluster: chown %s to %s: %s", cl->datadir, SERVER_USER, strerror(errno));
    if (ra.drop)
        make_traversable(cl->datadir);
    char out[2048];
    const char *probe[] = {"/usr/bin/test", "-w", cl->datadir, "-a", "-x", cl->datadir, NULL};
    if (ra.drop && run(&ra, probe, NULL, out, sizeof out) != 0)
        return sm_errf(err, SM_EIO,
                       "cluster: the %s user cannot reach %s: make its parent directories traversable (chmod o+x) "
                       "or choose another database.embedded_dir",
                       SERVER_USER, cl->datadir);
    char initdb[PATH_MAX], user[80];
    snprintf(initdb, sizeof initdb, "%s/initdb", cl->bindir);
    snprintf(user, sizeof user, "--username=%s", cl->user);
    const char *argv[] = {initdb, "-D", cl->datadir, user, "--auth=trust", "--encoding=UTF8", "--no-locale",
                          cl->fast ? "--no-sync" : NULL, NULL};
    int st = run(&ra, argv, NULL, out, sizeof out);
    if (st != 0)
        return sm_errf(err, SM_EIO, "cluster: initdb %s failed (status %d): %s", cl->datadir, st, last_line(out));
    char conf[PATH_MAX];
    snprintf(conf, sizeof conf, "%s/postgresql.conf", cl->datadir);
    FILE *f = fopen(conf, "a");
    if (!f)
        return sm_errf(err, SM_EIO, "cluster: opening %s: %s", conf, strerror(errno));
    fprintf(f,
            "\n# smbox embedded cluster: unix socket in the data directory only, no TCP\n"
            "listen_addresses = ''\n"
            "unix_socket_directories = '%s'\n"
            "unix_socket_permissions = 0700\n",
            cl->datadir);
    if (cl->fast)
        fprintf(f, "# throw-away cluster (tests): speed over durability\n"
                   "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                   "shared_buffers = 32MB\nmax_connections = 60\n");
    if (fclose(f) != 0)
        return sm_errf(err, SM_EIO, "cluster: writing %s: %s", conf, strerror(errno));
    sm_log(SM_LOG_NOTICE, "db", "cluster_initialised", "datadir=%s", cl->datadir);
    return SM_OK;
}

static long read_pid(const db_cluster *cl)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/postmaster.pid", cl->datadir);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid;
}

void db_cluster_conninfo(const db_cluster *cl, const char *dbname, char *out, size_t cap)
{
    snprintf(out, cap, "host=%s port=5432 user=%s dbname=%s", cl->datadir, cl->user, dbname ? dbname : "postgres");
}

sm_rc db_cluster_status(const db_cluster *cl, db_cluster_state *st, sm_err *err)
{
    memset(st, 0, sizeof *st);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/PG_VERSION", cl->datadir);
    FILE *f = fopen(p, "r");
    if (f) {
        st->initialised = true;
        if (fgets(st->version, sizeof st->version, f))
            st->version[strcspn(st->version, "\n")] = 0;
        fclose(f);
    } else if (errno == EACCES) {
        return sm_errf(err, SM_EPERM, "cluster: cannot read %s: %s", p, strerror(errno));
    }
    long pid = read_pid(cl);
    if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
        st->pid = pid;
        char ci[600];
        db_cluster_conninfo(cl, "postgres", ci, sizeof ci);
        const char *kw[] = {"dbname", "connect_timeout", NULL};
        const char *val[] = {ci, "3", NULL};
        st->running = PQpingParams(kw, val, 1) == PQPING_OK;
    }
    return SM_OK;
}

sm_rc db_cluster_start(const db_cluster *cl, bool *started, sm_err *err)
{
    if (started)
        *started = false;
    db_cluster_state st;
    sm_rc rc = db_cluster_status(cl, &st, err);
    if (rc != SM_OK)
        return rc;
    if (!st.initialised)
        return sm_errf(err, SM_ESTATE, "cluster: no cluster in %s (`smctl db start` creates it)", cl->datadir);
    if (st.running)
        return SM_OK;
    runas ra;
    rc = server_account(&ra, err);
    if (rc != SM_OK)
        return rc;
    char pgctl[PATH_MAX], logf[PATH_MAX], out[2048];
    snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", cl->bindir);
    snprintf(logf, sizeof logf, "%s/server.log", cl->datadir);
    const char *argv[] = {pgctl, "-D", cl->datadir, "-l", logf, "-w", "-t", "120", "start", NULL};
    int s = run(&ra, argv, NULL, out, sizeof out);
    if (s != 0) {
        /* the server's own reason is in its log */
        char tail[512] = "";
        FILE *f = fopen(logf, "r");
        if (f) {
            char line[512];
            while (fgets(line, sizeof line, f))
                if (strstr(line, "FATAL") || strstr(line, "ERROR"))
                    snprintf(tail, sizeof tail, "%s", line);
            fclose(f);
            tail[strcspn(tail, "\n")] = 0;
        }
        return sm_errf(err, SM_EIO, "cluster: starting PostgreSQL in %s failed: %s%s%s (log %s)", cl->datadir,
                       last_line(out), tail[0] ? ": " : "", tail, logf);
    }
    if (started)
        *started = true;
    sm_log(SM_LOG_NOTICE, "db", "cluster_started", "datadir=%s", cl->datadir);
    return SM_OK;
}

sm_rc db_cluster_stop(const db_cluster *cl, bool immediate, sm_err *err)
{
    db_cluster_state st;
    sm_rc rc = db_cluster_status(cl, &st, err);
    if (rc != SM_OK)
        return rc;
    if (!st.initialised || st.pid == 0)
        return SM_OK;
    runas ra;
    rc = server_account(&ra, err);
    if (rc != SM_OK)
        return rc;
    char pgctl[PATH_MAX], out[2048];
    snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", cl->bindir);
    const char *argv[] = {pgctl, "-D", cl->datadir, "-m", immediate ? "immediate" : "fast", "-w", "-t", "120",
                          "stop", NULL};
    int s = run(&ra, argv, NULL, out, sizeof out);
    if (s != 0 && read_pid(cl) > 0)
        return sm_errf(err, SM_EIO, "cluster: stopping PostgreSQL in %s failed: %s", cl->datadir, last_line(out));
    sm_log(SM_LOG_NOTICE, "db", "cluster_stopped", "datadir=%s", cl->datadir);
    return SM_OK;
}

static bool good_dbname(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

sm_rc db_cluster_createdb(const db_cluster *cl, const char *dbname, const char *template_db, sm_err *err)
{
    if (!good_dbname(dbname) || (template_db && !good_dbname(template_db)))
        return sm_errf(err, SM_EINVAL, "cluster: database names are [a-z0-9_]{1,63}");
    char ci[600];
    db_cluster_conninfo(cl, "postgres", ci, sizeof ci);
    PGconn *pg = PQconnectdb(ci);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        sm_rc rc = sm_errf(err, SM_EDB, "cluster: connecting to %s: %s", cl->datadir, pg ? PQerrorMessage(pg) : "");
        PQfinish(pg);
        return rc;
    }
    const char *vals[1] = {dbname};
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, vals, NULL, NULL, 0);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    sm_rc rc = SM_OK;
    if (!exists) {
        /* CREATE DATABASE takes no parameters: the names are validated above and quoted by libpq */
        char *qn = PQescapeIdentifier(pg, dbname, strlen(dbname));
        char *qt = template_db ? PQescapeIdentifier(pg, template_db, strlen(template_db)) : NULL;
        char sql[300];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s%s%s", qn ? qn : "\"?\"", qt ? " TEMPLATE " : "", qt ? qt : "");
        PQfreemem(qn);
        PQfreemem(qt);
        r = PQexec(pg, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (!ss || strcmp(ss, "42P04") != 0) /* created meanwhile by another process: fine */
                rc = sm_errf(err, SM_EDB, "cluster: creating database %s: %s", dbname,
                             PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
        }
        PQclear(r);
    }
    PQfinish(pg);
    return rc;
}

int db_cluster_run(const db_cluster *cl, const char *prog, const char *const *args, const char *logpath)
{
    runas ra;
    if (server_account(&ra, NULL) != SM_OK)
        return -1;
    const char *argv[64];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", cl->bindir, prog);
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run(&ra, argv, logpath, NULL, 0);
}
