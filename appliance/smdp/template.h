/* template: profile templates of the SM-DP — an unpersonalised profile package (SAIP DER, e.g. the
 * GSMA TS.48 test profiles) decoded and checked (saip_decode + saip_check), then stored as the profile
 * type of that name (db_ptype_put, the package in profile_type.template). The name is the template id
 * that orders name and that is bound into every sealed profile's AAD. A package that fails any check
 * is refused and nothing is stored. */
#ifndef SM_SMDP_TEMPLATE_H
#define SM_SMDP_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/saip.h"
#include "db/pg.h"

#define SMDP_TEMPLATE_ANY_MNO "-" /* owner of a template not bound to one MNO */

typedef struct smdp_template_info {
    char name[65];
    size_t len;              /* package bytes */
    size_t npes;
    unsigned major, minor;   /* SAIP version */
    char iccid[21];          /* the template's (placeholder) ICCID */
    char header_type[101];   /* ProfileHeader profileType, "" when none */
    int64_t required_memory; /* what a download asks the SM-SR for */
} smdp_template_info;

/* A template name from a file name: the base name without its extension, characters outside
 * [A-Za-z0-9._-] replaced by '-', cut to 64. */
void smdp_template_name_from_path(const char *path, char *out, size_t cap);

/* Decodes and checks der; on success stores it as type `name` (1..64 of [A-Za-z0-9._-]) owned by mno
 * (NULL = SMDP_TEMPLATE_ANY_MNO), replacing a previous template of that name, in the caller's
 * transaction (or its own), audited with actor. info (may be NULL) describes what was stored. */
sm_rc smdp_template_import(db_conn *c, const char *actor, const uint8_t *der, size_t len, const char *name,
                           const char *mno, smdp_template_info *info, sm_err *err);

/* Loads and decodes a stored template. *der must stay alive while *pkg is used (free both: saip_free,
 * free). SM_ENOTFOUND when no template of that name was imported. */
sm_rc smdp_template_load(db_conn *c, const char *name, uint8_t **der, size_t *len, saip_pkg **pkg, sm_err *err);

#endif
