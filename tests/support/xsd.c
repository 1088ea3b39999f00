/* GSMA schema checks for tests (tests/support/xsd.h). */
#include "tests/support/xsd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "net/xml.h"
#include "tests/support/testenv.h"

xmlSchemaPtr txsd_load(void)
{
    char path[1024];
    testenv_path(path, sizeof path, "tests/vectors/gsma-sgp02/xsd/smbox-es.xsd");
    /* trusted local files: the default loader (no network) for the schema's includes and imports;
     * net/xml.c's refusing loader comes back for everything else */
    xml_init();
    xmlExternalEntityLoader saved = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
    xmlSchemaPtr schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaFreeParserCtxt(pc);
    xmlSetExternalEntityLoader(saved);
    if (!schema)
        fprintf(stderr, "cannot load %s\n", path);
    return schema;
}

typedef struct sink {
    char *p;
    size_t cap;
} sink;

static void collect(void *ctx, const char *fmt, ...)
{
    sink *s = ctx;
    if (!s->p || !s->cap)
        return;
    size_t l = strlen(s->p);
    if (l + 1 >= s->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->p + l, s->cap - l, fmt, ap);
    va_end(ap);
}

int txsd_validate(xmlSchemaPtr schema, xmlNodePtr el, char *errs, size_t cap)
{
    sink s = {errs, cap};
    if (errs && cap)
        errs[0] = 0;
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    if (!vc)
        return -1;
    xmlSchemaSetValidErrors(vc, collect, collect, &s);
    int rc = xmlSchemaValidateOneElement(vc, el);
    xmlSchemaFreeValidCtxt(vc);
    return rc;
}
