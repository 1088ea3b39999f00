/* json: a small strict JSON codec for the REST binding — RFC 8259 only (no comments, no trailing
 * commas, no duplicate keys, valid UTF-8, no NUL), with size, depth and node limits while parsing. */
#ifndef SM_NET_JSON_H
#define SM_NET_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

typedef enum jv_type { JV_NULL = 0, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
    jv_type t;
    char *key;          /* member name inside an object */
    char *s;            /* JV_STR: the decoded string; JV_NUM: the number's text */
    size_t slen;
    bool b;
    struct jv **items;  /* JV_ARR / JV_OBJ */
    size_t n, cap;
} jv;

typedef struct json_limits {
    size_t max_bytes;
    unsigned max_depth;
    unsigned long max_nodes;
} json_limits;

/* SM_EPARSE (syntax, with the offset) or SM_ELIMIT. Caller frees *out with jv_free. */
sm_rc json_parse(const char *buf, size_t len, const json_limits *lim, jv **out, sm_err *err);
void jv_free(jv *v);
/* Object member by name (NULL if absent or o is not an object). */
const jv *jv_get(const jv *o, const char *key);
/* Integer value of a JV_NUM without fraction or exponent. */
bool jv_int(const jv *v, long long *out);

/* Writer: a quoted, escaped JSON string. */
void json_put_str(sm_buf *b, const char *s, size_t n);

#endif
