/* smctl_tool: `smctl tool`, offline crypto for operators and auditors — CMAC, the X9.63 and SCP03
 * KDFs, SCP03 and SCP80 wrapping, PoR checking, TLV and certificate inspection, chain checks and a
 * full off-card key establishment. Test keys only, in a throw-away development token (devtoken). */
#ifndef SM_SMCTL_TOOL_H
#define SM_SMCTL_TOOL_H

#include <stdio.h>

/* argv[0] is "tool", argv[1] the subcommand. Returns the exit status (0 ok, 1 error, 2 usage). */
int smctl_tool_main(int argc, char **argv);
void smctl_tool_help(FILE *out);

#endif
