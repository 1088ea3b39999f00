/* es_value: the decoded form of an ES function's input or output — a small tree of named fields
 * (string, bytes, integer, boolean, struct, list). SOAP and REST decode to it; handlers read and fill it. */
#ifndef SM_ES_VALUE_H
#define SM_ES_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum es_vtype {
    ESV_STR = 1, /* text (strings, OIDs, ICCIDs, dateTimes, raw XML of ds:Signature) */
    ESV_BYTES,   /* hexBinary, decoded */
    ESV_INT,
    ESV_BOOL,
    ESV_STRUCT,  /* named members, in insertion order (encoders emit them in schema order) */
    ESV_LIST,    /* a repeated field: unnamed items of one type */
} es_vtype;

typedef struct es_value {
    es_vtype type;
    char *name;              /* member name (the XSD element name); NULL for list items */
    char *str;               /* ESV_STR, NUL-terminated */
    uint8_t *bytes;          /* ESV_BYTES */
    size_t len;              /* ESV_STR / ESV_BYTES length */
    int64_t i;               /* ESV_INT */
    bool b;                  /* ESV_BOOL */
    struct es_value **kids;  /* ESV_STRUCT members / ESV_LIST items */
    size_t n, cap;
} es_value;

es_value *es_struct_new(void);
void es_value_free(es_value *v);
/* Deep copy; NULL on allocation failure. */
es_value *es_value_dup(const es_value *v);

/* ---- reading (s is a struct; every getter tolerates s == NULL) ---------------------------- */
/* Member by exact name; NULL if absent. */
const es_value *es_get(const es_value *s, const char *name);
/* Typed members: false (or NULL) when absent or of another type. */
const char *es_str(const es_value *s, const char *name);
bool es_bytes(const es_value *s, const char *name, const uint8_t **p, size_t *len);
bool es_int(const es_value *s, const char *name, int64_t *out);
bool es_bool(const es_value *s, const char *name, bool *out);
const es_value *es_struct(const es_value *s, const char *name);
/* A repeated member: number of items (0 when absent) and the i-th item. */
size_t es_count(const es_value *s, const char *name);
const es_value *es_item(const es_value *s, const char *name, size_t i);

/* ---- building: each adds a member to struct s (name != NULL) or an item to list s (name NULL);
 * returns the new node, NULL on allocation failure (the tree stays valid). ------------------- */
es_value *es_add_str(es_value *s, const char *name, const char *v);
es_value *es_add_strn(es_value *s, const char *name, const char *v, size_t n);
es_value *es_add_bytes(es_value *s, const char *name, const uint8_t *p, size_t n);
es_value *es_add_int(es_value *s, const char *name, int64_t v);
es_value *es_add_bool(es_value *s, const char *name, bool v);
es_value *es_add_struct(es_value *s, const char *name);
es_value *es_add_list(es_value *s, const char *name);
/* Attaches an existing node (takes ownership; on failure frees it and returns NULL). */
es_value *es_attach(es_value *s, const char *name, es_value *node);

#endif
