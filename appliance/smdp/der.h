/* der: a strict DER reader that turns bytes into a flat tree of TLV nodes (offsets into the
 * caller's buffer, nothing copied), and the DER length/tag arithmetic the encoder shares.
 *
 * Rules enforced: definite lengths only, minimal length and tag encodings, lengths of at most
 * 4 bytes, constructed values made of whole TLVs with nothing left over, universal types in
 * their DER form (BOOLEAN, INTEGER, NULL, OID, OCTET STRING, SEQUENCE/SET), bounded nesting
 * depth and node count. Errors give the absolute offset of the offending byte and the reason. */
#ifndef SM_SMDP_DER_H
#define SM_SMDP_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define DER_NONE (-1)

typedef struct der_node {
    uint32_t tag;    /* raw tag bytes, big-endian: 0x30, 0xA4, 0xBF1F */
    uint32_t off;    /* offset of the first tag byte in the input */
    uint32_t len;    /* length of the value */
    uint8_t hlen;    /* bytes of tag + length */
    uint8_t depth;   /* 0 = top level */
    bool cons;       /* constructed */
    int32_t parent;  /* node indexes, DER_NONE when absent */
    int32_t child;   /* first child */
    int32_t next;    /* next sibling */
} der_node;

typedef struct der_tree {
    const uint8_t *p;   /* the input (borrowed) */
    size_t len;
    der_node *n;
    size_t count, cap;
    size_t maxnodes;
    unsigned maxdepth;  /* deepest allowed node depth + 1 (top-level nodes have depth 0) */
} der_tree;

/* Starts an empty tree over p[0..len) (len < 2^32). */
void der_tree_init(der_tree *t, const uint8_t *p, size_t len, unsigned maxdepth, size_t maxnodes);
void der_tree_free(der_tree *t);

/* Parses the one TLV starting at off, which must end at or before end, with its whole subtree;
 * links it as the next child of parent (DER_NONE = top level) and returns its index in *node. */
sm_rc der_parse_one(der_tree *t, size_t off, size_t end, int32_t parent, int32_t *node, sm_err *err);

/* Parses p[0..len) as exactly one DER TLV and its subtree into a fresh tree (for checking a
 * TLV built elsewhere). The caller frees the tree. */
sm_rc der_parse_all_one(der_tree *t, const uint8_t *p, size_t len, unsigned maxdepth, size_t maxnodes,
                        sm_err *err);

/* Value of a node: pointer into the input. */
static inline const uint8_t *der_val(const der_tree *t, int32_t i)
{
    return t->p + t->n[i].off + t->n[i].hlen;
}

/* First child of node i carrying tag, or DER_NONE. */
int32_t der_child(const der_tree *t, int32_t i, uint32_t tag);

/* Tag class (0 universal, 1 application, 2 context, 3 private) and number of a raw tag. */
unsigned der_tag_class(uint32_t tag);
uint32_t der_tag_number(uint32_t tag);
/* Bytes of the raw tag, of a definite length field. */
size_t der_tag_size(uint32_t tag);
size_t der_len_size(size_t len);
/* Writes a minimal definite length field; returns its size (out needs 5 bytes). */
size_t der_put_len(uint8_t *out, size_t len);

/* A non-negative INTEGER value of node i (primitive, minimal two's complement) that is <= max. */
sm_rc der_uint(const der_tree *t, int32_t i, uint32_t max, uint32_t *v, const char *what, sm_err *err);

/* Dotted text of an OBJECT IDENTIFIER value ("2.23.143.1.2.1"); returns false if it does not fit. */
bool der_oid_text(const uint8_t *v, size_t len, char *out, size_t cap);

#endif
