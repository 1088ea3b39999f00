/* json: a small strict JSON reader for the test vector files under tests/vectors/.
 * Owns the parsed tree; tests navigate it with the getters below. Test-only code. */
#ifndef SM_TEST_JSON_H
#define SM_TEST_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TJ_NULL, TJ_BOOL, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ } tj_type;

typedef struct tj {
    tj_type type;
    char *key;         /* member name when inside an object */
    char *str;         /* TJ_STR */
    double num;        /* TJ_NUM */
    int b;             /* TJ_BOOL */
    struct tj **items; /* TJ_ARR / TJ_OBJ */
    size_t n;
} tj;

/* Parses a file; aborts the test program with a message on error. */
tj *tj_load(const char *path);
tj *tj_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void tj_free(tj *v);

/* Member of an object (NULL if absent or not an object). */
const tj *tj_get(const tj *o, const char *key);
/* String member, or NULL. */
const char *tj_str(const tj *o, const char *key);
/* Path lookup "a.b.0.c" (numeric parts index arrays). */
const tj *tj_path(const tj *o, const char *path);
/* Hex string member decoded into a malloc'd buffer (abort on bad hex); *len set. */
uint8_t *tj_hex(const tj *o, const char *key, size_t *len);

#endif
