/* The smctl command table: one line per command. */
#include "appliance/smctl.h"
#include "appliance/smctl_tool.h"

/* `smctl tool` needs no configuration, HSM or database of the appliance. */
static int tool_main(smctl_ctx *c, int argc, char **argv)
{
    (void)c;
    return smctl_tool_main(argc, argv);
}

const smctl_cmd smctl_cmds[] = {
    {"config", "check FILE | show | docs", "validate, show or document the configuration", smctl_config_main,
     smctl_config_help},
    {"hsm", "init | list | status | init-token", "key ceremony and HSM inspection", smctl_hsm_main, smctl_hsm_help},
    {"es", "functions | openapi | dev-pki", "ES function table, OpenAPI description, development TLS certificate",
     smctl_es_main, smctl_es_help},
    {"profile", "check-template | import-template FILE | stock TYPE",
     "check and import SM-DP profile templates (SAIP), stock counts", smctl_profile_main, smctl_profile_help},
    {"order", "dry-run | import ORDERFILE", "run an SM-DP batch order in memory, or import it into stock",
     smctl_order_main, smctl_order_help},
    {"mno", "transport-key import --mno ID FILE", "MNO transport keys (development import into the HSM)",
     smctl_mno_main, smctl_mno_help},
    {"demo", "download [--eid EID] [--iccid ICCID]", "one ES2.DownloadProfile as the development MNO, step by step",
     smctl_demo_main, smctl_demo_help},
    {"db", "start | stop | status | migrate", "embedded PostgreSQL, schema status and migrations", smctl_db_main,
     smctl_db_help},
    {"audit", "verify | export | checkpoint", "verify the audit trail (or a bundle offline), export it",
     smctl_audit_main, smctl_audit_help},
    {"euicc", "import FILE | eum add | transport-key import | owner | show",
     "SM-SR: register eUICCs from EUM batch files, EUM certificates, eUICC owner, show an EIS", smctl_euicc_main,
     smctl_euicc_help},
    {"es5", "status", "ES5 delivery to eUICCs: queue depth per state, outcomes, sessions, SMPP link per node",
     smctl_es5_main, smctl_es5_help},
    {"tool", "SUBCOMMAND [ARGS] (see help tool)",
     "offline crypto for operators and auditors (test keys only)", tool_main, smctl_tool_help},
    {NULL, NULL, NULL, NULL, NULL},
};
