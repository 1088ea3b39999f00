/* In-process delivery of ES messages between the co-located SM-DP and SM-SR. */
#include "net/es_local.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "net/rest.h"

bool es_local_endpoint(const char *endpoint) { return endpoint && !strcmp(endpoint, ES_LOCAL_ENDPOINT); }

bool es_local_url(const char *url) { return url && !strncmp(url, ES_LOCAL_SCHEME, strlen(ES_LOCAL_SCHEME)); }

void es_local_make_url(es_binding b, const es_function *f, es_kind kind, char *out, size_t cap)
{
    es_client_url(ES_LOCAL_ENDPOINT, b, f, kind, out, cap);
}

sm_rc es_local_caller(const char *smdp_id, const char *smsr_id, es_role dest_role, es_peer *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    const char *id;
    if (dest_role == ES_ROLE_SMSR) {
        id = smdp_id;
        out->role = ES_ROLE_SMDP;
    } else if (dest_role == ES_ROLE_SMDP) {
        id = smsr_id;
        out->role = ES_ROLE_SMSR;
    } else {
        return sm_errf(err, SM_EINVAL, "local delivery: only our SM-DP and SM-SR talk in-process, not a %s",
                       es_role_name(dest_role));
    }
    if (!id || !*id || strlen(id) >= sizeof out->id)
        return sm_errf(err, SM_ECONFIG, "local delivery: our %s has no GSMA identifier (gsma.%s_id)",
                       dest_role == ES_ROLE_SMSR ? "SM-DP" : "SM-SR", dest_role == ES_ROLE_SMSR ? "smdp" : "smsr");
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->endpoint, sizeof out->endpoint, "%s", ES_LOCAL_ENDPOINT);
    snprintf(out->subject, sizeof out->subject, "in-process (%s role of this appliance)", es_role_name(out->role));
    snprintf(out->fingerprint, sizeof out->fingerprint, "local");
    out->known = true;
    return SM_OK;
}

sm_rc es_local_deliver(es_server *s, void *worker, const es_peer *caller, const char *url, const void *payload,
                       size_t len, int *http, sm_buf *answer, sm_err *err)
{
    *http = 0;
    if (!s)
        return sm_errf(err, SM_ESTATE, "local delivery: the ES server is not running");
    if (!es_local_url(url))
        return sm_errf(err, SM_EINVAL, "local delivery: %s is not a local: URL", url ? url : "(none)");
    const char *target = url + strlen(ES_LOCAL_SCHEME);
    if (target[0] != '/')
        return sm_errf(err, SM_EINVAL, "local delivery: %s has no path", url);
    sm_rc rc = es_server_dispatch(s, worker, caller, target, payload, len, http, answer, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "local delivery to %s", target);
        return rc;
    }
    sm_log(SM_LOG_DEBUG, "net", "local_delivered", "target=%s caller=%s role=%s http=%d", target, caller->id,
           es_role_name(caller->role), *http);
    return SM_OK;
}
