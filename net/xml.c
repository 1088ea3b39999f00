/* Hardened libxml2 parsing and DOM helpers. */
#include "net/xml.h"

#include <pthread.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>

static xmlParserInputPtr refuse_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL; /* never fetch or open anything */
}

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    xmlInitParser();
    xmlSetExternalEntityLoader(refuse_loader);
}

void xml_init(void) { pthread_once(&once, init_once); }

typedef struct pstate {
    const xml_limits *lim;
    unsigned depth;
    unsigned long nodes;
    int refused;          /* 1 DTD, 2 depth, 3 nodes, 4 entity */
} pstate;

static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    pstate *st = c->_private;
    st->refused = 1;
    xmlStopParser(c);
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    (void)name;
    xmlParserCtxtPtr c = ctx;
    pstate *st = c->_private;
    if (!st->refused)
        st->refused = 4;
    xmlStopParser(c);
    return NULL;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **nss, int nattr, int ndef, const xmlChar **attrs)
{
    xmlParserCtxtPtr c = ctx;
    pstate *st = c->_private;
    if (st->refused)
        return;
    st->depth++;
    st->nodes++;
    if (st->depth > st->lim->max_depth) {
        st->refused = 2;
        xmlStopParser(c);
        return;
    }
    if (st->nodes > st->lim->max_nodes) {
        st->refused = 3;
        xmlStopParser(c);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nns, nss, nattr, ndef, attrs);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr c = ctx;
    pstate *st = c->_private;
    if (st->refused)
        return;
    if (st->depth)
        st->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

sm_rc xml_parse(const char *buf, size_t len, const xml_limits *lim, xmlDocPtr *out, sm_err *err)
{
    *out = NULL;
    xml_init();
    if (len > lim->max_bytes)
        return sm_errf(err, SM_ELIMIT, "xml: document of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
    if (len > (size_t)0x7fffffff)
        return sm_errf(err, SM_ELIMIT, "xml: document too large");
    xmlParserCtxtPtr c = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!c)
        return sm_errf(err, SM_ENOMEM, "xml: cannot create a parser context");
    pstate st = {.lim = lim};
    c->_private = &st;
    c->sax->internalSubset = on_dtd;
    c->sax->externalSubset = on_dtd;
    c->sax->getEntity = on_get_entity;
    c->sax->getParameterEntity = on_get_entity;
    c->sax->resolveEntity = NULL;
    c->sax->startElementNs = on_start;
    c->sax->endElementNs = on_end;
    c->sax->warning = silent;
    c->sax->error = silent;
    c->sax->serror = NULL;
    c->vctxt.error = silent;
    c->vctxt.warning = silent;
    xmlCtxtUseOptions(c, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    /* xmlCtxtUseOptions may reset handlers for some options: set ours again */
    c->sax->startElementNs = on_start;
    c->sax->endElementNs = on_end;
    xmlParseDocument(c);
    xmlDocPtr doc = c->myDoc;
    int wf = c->wellFormed;
    char emsg[160] = "";
    const xmlError *e = xmlCtxtGetLastError(c);
    if (e && e->message) {
        snprintf(emsg, sizeof emsg, "%s", e->message);
        size_t k = strlen(emsg);
        while (k && (emsg[k - 1] == '\n' || emsg[k - 1] == ' '))
            emsg[--k] = 0;
    }
    c->myDoc = NULL;
    xmlFreeParserCtxt(c);
    sm_rc rc = SM_OK;
    if (st.refused == 1 || (doc && (doc->intSubset || doc->extSubset)))
        rc = sm_errf(err, SM_EPARSE, "xml: document type declarations (DTD) are not accepted");
    else if (st.refused == 4)
        rc = sm_errf(err, SM_EPARSE, "xml: entity references are not accepted");
    else if (st.refused == 2)
        rc = sm_errf(err, SM_ELIMIT, "xml: nesting deeper than %u elements", lim->max_depth);
    else if (st.refused == 3)
        rc = sm_errf(err, SM_ELIMIT, "xml: more than %lu elements", lim->max_nodes);
    else if (!wf || !doc || !xmlDocGetRootElement(doc))
        rc = sm_errf(err, SM_EPARSE, "xml: not well-formed%s%s", emsg[0] ? ": " : "", emsg);
    if (rc != SM_OK) {
        if (doc)
            xmlFreeDoc(doc);
        return rc;
    }
    *out = doc;
    return SM_OK;
}

xmlNodePtr xml_first_elem(xmlNodePtr p)
{
    for (xmlNodePtr n = p ? p->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

xmlNodePtr xml_next_elem(xmlNodePtr n)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

bool xml_is(xmlNodePtr n, const char *ns, const char *local)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local))
        return false;
    if (!ns)
        return true;
    return n->ns && n->ns->href && !strcmp((const char *)n->ns->href, ns);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char *xml_text(xmlNodePtr n, size_t *len)
{
    xmlChar *t = xmlNodeGetContent(n);
    if (!t) {
        char *e = strdup("");
        if (len)
            *len = 0;
        return e;
    }
    const char *s = (const char *)t;
    size_t l = strlen(s);
    while (l && is_ws(s[l - 1]))
        l--;
    size_t b = 0;
    while (b < l && is_ws(s[b]))
        b++;
    char *r = malloc(l - b + 1);
    if (r) {
        memcpy(r, s + b, l - b);
        r[l - b] = 0;
        if (len)
            *len = l - b;
    }
    xmlFree(t);
    return r;
}

typedef struct c14n_scope {
    xmlNodePtr top;
} c14n_scope;

static int in_subtree(void *ud, xmlNodePtr node, xmlNodePtr parent)
{
    c14n_scope *s = ud;
    xmlNodePtr n = node;
    if (node->type == XML_NAMESPACE_DECL || node->type == XML_ATTRIBUTE_NODE)
        n = parent;
    for (; n; n = n->parent)
        if (n->parent == s->top)
            return 1;
    return 0;
}

static int in_node(void *ud, xmlNodePtr node, xmlNodePtr parent)
{
    c14n_scope *s = ud;
    xmlNodePtr n = node;
    if (node->type == XML_NAMESPACE_DECL || node->type == XML_ATTRIBUTE_NODE)
        n = parent;
    for (; n; n = n->parent)
        if (n == s->top)
            return 1;
    return 0;
}

static char *c14n(xmlDocPtr doc, xmlNodePtr n, xmlC14NIsVisibleCallback vis, size_t *len)
{
    xmlBufferPtr xb = xmlBufferCreate();
    if (!xb)
        return NULL;
    xmlOutputBufferPtr ob = xmlOutputBufferCreateBuffer(xb, NULL);
    if (!ob) {
        xmlBufferFree(xb);
        return NULL;
    }
    c14n_scope sc = {n};
    int rc = xmlC14NExecute(doc, vis, &sc, XML_C14N_EXCLUSIVE_1_0, NULL, 0, ob);
    xmlOutputBufferClose(ob);
    char *r = NULL;
    if (rc >= 0) {
        size_t l = (size_t)xmlBufferLength(xb);
        r = malloc(l + 1);
        if (r) {
            memcpy(r, xmlBufferContent(xb), l);
            r[l] = 0;
            if (len)
                *len = l;
        }
    }
    xmlBufferFree(xb);
    return r;
}

char *xml_c14n_node(xmlDocPtr doc, xmlNodePtr n, size_t *len) { return c14n(doc, n, in_node, len); }

char *xml_c14n_children(xmlDocPtr doc, xmlNodePtr n, size_t *len) { return c14n(doc, n, in_subtree, len); }

void xml_escape(sm_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                rep = "?";
        }
        if (rep) {
            sm_buf_append(b, s + i - run, run);
            run = 0;
            sm_buf_append_str(b, rep);
        } else {
            run++;
        }
    }
    sm_buf_append(b, s + n - run, run);
}
