/* batch: the EUM's eUICC batch file, version 1 (docs/euicc-batch-format.md) — a strict, bounded
 * parser of its header, records and trailer. Pure (no HSM, no database): whole-file problems refuse
 * the batch, a bad record is reported with its line number and the walk goes on to the next. */
#ifndef SM_SMSR_BATCH_H
#define SM_SMSR_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SMSR_BATCH_MAX_LINE 16384   /* longest line accepted */
#define SMSR_BATCH_MAX_PROFILES 16  /* pre-loaded profiles per record */
#define SMSR_OID_MAX 64
#define SMSR_CERT_MAX 1024
#define SMSR_WRAPPED_MAX 40         /* RFC 5649 blob of a key of up to 32 bytes */

typedef struct smsr_batch_hdr {
    char eum_id[SMSR_OID_MAX + 1];
    char tk_id[41];
    char kw[16];                    /* "aes-kwp" */
    char created[21];
} smsr_batch_hdr;

typedef struct smsr_bkey {
    uint8_t wrapped[SMSR_WRAPPED_MAX];
    size_t wrapped_len;
    uint8_t kcv[3];
} smsr_bkey;

typedef struct smsr_baid {
    uint8_t b[16];
    size_t len;
} smsr_baid;

typedef struct smsr_bprofile {
    smsr_baid aid;
    char iccid[21];
    char imsi[16];
    char msisdn[16];
    bool enabled;                   /* state Enabled, else Disabled */
    bool fallback;
    int64_t allocated;
    uint8_t pol1;
    char mno_id[SMSR_OID_MAX + 1];
} smsr_bprofile;

/* One record. text/len view the line in the caller's buffer (without its '\n'); signed_len is the
 * length of the signed part (up to the ';' before "sig="). */
typedef struct smsr_brec {
    size_t line;                    /* 1-based line number in the file */
    const char *text;
    size_t len, signed_len;
    char eid[33];                   /* 32 digits; "" when the record is too broken to name it */
    char eum_id[SMSR_OID_MAX + 1];
    char production_date[21];
    char platform_type[101];
    char platform_version[33], rpv[33], spv[33];
    bool cattp, http;
    smsr_baid elf_aid, module_aid, ecasd_aid;
    uint8_t ecasd_cert[SMSR_CERT_MAX];
    size_t ecasd_cert_len;
    char ci_id[SMSR_OID_MAX + 1];
    smsr_baid isdr_aid, isdr_tar, isdr_sin, isdr_sdin;
    uint8_t scp80_kvn;
    uint64_t scp80_cntr;
    smsr_bkey kic, kid, dek;
    uint8_t scp81_kvn, scp81_key_id;
    smsr_bkey psk;
    int64_t mem_total, mem_free;
    char smsr_id[SMSR_OID_MAX + 1];
    char smsr_sms[21];
    char msisdn[16];
    smsr_bprofile prof[SMSR_BATCH_MAX_PROFILES];
    size_t nprof;
    uint8_t sig[64];
} smsr_brec;

/* A batch being walked: a view of the caller's bytes (which must outlive it). */
typedef struct smsr_batch {
    const char *data;
    size_t len;
    smsr_batch_hdr hdr;
    uint8_t sha256[32];             /* of the whole file */
    size_t count;                   /* records announced by the trailer (= records present) */
    size_t pos;                     /* next line to read */
    size_t line;                    /* its line number */
    size_t body_end;                /* offset of the trailer line */
} smsr_batch;

/* Checks the file as a whole: version 1 header, only '\n' line ends, no blank or overlong line, a
 * trailer as the last line whose count matches the records and whose SHA-256 matches the bytes before
 * it. SM_EPARSE (or SM_EVERIFY for the hash) with a message naming the line; nothing is returned. */
sm_rc smsr_batch_open(const char *data, size_t len, smsr_batch *b, sm_err *err);

/* The next record: SM_OK with *r filled; SM_ENOTFOUND after the last one; SM_EPARSE for a record that
 * breaks the format (r->line and, when readable, r->eid say which; the next call goes on with the
 * following line). */
sm_rc smsr_batch_next(smsr_batch *b, smsr_brec *r, sm_err *err);

/* Field checks shared with the ES1 path. */
bool smsr_oid_ok(const char *s);
/* 32 decimal digits whose value mod 97 is 1 (ISO 7064 mod 97-10, as the EID check digits). */
bool smsr_eid_ok(const char *s);

#endif
