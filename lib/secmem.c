#include "lib/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each allocation gets its own mapping, with a header page-aligned in front holding the size. */
#define HDR 16

static size_t mapsize(size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t p = pg > 0 ? (size_t)pg : 4096;
    return (n + HDR + p - 1) / p * p;
}

void *sm_secmem_alloc(size_t n)
{
    if (n == 0 || n > (1u << 24))
        return NULL;
    size_t m = mapsize(n);
    uint8_t *p = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mlock(p, m) != 0) {
        munmap(p, m);
        return NULL;
    }
#ifdef MADV_DONTDUMP
    madvise(p, m, MADV_DONTDUMP);
#endif
    memcpy(p, &m, sizeof m);
    return p + HDR;
}

void sm_secmem_free(void *ptr, size_t n)
{
    (void)n;
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t m;
    memcpy(&m, p, sizeof m);
    explicit_bzero(p, m);
    munlock(p, m);
    munmap(p, m);
}

sm_rc sm_secmem_read_file(const char *path, char **out, size_t *len, sm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sm_errf(err, SM_EIO, "reading secret file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sm_errf(err, SM_EIO, "reading secret file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        close(fd);
        return sm_errf(err, SM_EPERM, "reading secret file %s: readable or writable by others (mode %o)", path,
                       (unsigned)(st.st_mode & 0777));
    }
    size_t cap = 4096;
    char *b = sm_secmem_alloc(cap);
    if (!b) {
        close(fd);
        return sm_errf(err, SM_ENOMEM, "reading secret file %s: cannot lock memory (RLIMIT_MEMLOCK?)", path);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            sm_secmem_free(b, cap);
            return sm_errf(err, SM_EIO, "reading secret file %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n >= cap - 1) {
            close(fd);
            sm_secmem_free(b, cap);
            return sm_errf(err, SM_EINVAL, "reading secret file %s: longer than %zu bytes", path, cap - 2);
        }
    }
    close(fd);
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
        b[--n] = '\0';
    if (n == 0) {
        sm_secmem_free(b, cap);
        return sm_errf(err, SM_EINVAL, "reading secret file %s: empty", path);
    }
    *out = b;
    *len = n;
    return SM_OK;
}

sm_rc sm_secmem_from_env(const char *var, char **out, size_t *len, sm_err *err)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return sm_errf(err, SM_ENOTFOUND, "secret environment variable %s is not set", var);
    size_t n = strlen(v);
    if (n > 4000)
        return sm_errf(err, SM_EINVAL, "secret environment variable %s is too long", var);
    char *b = sm_secmem_alloc(n + 1);
    if (!b)
        return sm_errf(err, SM_ENOMEM, "copying secret %s: cannot lock memory (RLIMIT_MEMLOCK?)", var);
    memcpy(b, v, n);
    b[n] = '\0';
    *out = b;
    *len = n;
    return SM_OK;
}

void sm_secmem_harden_process(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
