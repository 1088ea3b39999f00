/* smctl: the operator's console (run locally or over SSH). `smctl help` lists the commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smctl.h"
#include "lib/log.h"
#include "lib/secmem.h"

static void help_all(FILE *out)
{
    fprintf(out, "usage: smctl [-c FILE] COMMAND [ARGS]\n\n"
                 "The smbox operator's console. -c names the configuration (default: $SMBOX_CONFIG, else the\n"
                 "embedded defaults). `smctl help COMMAND` shows the details of one command.\n\ncommands:\n");
    fprintf(out, "  %-10s %-38s %s\n", "help", "[COMMAND]", "this list, or one command's help");
    for (const smctl_cmd *c = smctl_cmds; c->name; c++)
        fprintf(out, "  %-10s %-38s %s\n", c->name, c->synopsis, c->summary);
}

static const smctl_cmd *find(const char *name)
{
    for (const smctl_cmd *c = smctl_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    sm_log_init("smctl", SM_LOG_WARN, 2);
    sm_secmem_harden_process();
    smctl_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.config_path = getenv("SMBOX_CONFIG");
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            ctx.config_path = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help_all(stdout);
            return 0;
        } else {
            fprintf(stderr, "smctl: unknown option %s\n", argv[i]);
            help_all(stderr);
            return 2;
        }
    }
    if (ctx.config_path && !*ctx.config_path)
        ctx.config_path = NULL;
    if (i >= argc || !strcmp(argv[i], "help")) {
        if (i + 1 < argc) {
            const smctl_cmd *c = find(argv[i + 1]);
            if (!c) {
                fprintf(stderr, "smctl: no command '%s'\n", argv[i + 1]);
                return 2;
            }
            fprintf(stdout, "usage: smctl %s %s\n\n", c->name, c->synopsis);
            if (c->help)
                c->help(stdout);
            return 0;
        }
        help_all(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    const smctl_cmd *c = find(argv[i]);
    if (!c) {
        fprintf(stderr, "smctl: no command '%s' (see `smctl help`)\n", argv[i]);
        return 2;
    }
    int rc = c->run(&ctx, argc - i, argv + i);
    if (ctx.sess)
        hsm_session_put(ctx.sess);
    hsm_close(ctx.hsm);
    sm_config_free(ctx.cfg);
    return rc;
}
