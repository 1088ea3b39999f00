/* Profile templates: decode, check, store. */
#include "appliance/smdp/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/orderfile.h"
#include "db/audit.h"
#include "db/profile_repo.h"
#include "lib/log.h"

void smdp_template_name_from_path(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b)
        n = (size_t)(dot - b);
    if (n > SMDP_NAME_MAX)
        n = SMDP_NAME_MAX;
    if (n + 1 > cap)
        n = cap ? cap - 1 : 0;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '-';
        out[i] = ok ? ch : '-';
    }
    if (cap)
        out[n] = 0;
}

/* What a download asks the SM-SR to reserve: the package with a quarter of headroom, in 4 KiB units
 * (personalised packages differ from the template by a few bytes). */
static int64_t required_memory(size_t len)
{
    int64_t m = (int64_t)len + (int64_t)len / 4;
    return (m + 4095) / 4096 * 4096;
}

static void describe(const saip_pkg *p, const char *name, size_t len, smdp_template_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", name);
    info->len = len;
    info->npes = p->npes;
    info->major = p->hdr.major;
    info->minor = p->hdr.minor;
    snprintf(info->iccid, sizeof info->iccid, "%s", p->hdr.iccid);
    snprintf(info->header_type, sizeof info->header_type, "%s", p->hdr.profile_type);
    info->required_memory = required_memory(len);
}

sm_rc smdp_template_import(db_conn *c, const char *actor, const uint8_t *der, size_t len, const char *name,
                           const char *mno, smdp_template_info *info, sm_err *err)
{
    if (!name || !smdp_name_ok(name))
        return sm_errf(err, SM_EINVAL, "template name must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    if (mno && !smdp_name_ok(mno) && strcmp(mno, SMDP_TEMPLATE_ANY_MNO))
        return sm_errf(err, SM_EINVAL, "template %s: MNO id must be 1 to 64 characters of A-Z a-z 0-9 . _ -", name);
    if (len == 0 || len > SAIP_MAX_PACKAGE)
        return sm_errf(err, SM_ELIMIT, "template %s: %zu bytes (1 to %u)", name, len, SAIP_MAX_PACKAGE);
    saip_pkg *p = NULL;
    sm_rc rc = saip_decode(der, len, &p, err);
    if (rc == SM_OK)
        rc = saip_check(p, err);
    if (rc != SM_OK) {
        saip_free(p);
        sm_err_prefix(err, "template %s refused", name);
        return rc;
    }
    smdp_template_info in;
    describe(p, name, len, &in);
    saip_free(p);
    db_ptype t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.mno_id, sizeof t.mno_id, "%s", mno ? mno : SMDP_TEMPLATE_ANY_MNO);
    snprintf(t.description, sizeof t.description, "template: SAIP %u.%u, %zu PEs, %zu bytes%s%.100s", in.major,
             in.minor, in.npes, len, in.header_type[0] ? ", header type " : "", in.header_type);
    t.required_memory = in.required_memory;
    rc = db_ptype_put(c, actor, &t, der, len, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "storing template %s", name);
        return rc;
    }
    char q[160];
    sm_log(SM_LOG_INFO, "smdp", "template_imported", "name=%s bytes=%zu pes=%zu saip=%u.%u header_type=%s", name, len,
           in.npes, in.major, in.minor, SM_LOGQ(q, in.header_type));
    if (info)
        *info = in;
    return SM_OK;
}

sm_rc smdp_template_load(db_conn *c, const char *name, uint8_t **der, size_t *len, saip_pkg **pkg, sm_err *err)
{
    *der = NULL;
    *pkg = NULL;
    sm_rc rc = db_ptype_template(c, name, der, len, err);
    if (rc == SM_OK && !*der)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: profile type %s has no template (smctl profile import-template)", name);
    if (rc == SM_OK)
        rc = saip_decode(*der, *len, pkg, err);
    if (rc != SM_OK) {
        free(*der);
        *der = NULL;
        sm_err_prefix(err, "template %s", name);
    }
    return rc;
}
