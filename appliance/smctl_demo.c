/* smctl demo: one ES2.DownloadProfile as the development MNO would send it, step by step. */
#include <stdio.h>

#include "appliance/smctl.h"

void smctl_demo_help(FILE *out) { fprintf(out, "  download [--eid EID] [--iccid ICCID]\n"); }

int smctl_demo_main(smctl_ctx *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    return smctl_fail("demo: not yet");
}
