/* import: a whole EUM batch file into the EIS repository (smctl euicc import, ES1.ImportEISBatch) —
 * the file checked as a whole (format, trailer, EUM certificate, transport key), then each record
 * on its own: all or nothing per record, with a report line for every record refused. */
#ifndef SM_SMSR_IMPORT_H
#define SM_SMSR_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "appliance/smsr/register.h"

typedef struct smsr_import_rej {
    size_t line;
    char eid[33];             /* "" when the record is too broken to name it */
    smsr_why why;
    char reason[400];
} smsr_import_rej;

typedef struct smsr_import_report {
    uint8_t sha256[32];
    char eum_id[65], tk_id[41];
    size_t records, imported, unchanged;
    smsr_import_rej *rej;     /* malloc'd */
    size_t nrej;
    bool seen_before;         /* this very file was imported before (imported_at in seen_at) */
    char seen_at[32];
} smsr_import_report;

/* Imports inside the caller's open transaction (each record in its own savepoint; the caller
 * commits). SM_OK when the file was read as a whole, whatever became of its records (see rep);
 * an error refuses the whole file with nothing stored (*why says which check). caller_eum, when set
 * (an EUM uploading over ES1), must be the batch's EUM. */
sm_rc smsr_import_batch(const smsr_ctx *x, hsm_sess *s, db_conn *c, const char *actor, const char *caller_eum,
                        const char *data, size_t len, smsr_import_report *rep, smsr_why *why, sm_err *err);
void smsr_import_report_free(smsr_import_report *rep);

#endif
