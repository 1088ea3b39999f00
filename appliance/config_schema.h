/* config_schema: the one table that describes every configuration key (type, default, doc).
 * Parsing, validation, docs/config.md and `smctl config` are all driven from it. */
#ifndef SM_CONFIG_SCHEMA_H
#define SM_CONFIG_SCHEMA_H

#include <stddef.h>

typedef enum { CT_STR, CT_INT, CT_BOOL, CT_ENUM, CT_STRLIST, CT_TABLE } cfg_type;

enum { CF_REQUIRED = 1 };

typedef struct cfg_item {
    const char *key;        /* dotted path ("hsm.module"); relative inside a table */
    cfg_type type;
    size_t off;             /* offset in sm_config (or in the table element) */
    const char *def;        /* default as text; NULL = none */
    const char *doc;
    const char *choices;    /* CT_ENUM: "a|b|c" */
    long min, max;          /* CT_INT */
    unsigned flags;
    const struct cfg_item *sub; /* CT_TABLE: element schema */
    size_t elem_size;
    size_t count_off;
} cfg_item;

extern const cfg_item cfg_schema[];
const char *cfg_type_name(cfg_type t);

#endif
