/* GSMA schema checks for tests: loads the SGP.02 XSD the SOAP binding must match
 * (tests/vectors/gsma-sgp02/xsd/smbox-es.xsd) and validates one element against it. */
#ifndef SM_TESTS_XSD_H
#define SM_TESTS_XSD_H

#include <stddef.h>

#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

/* The compiled schema (includes and imports read from the local files only), NULL with a message on
 * stderr when it cannot be loaded. Free with xmlSchemaFree. */
xmlSchemaPtr txsd_load(void);
/* 0 when el is valid; else the validator's messages in errs (may be NULL). */
int txsd_validate(xmlSchemaPtr schema, xmlNodePtr el, char *errs, size_t cap);

#endif
