/* xml: hardened parsing of untrusted XML with libxml2 — no DTD at all (a DOCTYPE is refused, so no
 * entity can be declared or expanded), no network, no XInclude, depth and node count capped while
 * parsing — plus the small DOM and output helpers the SOAP binding needs. */
#ifndef SM_NET_XML_H
#define SM_NET_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "lib/buf.h"
#include "lib/err.h"

typedef struct xml_limits {
    size_t max_bytes;      /* input size */
    unsigned max_depth;    /* element nesting */
    unsigned long max_nodes; /* elements */
} xml_limits;

/* Process-wide set-up (parser init, an external entity loader that refuses everything). Idempotent,
 * thread-safe; xml_parse calls it. */
void xml_init(void);

/* Parses buf. SM_EPARSE (not well-formed, DTD present, entity reference), SM_ELIMIT (size, depth,
 * nodes); err names which. Caller frees *out with xmlFreeDoc. */
sm_rc xml_parse(const char *buf, size_t len, const xml_limits *lim, xmlDocPtr *out, sm_err *err);

/* DOM helpers: element children only. */
xmlNodePtr xml_first_elem(xmlNodePtr parent);
xmlNodePtr xml_next_elem(xmlNodePtr n);
bool xml_is(xmlNodePtr n, const char *ns, const char *local); /* ns NULL: any namespace */
/* Text content with surrounding whitespace trimmed; malloc'd, caller frees; NULL on ENOMEM. */
char *xml_text(xmlNodePtr n, size_t *len);
/* Exclusive canonical form (C14N 1.0 exclusive, no comments) of the children of n: the verbatim
 * content of a foreign subtree such as ds:Signature, with its namespace declarations. */
char *xml_c14n_children(xmlDocPtr doc, xmlNodePtr n, size_t *len);
/* Same for the element n itself (n and its subtree). */
char *xml_c14n_node(xmlDocPtr doc, xmlNodePtr n, size_t *len);

/* Output: text and attribute values escaped for XML 1.0 (characters XML cannot carry become '?'). */
void xml_escape(sm_buf *b, const char *s, size_t n);

#endif
