/* testutil: helpers for the simulator's cmocka tests only: a small JSON reader for tests/vectors,
 * hex comparison, source-tree paths and temporary directories. Never linked into the simulator. */
#ifndef SIM_TESTUTIL_H
#define SIM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

typedef struct tj tj;
/* Parses a JSON file under $SMBOX_SRCDIR (default "."); NULL on error (message on stderr). */
tj *tj_load(const char *relpath);
void tj_free(tj *j);
const tj *tj_get(const tj *j, const char *key);     /* object member or NULL */
const tj *tj_at(const tj *j, size_t i);             /* array element or NULL */
size_t tj_len(const tj *j);                          /* array length */
const char *tj_str(const tj *j);                     /* string value or NULL */
const char *tj_key(const tj *j, size_t i);           /* i-th member name of an object */
const tj *tj_val(const tj *j, size_t i);             /* i-th member value of an object */
/* tj_get chain with '/'-separated keys. */
const tj *tj_path(const tj *j, const char *path);

/* Decodes hex (aborting the test on malformed data) into a buffer. */
void tu_hexbuf(const char *hex, sim_buf *out);
/* Fixed-size decode; returns length. */
size_t tu_hex(const char *hex, uint8_t *out, size_t cap);
/* Path under the source tree. */
const char *tu_src(const char *rel, char *out, size_t cap);
/* mkdtemp under /tmp; remove with tu_rmrf. */
char *tu_tmpdir(char *out, size_t cap);
void tu_rmrf(const char *dir);

#endif
