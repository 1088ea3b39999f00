/* saip: the profile package codec (TCA/SIMalliance "eUICC Profile Package: Interoperable Format",
 * DER). Splits a package into Profile Elements, decodes their PE headers and the ProfileHeader,
 * locates the personalisable values (ICCID, IMSI, AKA parameters, PIN/PUK, MSISDN), checks the
 * structure rules, and re-encodes the package, optionally with edits (value replacements and
 * appended elements; every enclosing length is recomputed).
 *
 * A decoded package borrows the caller's bytes (kept alive and unchanged until saip_free) and
 * holds only offsets: no value is copied, so decoding a personalised package in locked memory
 * leaves no copy of its secrets elsewhere. Errors name the PE (index, type, identification,
 * offset) and the reason; they never contain values. */
#ifndef SM_SMDP_SAIP_H
#define SM_SMDP_SAIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/der.h"
#include "lib/err.h"

#define SAIP_MAX_PACKAGE (1u << 20) /* bytes */
#define SAIP_MAX_DEPTH 16           /* nesting levels, the PE itself being level 1 */
#define SAIP_MAX_NODES 65536u       /* TLVs in one package */
#define SAIP_MAX_PES 1024u
#define SAIP_MAX_AKA 8
#define SAIP_MAX_CODES 64 /* PIN entries, and PUK entries, per package */
#define SAIP_MAX_GFSTE 64
#define SAIP_NONE (-1)

/* PE tags: the ProfileElement CHOICE alternatives (context-specific, constructed). */
enum saip_pe_tag {
    SAIP_PE_HEADER = 0xA0,
    SAIP_PE_GFM = 0xA1,
    SAIP_PE_PIN = 0xA2,
    SAIP_PE_PUK = 0xA3,
    SAIP_PE_AKA = 0xA4,
    SAIP_PE_CDMA = 0xA5,
    SAIP_PE_SD = 0xA6,
    SAIP_PE_RFM = 0xA7,
    SAIP_PE_APPLICATION = 0xA8,
    SAIP_PE_NONSTANDARD = 0xA9,
    SAIP_PE_END = 0xAA,
    SAIP_PE_MF = 0xB0,
    SAIP_PE_CD = 0xB1,
    SAIP_PE_TELECOM = 0xB2,
    SAIP_PE_USIM = 0xB3,
    SAIP_PE_OPT_USIM = 0xB4,
    SAIP_PE_ISIM = 0xB5,
    SAIP_PE_OPT_ISIM = 0xB6,
    SAIP_PE_PHONEBOOK = 0xB7,
    SAIP_PE_GSM_ACCESS = 0xB8,
    SAIP_PE_CSIM = 0xB9,
    SAIP_PE_OPT_CSIM = 0xBA,
    SAIP_PE_EAP = 0xBB,
    SAIP_PE_DF_5GS = 0xBC,
    SAIP_PE_DF_SAIP = 0xBD,
    SAIP_PE_DF_SNPN = 0xBE,
    SAIP_PE_DF_5GPROSE = 0xBF1F,
    SAIP_PE_IOT = 0xBF20,
    SAIP_PE_OPT_IOT = 0xBF21,
};

/* ServicesList members (bit numbers = context tag numbers of the module's ServicesList). */
enum saip_service {
    SAIP_SVC_USIM = 1,
    SAIP_SVC_ISIM = 2,
    SAIP_SVC_CSIM = 3,
    SAIP_SVC_MILENAGE = 4,
    SAIP_SVC_TUAK128 = 5,
    SAIP_SVC_GBA_USIM = 7,
    SAIP_SVC_GBA_ISIM = 8,
    SAIP_SVC_MULTIPLE_USIM = 13,
    SAIP_SVC_MULTIPLE_ISIM = 14,
    SAIP_SVC_MULTIPLE_CSIM = 15,
    SAIP_SVC_TUAK256 = 16,
    SAIP_SVC_USIM_TEST_ALGORITHM = 17,
    SAIP_SVC_GET_IDENTITY = 21,
    SAIP_SVC_PROFILE_A_X25519 = 22,
    SAIP_SVC_PROFILE_B_P256 = 23,
    SAIP_SVC_COUNT = 30,
};

/* AlgoParameter.algorithmID */
enum saip_algorithm { SAIP_ALG_MILENAGE = 1, SAIP_ALG_TUAK = 2, SAIP_ALG_TEST = 3 };

/* PIN / PUK key references used for personalisation (PINKeyReferenceValue, PUKKeyReferenceValue). */
enum saip_keyref { SAIP_REF_PIN1 = 0x01, SAIP_REF_ADM1 = 0x0A, SAIP_REF_ADM2 = 0x0B, SAIP_REF_PIN2 = 0x81 };

typedef struct saip_pe {
    uint32_t tag;
    const char *name;     /* "usim"; "unknown" for a tag this decoder does not know */
    int32_t node;         /* the PE's TLV in the tree */
    bool has_hdr;         /* carries a PEHeader (every PE but the ProfileHeader) */
    bool mandated;
    int32_t id;           /* PEHeader identification; SAIP_NONE for the ProfileHeader */
    int32_t owner;        /* index of the file-system PE (mf, telecom, usim, isim, csim) it follows */
    int32_t template_id;  /* node of templateID (template-based file-system PEs), else SAIP_NONE */
} saip_pe;

typedef struct saip_header {
    unsigned major, minor;
    char profile_type[101]; /* "" when absent */
    char iccid[21];         /* digits of the header ICCID */
    int32_t iccid_node;
    int32_t pol_node;       /* POL1, SAIP_NONE when absent */
    int32_t conn_node;      /* connectivityParameters */
    uint32_t services;      /* bit n set = ServicesList member n present */
    size_t n_gfste;
    int32_t gfste[SAIP_MAX_GFSTE]; /* nodes of the template OIDs the eUICC must support */
    size_t n_aids;          /* eUICC-Mandatory-AIDs entries */
    bool iot;               /* iotOptions present */
    size_t n_ext;           /* fields newer than this decoder (kept as they are) */
} saip_header;

/* A file of a template-based PE (EF.ICCID, EF.IMSI, ...). */
typedef struct saip_file {
    int32_t pe;        /* PE index, SAIP_NONE when the template has no such File element */
    int32_t file;      /* node of the File (SEQUENCE OF CHOICE) */
    int32_t content;   /* node of its fillFileContent when that is the only content item and starts
                          at offset 0 (the form personalisation replaces), else SAIP_NONE */
    size_t n_fill;     /* fillFileOffset + fillFileContent items */
    int32_t fcp;       /* node of the fileDescriptor (Fcp), SAIP_NONE when absent */
} saip_file;

typedef struct saip_aka {
    int32_t pe;        /* PE index */
    int32_t owner;     /* PE index of the NAA it belongs to (usim, isim), SAIP_NONE */
    bool mapping;      /* mappingParameter: reuses another NAA's key, nothing to personalise */
    uint32_t algorithm;
    uint8_t options;
    /* nodes, SAIP_NONE when absent (DEFAULT values are absent in DER) */
    int32_t key, opc, rotation, xoring, auth_counter_max, keccak;
    int32_t sqn_options, sqn_delta, sqn_age_limit, sqn_init;
} saip_aka;

typedef struct saip_code {   /* one PINConfiguration or PUKConfiguration */
    int32_t pe;              /* PE index */
    int32_t owner;           /* PE index of the file-system PE it follows (MF-level: the mf) */
    uint32_t keyref;
    int32_t unblock;         /* PUK reference of a PIN, SAIP_NONE if none (or for PUKs) */
    int32_t value;           /* node of the 8-byte value */
    uint32_t attributes;     /* pinAttributes (PIN only, default 7) */
    uint32_t counters;       /* maxNumOfAttemps-retryNumLeft (default 51 for PIN, 170 for PUK) */
} saip_code;

typedef struct saip_pkg {
    const uint8_t *der;      /* borrowed */
    size_t len;
    der_tree tree;
    saip_pe *pes;
    size_t npes;
    saip_header hdr;
    saip_file ef_iccid;      /* MF PE */
    saip_file ef_imsi;       /* USIM PE */
    saip_file ef_acc;        /* USIM PE */
    saip_file ef_msisdn;     /* OPT-USIM PE */
    char ef_iccid_digits[21]; /* "" when EF.ICCID has no content */
    char imsi[16];           /* "" when EF.IMSI has no content */
    unsigned msisdn_reclen;  /* record length from the EF.MSISDN descriptor, 0 if unknown */
    saip_aka aka[SAIP_MAX_AKA];
    size_t naka;
    saip_code pin[SAIP_MAX_CODES];
    size_t npin;
    saip_code puk[SAIP_MAX_CODES];
    size_t npuk;
} saip_pkg;

/* Decodes a package (strict DER, PE headers, ProfileHeader, the fields above). der must stay
 * valid and unchanged while the result is used. SM_EPARSE with offset and PE on malformed input,
 * SM_ELIMIT past the size limits. */
sm_rc saip_decode(const uint8_t *der, size_t len, saip_pkg **out, sm_err *err);
void saip_free(saip_pkg *p);

/* The structure rules (saip_check.c): header first, mf second, end last; one header, mf, end and
 * at most one of each NAA/DF PE; optional PEs after their base PE; unique identifications; every
 * known PE type; mandatory services backed by PEs and used NAAs/algorithms declared; template
 * OIDs listed in the GFSTE list; File element rules; EF.ICCID = header ICCID; PIN/PUK references
 * and AKA value lengths. SM_EINVAL naming the first rule broken and the PE. */
sm_rc saip_check(const saip_pkg *p, sm_err *err);

/* Value bytes of a node (a view into the package). */
const uint8_t *saip_value(const saip_pkg *p, int32_t node, size_t *len);
/* Name of a PE tag ("usim"), NULL when unknown. */
const char *saip_pe_name(uint32_t tag);
/* Name of a ServicesList member ("usim-test-algorithm"), NULL past the known ones. */
const char *saip_service_name(unsigned bit);
/* "PE 8 (usim, identification 8, offset 2650)" into buf; returns buf. */
const char *saip_pe_describe(const saip_pkg *p, size_t i, char *buf, size_t cap);

/* ---- encoding (saip_enc.c) ---------------------------------------------------------------- */

typedef enum saip_edit_kind {
    SAIP_EDIT_VALUE = 1, /* replace the value of a primitive node (any length) */
    SAIP_EDIT_APPEND,    /* append one complete DER TLV as the last child of a constructed node */
} saip_edit_kind;

typedef struct saip_edit {
    saip_edit_kind kind;
    int32_t node;
    const uint8_t *data; /* VALUE: the new value; APPEND: the TLV */
    size_t len;
} saip_edit;

/* Size of the package re-encoded with the edits (validates them: node kinds, one VALUE edit per
 * node, appended data one well-formed DER TLV). */
sm_rc saip_encoded_size(const saip_pkg *p, const saip_edit *e, size_t n, size_t *size, sm_err *err);
/* Re-encodes every TLV (tags kept, lengths recomputed) with the edits applied into out (cap bytes,
 * at least saip_encoded_size). With no edits the result equals the input byte for byte. */
sm_rc saip_encode(const saip_pkg *p, const saip_edit *e, size_t n, uint8_t *out, size_t cap, size_t *outlen,
                  sm_err *err);

#endif
