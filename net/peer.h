/* peer: the stakeholders of the trust list (es.peers) and the mapping from a verified certificate to
 * one of them (by fingerprint, subject and/or subjectAltName), giving its GSMA identifier and role. */
#ifndef SM_NET_PEER_H
#define SM_NET_PEER_H

#include "net/es_table.h"
#include "net/tls.h"

typedef struct es_peer_entry {
    const char *id;          /* GSMA identifier */
    es_role role;
    const char *subject;     /* each set criterion must match; at least one must be set */
    const char *san;
    const char *fingerprint; /* hex, colons and case ignored */
    const char *endpoint;    /* base URL of its ES endpoint */
} es_peer_entry;

typedef struct es_peer_list {
    const es_peer_entry *v;
    size_t n;
} es_peer_list;

bool es_peer_entry_matches(const es_peer_entry *e, const net_cert_info *ci);
/* Fills *out from the first matching entry (known = true), else an unknown identity carrying only the
 * certificate's subject and fingerprint. */
bool es_peer_identify(const es_peer_list *l, const net_cert_info *ci, es_peer *out);
const es_peer_entry *es_peer_find(const es_peer_list *l, const char *id);
/* "EntityId=<id>" inside a wsa:From address, if any; false when absent. */
bool es_peer_from_entity(const char *from, char *out, size_t cap);

#endif
