/* YAML configuration: schema-driven parsing (libyaml), defaults, validation, docs. */
#include "appliance/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "appliance/config_schema.h"
#include "lib/secmem.h"

#define MAX_CONFIG_BYTES (1 << 20)
#define MAX_CONFIG_NODES 20000

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static void *field(void *base, size_t off) { return (char *)base + off; }

static sm_rc set_value(const cfg_item *it, void *base, const char *val, const char *file, size_t line,
                       const char *fullkey, sm_err *err)
{
    switch (it->type) {
    case CT_STR:
    case CT_ENUM: {
        if (it->type == CT_ENUM) {
            /* choices are "a|b|c" */
            size_t vl = strlen(val);
            const char *c = it->choices;
            int ok = 0;
            while (c && *c) {
                const char *bar = strchr(c, '|');
                size_t l = bar ? (size_t)(bar - c) : strlen(c);
                if (l == vl && strncmp(c, val, l) == 0)
                    ok = 1;
                c = bar ? bar + 1 : NULL;
            }
            if (!ok)
                return sm_errf(err, SM_ECONFIG, "%s:%zu: key '%s': '%s' is not one of %s", file, line, fullkey, val,
                               it->choices);
        }
        char **p = field(base, it->off);
        free(*p);
        *p = xstrdup(val);
        return SM_OK;
    }
    case CT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (!*val || *end || errno)
            return sm_errf(err, SM_ECONFIG, "%s:%zu: key '%s': expected an integer, got '%s'", file, line, fullkey,
                           val);
        if (v < it->min || v > it->max)
            return sm_errf(err, SM_ECONFIG, "%s:%zu: key '%s': %ld is outside %ld..%ld", file, line, fullkey, v,
                           it->min, it->max);
        *(long *)field(base, it->off) = v;
        return SM_OK;
    }
    case CT_BOOL: {
        bool b;
        if (!strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
            b = true;
        else if (!strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off"))
            b = false;
        else
            return sm_errf(err, SM_ECONFIG, "%s:%zu: key '%s': expected true or false, got '%s'", file, line,
                           fullkey, val);
        *(bool *)field(base, it->off) = b;
        return SM_OK;
    }
    default:
        return sm_errf(err, SM_ECONFIG, "%s:%zu: key '%s': expected a %s, got a scalar", file, line, fullkey,
                       it->type == CT_TABLE ? "list of mappings" : "list");
    }
}

static void apply_defaults(const cfg_item *items, void *base)
{
    for (const cfg_item *it = items; it->key; it++) {
        if (!it->def)
            continue;
        sm_err e = {0};
        set_value(it, base, it->def, "<defaults>", 0, it->key, &e);
    }
}

static const cfg_item *find_item(const cfg_item *items, const char *key)
{
    for (const cfg_item *it = items; it->key; it++)
        if (strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

static bool is_prefix(const cfg_item *items, const char *prefix)
{
    size_t l = strlen(prefix);
    for (const cfg_item *it = items; it->key; it++)
        if (strncmp(it->key, prefix, l) == 0 && it->key[l] == '.')
            return true;
    return false;
}

typedef struct walk {
    yaml_document_t *doc;
    const char *file;
    sm_err *err;
    unsigned nodes;
} walk;

static size_t line_of(yaml_node_t *n) { return n->start_mark.line + 1; }

static sm_rc walk_mapping(walk *w, yaml_node_t *map, const cfg_item *items, void *base, const char *prefix,
                          const char *fullprefix);

/* out = prefix "." key (or key alone); false when it does not fit. */
static bool join_key(char *out, size_t cap, const char *prefix, const char *key)
{
    size_t pl = strlen(prefix), kl = strlen(key);
    if (pl + kl + 2 > cap)
        return false;
    memcpy(out, prefix, pl);
    if (pl)
        out[pl++] = '.';
    memcpy(out + pl, key, kl + 1);
    return true;
}

static sm_rc walk_scalar_list(walk *w, yaml_node_t *seq, const cfg_item *it, void *base, const char *fullkey)
{
    sm_strlist *l = field(base, it->off);
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
        yaml_node_t *n = yaml_document_get_node(w->doc, *i);
        if (!n || n->type != YAML_SCALAR_NODE)
            return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s': list items must be scalars", w->file,
                           n ? line_of(n) : 0, fullkey);
        char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
        if (!nv)
            return sm_errf(w->err, SM_ENOMEM, "config: out of memory");
        l->v = nv;
        l->v[l->n++] = strdup((const char *)n->data.scalar.value);
    }
    return SM_OK;
}

static sm_rc walk_table(walk *w, yaml_node_t *seq, const cfg_item *it, void *base, const char *fullkey)
{
    void **arr = field(base, it->off);
    size_t *cnt = field(base, it->count_off);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > 10000)
        return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s': more than 10000 entries", w->file, line_of(seq),
                       fullkey);
    char *a = calloc(n ? n : 1, it->elem_size);
    if (!a)
        return sm_errf(w->err, SM_ENOMEM, "config: out of memory");
    *arr = a;
    *cnt = n;
    size_t idx = 0;
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++, idx++) {
        yaml_node_t *n2 = yaml_document_get_node(w->doc, *i);
        char fk[300];
        snprintf(fk, sizeof fk, "%.250s[%zu]", fullkey, idx);
        if (!n2 || n2->type != YAML_MAPPING_NODE)
            return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s': expected a mapping", w->file,
                           n2 ? line_of(n2) : 0, fk);
        void *elem = a + idx * it->elem_size;
        apply_defaults(it->sub, elem);
        sm_rc rc = walk_mapping(w, n2, it->sub, elem, "", fk);
        if (rc != SM_OK)
            return rc;
        for (const cfg_item *s = it->sub; s->key; s++)
            if ((s->flags & CF_REQUIRED) && (s->type == CT_STR || s->type == CT_ENUM) && !*(char **)field(elem, s->off))
                return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s.%s' is required", w->file, line_of(n2), fk,
                               s->key);
    }
    return SM_OK;
}

static sm_rc walk_mapping(walk *w, yaml_node_t *map, const cfg_item *items, void *base, const char *prefix,
                          const char *fullprefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        if (++w->nodes > MAX_CONFIG_NODES)
            return sm_errf(w->err, SM_ECONFIG, "%s: more than %d nodes", w->file, MAX_CONFIG_NODES);
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return sm_errf(w->err, SM_ECONFIG, "%s:%zu: keys must be plain scalars", w->file, k ? line_of(k) : 0);
        char key[256], full[300];
        const char *ks = (const char *)k->data.scalar.value;
        if (!join_key(key, sizeof key, prefix, ks) || !join_key(full, sizeof full, fullprefix, ks))
            return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key too long", w->file, line_of(k));
        const cfg_item *it = find_item(items, key);
        if (it) {
            sm_rc rc;
            if (v->type == YAML_SCALAR_NODE) {
                rc = set_value(it, base, (const char *)v->data.scalar.value, w->file, line_of(v), full, w->err);
            } else if (v->type == YAML_SEQUENCE_NODE && it->type == CT_STRLIST) {
                rc = walk_scalar_list(w, v, it, base, full);
            } else if (v->type == YAML_SEQUENCE_NODE && it->type == CT_TABLE) {
                rc = walk_table(w, v, it, base, full);
            } else {
                rc = sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s': expected a %s", w->file, line_of(v), full,
                             cfg_type_name(it->type));
            }
            if (rc != SM_OK)
                return rc;
            continue;
        }
        if (is_prefix(items, key)) {
            if (v->type != YAML_MAPPING_NODE)
                return sm_errf(w->err, SM_ECONFIG, "%s:%zu: key '%s' is a section: expected a mapping", w->file,
                               line_of(v), full);
            sm_rc rc = walk_mapping(w, v, items, base, key, full);
            if (rc != SM_OK)
                return rc;
            continue;
        }
        if (strstr(ks, "pin") || strstr(ks, "password") || strstr(ks, "secret"))
            return sm_errf(w->err, SM_ECONFIG,
                           "%s:%zu: unknown key '%s' (secrets never go in the file: name a *_file or *_env instead)",
                           w->file, line_of(k), full);
        return sm_errf(w->err, SM_ECONFIG, "%s:%zu: unknown key '%s'", w->file, line_of(k), full);
    }
    return SM_OK;
}

static sm_rc validate(const sm_config *c, const char *file, sm_err *err)
{
    for (const cfg_item *it = cfg_schema; it->key; it++) {
        if (!(it->flags & CF_REQUIRED))
            continue;
        if ((it->type == CT_STR || it->type == CT_ENUM) && (!*(char **)field((void *)c, it->off) ||
                                                            !**(char **)field((void *)c, it->off)))
            return sm_errf(err, SM_ECONFIG, "%s: required key '%s' is missing", file, it->key);
    }
    bool pf = c->hsm.pin_file && *c->hsm.pin_file, pe = c->hsm.pin_env && *c->hsm.pin_env;
    if (pf && pe)
        return sm_errf(err, SM_ECONFIG, "%s: keys 'hsm.pin_file' and 'hsm.pin_env' are both set: choose one", file);
    bool df = c->database.password_file && *c->database.password_file,
         de = c->database.password_env && *c->database.password_env;
    if (df && de)
        return sm_errf(err, SM_ECONFIG,
                       "%s: keys 'database.password_file' and 'database.password_env' are both set: choose one", file);
    if (c->database.dsn && *c->database.dsn && strncmp(c->database.dsn, "postgresql://", 13) &&
        strncmp(c->database.dsn, "postgres://", 11))
        return sm_errf(err, SM_ECONFIG, "%s: key 'database.dsn' must be a postgresql:// URI", file);
    if (c->database.dsn && strchr(c->database.dsn, '@')) {
        const char *at = strchr(c->database.dsn, '@');
        const char *colon = strchr(c->database.dsn + 13, ':');
        if (colon && colon < at)
            return sm_errf(err, SM_ECONFIG,
                           "%s: key 'database.dsn' carries a password: use database.password_file or _env", file);
    }
    return SM_OK;
}

sm_rc sm_config_load(const char *path, sm_config **out, sm_err *err)
{
    sm_config *c = calloc(1, sizeof *c);
    if (!c)
        return sm_errf(err, SM_ENOMEM, "config: out of memory");
    apply_defaults(cfg_schema, c);
    if (!path) {
        sm_rc rc = validate(c, "<defaults>", err);
        if (rc != SM_OK) {
            sm_config_free(c);
            return rc;
        }
        *out = c;
        return SM_OK;
    }
    c->path = strdup(path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        sm_rc rc = sm_errf(err, SM_ECONFIG, "%s: cannot open: %s", path, strerror(errno));
        sm_config_free(c);
        return rc;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > MAX_CONFIG_BYTES) {
        fclose(f);
        sm_config_free(c);
        return sm_errf(err, SM_ECONFIG, "%s: larger than %d bytes", path, MAX_CONFIG_BYTES);
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    sm_rc rc = SM_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = sm_errf(err, SM_ECONFIG, "%s:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        fclose(f);
        sm_config_free(c);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        rc = sm_errf(err, SM_ECONFIG, "%s:%zu: the top level must be a mapping", path, line_of(root));
    } else if (root) {
        walk w = {&doc, path, err, 0};
        rc = walk_mapping(&w, root, cfg_schema, c, "", "");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc == SM_OK)
        rc = validate(c, path, err);
    if (rc != SM_OK) {
        sm_config_free(c);
        return rc;
    }
    *out = c;
    return SM_OK;
}

static void free_items(const cfg_item *items, void *base)
{
    for (const cfg_item *it = items; it->key; it++) {
        if (it->type == CT_STR || it->type == CT_ENUM) {
            free(*(char **)field(base, it->off));
        } else if (it->type == CT_STRLIST) {
            sm_strlist *l = field(base, it->off);
            for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
            free(l->v);
        } else if (it->type == CT_TABLE) {
            char *a = *(char **)field(base, it->off);
            size_t n = *(size_t *)field(base, it->count_off);
            for (size_t i = 0; a && i < n; i++)
                free_items(it->sub, a + i * it->elem_size);
            free(a);
        }
    }
}

void sm_config_free(sm_config *cfg)
{
    if (!cfg)
        return;
    free_items(cfg_schema, cfg);
    free(cfg->path);
    free(cfg);
}

sm_rc sm_config_secret(const char *file, const char *env, const char *what, char **out, size_t *len, sm_err *err)
{
    sm_rc rc;
    if (file && *file)
        rc = sm_secmem_read_file(file, out, len, err);
    else if (env && *env)
        rc = sm_secmem_from_env(env, out, len, err);
    else
        rc = sm_errf(err, SM_ECONFIG, "no %s configured (set its *_file or *_env key)", what);
    if (rc != SM_OK)
        sm_err_prefix(err, "reading the %s", what);
    return rc;
}

void sm_config_var_path(const sm_config *cfg, const char *rel, char *out, size_t cap)
{
    if (!rel || !*rel) {
        snprintf(out, cap, "%s", "");
        return;
    }
    if (rel[0] == '/' || !cfg->node.var_dir || !*cfg->node.var_dir)
        snprintf(out, cap, "%s", rel);
    else
        snprintf(out, cap, "%s/%s", cfg->node.var_dir, rel);
}

static void doc_items(FILE *out, const cfg_item *items, const char *indent)
{
    for (const cfg_item *it = items; it->key; it++) {
        const char *def = it->def ? it->def : "";
        char type[160];
        if (it->type == CT_ENUM) {
            size_t o = (size_t)snprintf(type, sizeof type, "one of ");
            for (const char *c = it->choices; *c && o + 4 < sizeof type; c++) {
                if (*c == '|') {
                    o += (size_t)snprintf(type + o, sizeof type - o, ", ");
                } else {
                    type[o++] = *c;
                    type[o] = 0;
                }
            }
        } else if (it->type == CT_INT) {
            snprintf(type, sizeof type, "integer %ld..%ld", it->min, it->max);
        } else {
            snprintf(type, sizeof type, "%s", cfg_type_name(it->type));
        }
        fprintf(out, "| `%s` | %s | %s%s%s | %s%s |\n", it->key, type, *def ? "`" : "", *def ? def : "—",
                *def ? "`" : "", it->doc, (it->flags & CF_REQUIRED) ? " **Required.**" : "");
        if (it->type == CT_TABLE) {
            fprintf(out, "\nEach entry of `%s`:\n\n| key | type | default | meaning |\n|---|---|---|---|\n", it->key);
            doc_items(out, it->sub, "  ");
            fprintf(out, "\n| key | type | default | meaning |\n|---|---|---|---|\n");
        }
    }
    (void)indent;
}

void sm_config_write_docs(FILE *out)
{
    fprintf(out, "# smbox configuration reference\n\n"
                 "Generated from the schema in `appliance/config_schema.c` by `smctl config docs`; "
                 "`make test` checks that this file matches it.\n\n"
                 "One YAML file, given to `smboxd -c FILE` and `smctl -c FILE` (or `$SMBOX_CONFIG`). Without a "
                 "file the embedded defaults below apply: they run the appliance from the working directory, "
                 "with its state under `var/`. Unknown keys, wrong types and missing required values stop the "
                 "start with the file, line and key named; `smctl config check FILE` runs the same checks.\n\n"
                 "Secrets (HSM PIN, database password) never sit in the file: a `*_file` key names a file "
                 "(mode 0600 or stricter), a `*_env` key an environment variable. Relative paths are taken "
                 "from `node.var_dir`.\n\n");
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    doc_items(out, cfg_schema, "");
    fprintf(out, "\nKeys marked *restart* in their description take effect at the next start; the others are "
                 "re-read on SIGHUP.\n");
}

static void dump_items(const cfg_item *items, const void *base, FILE *out, const char *indent)
{
    const char *prev_section = "";
    size_t prev_len = 0;
    for (const cfg_item *it = items; it->key; it++) {
        const char *dot = strrchr(it->key, '.');
        size_t sl = dot ? (size_t)(dot - it->key) : 0;
        if (sl && (sl != prev_len || strncmp(prev_section, it->key, sl))) {
            fprintf(out, "%s%.*s:\n", indent, (int)sl, it->key);
            prev_section = it->key;
            prev_len = sl;
        }
        const char *name = dot ? dot + 1 : it->key;
        const char *in2 = sl ? "  " : "";
        switch (it->type) {
        case CT_STR:
        case CT_ENUM: {
            const char *v = *(char *const *)field((void *)base, it->off);
            fprintf(out, "%s%s%s: \"%s\"\n", indent, in2, name, v ? v : "");
            break;
        }
        case CT_INT:
            fprintf(out, "%s%s%s: %ld\n", indent, in2, name, *(const long *)field((void *)base, it->off));
            break;
        case CT_BOOL:
            fprintf(out, "%s%s%s: %s\n", indent, in2, name,
                    *(const bool *)field((void *)base, it->off) ? "true" : "false");
            break;
        case CT_STRLIST: {
            const sm_strlist *l = field((void *)base, it->off);
            fprintf(out, "%s%s%s: [", indent, in2, name);
            for (size_t i = 0; i < l->n; i++)
                fprintf(out, "%s\"%s\"", i ? ", " : "", l->v[i]);
            fprintf(out, "]\n");
            break;
        }
        case CT_TABLE: {
            const char *a = *(char *const *)field((void *)base, it->off);
            size_t n = *(const size_t *)field((void *)base, it->count_off);
            fprintf(out, "%s%s%s:%s\n", indent, in2, name, n ? "" : " []");
            for (size_t i = 0; i < n; i++) {
                fprintf(out, "%s%s  -\n", indent, in2);
                dump_items(it->sub, a + i * it->elem_size, out, "      ");
            }
            break;
        }
        }
    }
}

void sm_config_dump(const sm_config *cfg, FILE *out) { dump_items(cfg_schema, cfg, out, ""); }
