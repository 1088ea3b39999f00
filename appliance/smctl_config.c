/* smctl config: check, show, docs. */
#include <string.h>

#include "appliance/smctl.h"

void smctl_config_help(FILE *out)
{
    fprintf(out, "  check FILE   validate FILE as smboxd would at start (file, line and key of the first problem)\n"
                 "  show         print the effective configuration (defaults merged with -c FILE)\n"
                 "  docs         print the configuration reference (docs/config.md) generated from the schema\n");
}

int smctl_config_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "check")) {
        if (argc != 3)
            return smctl_fail("usage: smctl config check FILE");
        sm_config *cfg = NULL;
        sm_err err = {0};
        if (sm_config_load(argv[2], &cfg, &err) != SM_OK)
            return smctl_fail("%s", err.msg);
        sm_config_free(cfg);
        printf("%s: OK\n", argv[2]);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "show")) {
        const sm_config *cfg = smctl_config(c);
        if (!cfg)
            return 1;
        sm_config_dump(cfg, stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "docs")) {
        sm_config_write_docs(stdout);
        return 0;
    }
    smctl_config_help(stderr);
    return 2;
}
