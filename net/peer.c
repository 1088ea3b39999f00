/* Peer identity and trust-list matching. */
#include "net/peer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool fp_equal(const char *cfg, const char *hex)
{
    size_t k = 0;
    for (const char *p = cfg; *p; p++) {
        if (*p == ':' || *p == ' ')
            continue;
        if (!hex[k] || tolower((unsigned char)*p) != hex[k])
            return false;
        k++;
    }
    return k == 64 && !hex[k];
}

bool es_peer_entry_matches(const es_peer_entry *e, const net_cert_info *ci)
{
    bool any = false;
    if (e->fingerprint && *e->fingerprint) {
        any = true;
        if (!fp_equal(e->fingerprint, ci->fingerprint))
            return false;
    }
    if (e->subject && *e->subject) {
        any = true;
        if (strcmp(e->subject, ci->subject))
            return false;
    }
    if (e->san && *e->san) {
        any = true;
        bool found = false;
        for (int i = 0; i < ci->nsan && !found; i++)
            found = !strcmp(ci->san[i], e->san);
        if (!found)
            return false;
    }
    return any;
}

bool es_peer_identify(const es_peer_list *l, const net_cert_info *ci, es_peer *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->subject, sizeof out->subject, "%s", ci->subject);
    snprintf(out->fingerprint, sizeof out->fingerprint, "%s", ci->fingerprint);
    for (size_t i = 0; l && i < l->n; i++) {
        const es_peer_entry *e = &l->v[i];
        if (!es_peer_entry_matches(e, ci))
            continue;
        snprintf(out->id, sizeof out->id, "%s", e->id ? e->id : "");
        out->role = e->role;
        snprintf(out->endpoint, sizeof out->endpoint, "%s", e->endpoint ? e->endpoint : "");
        out->known = true;
        return true;
    }
    return false;
}

const es_peer_entry *es_peer_find(const es_peer_list *l, const char *id)
{
    for (size_t i = 0; l && id && i < l->n; i++)
        if (l->v[i].id && !strcmp(l->v[i].id, id))
            return &l->v[i];
    return NULL;
}

bool es_peer_from_entity(const char *from, char *out, size_t cap)
{
    const char *p = from ? strstr(from, "EntityId=") : NULL;
    if (!p)
        return false;
    p += 9;
    size_t n = strcspn(p, "&#; ");
    if (!n || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}
