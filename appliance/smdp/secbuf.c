/* Locked byte buffers for secrets in clear. */
#include "appliance/smdp/secbuf.h"

#include "lib/secmem.h"

sm_rc smdp_secbuf_alloc(smdp_secbuf *b, size_t cap, sm_err *err)
{
    b->len = 0;
    b->cap = 0;
    b->p = sm_secmem_alloc(cap);
    if (!b->p)
        return sm_errf(err, SM_ENOMEM, "cannot lock %zu bytes of memory for secret data (RLIMIT_MEMLOCK?)", cap);
    b->cap = cap;
    return SM_OK;
}

void smdp_secbuf_free(smdp_secbuf *b)
{
    if (b->p)
        sm_secmem_free(b->p, b->cap);
    b->p = NULL;
    b->len = b->cap = 0;
}
