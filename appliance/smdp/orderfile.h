/* orderfile: the batch order an MNO gives the SM-DP (docs/sm-dp-files.md): profile type,
 * template, MNO, ICCID and IMSI range starts, quantity, OP encrypted under the MNO transport
 * key, optional batch-wide PIN/PUK/ADM values and per-profile overrides.
 *
 * The parser is strict, bounded and all-or-nothing: the first problem fails the whole file with
 * its line number, and nothing is returned. PIN/PUK/ADM values are kept in locked memory and
 * never appear in errors. */
#ifndef SM_SMDP_ORDERFILE_H
#define SM_SMDP_ORDERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/personalise.h"
#include "lib/err.h"

#define SMDP_ORDER_MAX_BYTES (4u << 20)
#define SMDP_ORDER_MAX_LINE 1024
#define SMDP_ORDER_MAX_QUANTITY 1000000u
#define SMDP_ORDER_MAX_OVERRIDES 100000u
#define SMDP_NAME_MAX 64 /* profile type, template id, MNO id: [A-Za-z0-9._-] */

typedef struct smdp_order_override {
    uint64_t index;      /* position in the batch: ICCID = the index-th of the range */
    unsigned line;
    char imsi[16];       /* "" = from the IMSI range */
    char msisdn[16];     /* "" = template value */
    const char *code[SMDP_CODE_COUNT]; /* NULL = batch value; in locked memory */
} smdp_order_override;

typedef struct smdp_order {
    char profile_type[SMDP_NAME_MAX + 1];
    char template_id[SMDP_NAME_MAX + 1];
    char mno[SMDP_NAME_MAX + 1];
    char iccid_start[21];
    char imsi_start[16];
    unsigned mnc_digits;
    uint64_t quantity;
    uint8_t op_enc[16];                /* OP, AES-ECB under the MNO transport key */
    const char *code[SMDP_CODE_COUNT]; /* batch-wide values, NULL = template value; locked memory */
    smdp_order_override *ov;           /* sorted by index */
    size_t nov;
    char *arena;                       /* locked memory holding the code strings */
    size_t arena_cap, arena_len;
} smdp_order;

/* Parses an order file. SM_EPARSE "order line N: ..." (or SM_ELIMIT past the bounds). */
sm_rc smdp_order_parse(const char *text, size_t len, smdp_order **out, sm_err *err);
void smdp_order_free(smdp_order *o);

/* The override of batch position index, or NULL. */
const smdp_order_override *smdp_order_find(const smdp_order *o, uint64_t index);

/* True for 1..64 characters of [A-Za-z0-9._-]. */
bool smdp_name_ok(const char *s);

#endif
