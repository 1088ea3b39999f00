/* The eUICC's ISD-R keys for ES5: SCP80 KIc/KID unwrapped from the database into session objects for
 * one packet (destroyed right after), the SCP81 key set's identifiers for the push. */
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "db/eis_repo.h"

static const db_key *key_of(const db_keyset *ks, int index)
{
    for (size_t i = 0; i < ks->nkeys; i++)
        if (ks->keys[i].index == index)
            return &ks->keys[i];
    return NULL;
}

/* The key set of a type: kvn given, or the lowest of that type. */
static sm_rc find_set(db_conn *c, const char *eid, const char *type, int kvn, db_keyset *out, sm_err *err)
{
    if (kvn > 0) {
        sm_rc rc = db_keyset_get(c, eid, kvn, out, err);
        if (rc == SM_OK && strcmp(out->type, type) != 0)
            rc = sm_errf(err, SM_ESTATE, "es5: key set %d of %s is %s, not %s", kvn, eid, out->type, type);
        return rc;
    }
    int *kv = NULL;
    size_t n = 0;
    sm_rc rc = db_keyset_list(c, eid, &kv, &n, err);
    bool found = false;
    for (size_t i = 0; rc == SM_OK && i < n && !found; i++) {
        rc = db_keyset_get(c, eid, kv[i], out, err);
        found = rc == SM_OK && !strcmp(out->type, type);
    }
    free(kv);
    if (rc == SM_OK && !found)
        rc = sm_errf(err, SM_ENOTFOUND, "es5: eUICC %s has no ISD-R %s key set", eid, type);
    return rc;
}

sm_rc es5_keys_scp80(db_conn *c, hsm_sess *s, const hsm_key *kek, const char *eid, int kvn, es5_keys *out,
                     sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_keyset ks;
    sm_rc rc = find_set(c, eid, "SCP80", kvn, &ks, err);
    if (rc != SM_OK)
        return rc;
    if (ks.kvn < 1 || ks.kvn > 15)
        return sm_errf(err, SM_ESTATE, "es5: SCP80 key set version %d of %s is outside 1..15", ks.kvn, eid);
    const db_key *kic = key_of(&ks, 1), *kid = key_of(&ks, 2);
    if (!kic || !kid)
        return sm_errf(err, SM_ESTATE, "es5: SCP80 key set %d of %s lacks KIc (1) or KID (2)", ks.kvn, eid);
    if (kic->key_type != 0x88 || kid->key_type != 0x88)
        return sm_errf(err, SM_EMECH, "es5: SCP80 key set %d of %s is not AES (key type %02X)", ks.kvn, eid,
                       kic->key_type);
    hsm_keyspec sic, sid;
    scp80_kic_keyspec(HSM_KT_AES, 16, false, &sic);
    scp80_kid_keyspec(HSM_KT_AES, 16, false, &sid);
    rc = hsm_unwrap(s, kek, kic->wrapped, kic->wrapped_len, &sic, &out->kic, err);
    if (rc == SM_OK) {
        rc = hsm_unwrap(s, kek, kid->wrapped, kid->wrapped_len, &sid, &out->kid, err);
        if (rc != SM_OK)
            hsm_key_destroy(s, &out->kic, NULL);
    }
    if (rc != SM_OK) {
        sm_err_prefix(err, "es5: unwrapping the SCP80 keys of %s (key set %d)", eid, ks.kvn);
        return rc;
    }
    out->kvn = ks.kvn;
    out->have = true;
    return SM_OK;
}

void es5_keys_drop(hsm_sess *s, es5_keys *k)
{
    if (k->have) {
        hsm_key_destroy(s, &k->kic, NULL);
        hsm_key_destroy(s, &k->kid, NULL);
    }
    k->have = false;
}

sm_rc es5_keys_scp81_ids(db_conn *c, const char *eid, int *kvn, int *key_id, sm_err *err)
{
    db_keyset ks;
    sm_rc rc = find_set(c, eid, "SCP81", 0, &ks, err);
    if (rc != SM_OK)
        return rc;
    if (ks.kvn < 0x40 || ks.kvn > 0x4F || ks.nkeys == 0)
        return sm_errf(err, SM_ESTATE, "es5: the SCP81 key set of %s (version %02X) is unusable", eid, ks.kvn);
    *kvn = ks.kvn;
    *key_id = ks.keys[0].index;
    return SM_OK;
}

sm_rc es5_keys_psk(db_conn *c, hsm_sess *s, const hsm_key *kek, const char *eid, int kvn, int key_id, scp81_psk *out,
                   sm_err *err)
{
    db_keyset ks;
    sm_rc rc = find_set(c, eid, "SCP81", kvn, &ks, err);
    if (rc != SM_OK)
        return rc;
    const db_key *k = key_of(&ks, key_id);
    if (!k)
        return sm_errf(err, SM_ENOTFOUND, "es5: SCP81 key set %02X of %s has no key %d", kvn, eid, key_id);
    rc = scp81_psk_load(s, kek, k->wrapped, k->wrapped_len, out, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "es5: loading the SCP81 PSK of %s", eid);
    return rc;
}
