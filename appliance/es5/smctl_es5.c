/* smctl es5: the state of ES5 delivery as the database shows it — the queue per state and phase,
 * outcomes of the last hour, notifications, open admin sessions and each node's transports (SMPP
 * link, admin connections) as it last reported them. */
#include <stdio.h>
#include <string.h>

#include "appliance/es5/es5.h"
#include "appliance/smctl.h"

DB_STMT(q_depth, 0,
        "SELECT state, phase, CASE channel WHEN 1 THEN 'sms' WHEN 2 THEN 'https' ELSE '-' END, count(*), "
        "coalesce(extract(epoch FROM now() - min(created_at))::bigint, 0) FROM es5_request WHERE state <> 'done' "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
DB_STMT(q_done, 0,
        "SELECT CASE status WHEN 0 THEN 'ok' WHEN 1 THEN 'card-error' WHEN 2 THEN 'security' WHEN 3 THEN 'expired' "
        "WHEN 4 THEN 'cancelled' ELSE '?' END, count(*) FROM es5_request WHERE state = 'done' AND "
        "done_at > now() - interval '1 hour' GROUP BY 1 ORDER BY 1");
DB_STMT(q_notif, 0,
        "SELECT count(*), coalesce(sum(times - 1), 0) FROM es5_notification WHERE last_at > now() - interval '1 hour'");
DB_STMT(q_sessions, 0, "SELECT count(*) FROM es5_session WHERE last_seen > now() - interval '1 minute'");
DB_STMT(q_nodes, 0,
        "SELECT node, smpp_link, smpp_server, admin_conns, stats, extract(epoch FROM now() - updated_at)::bigint "
        "FROM es5_node ORDER BY node");

void smctl_es5_help(FILE *out)
{
    fprintf(out, "usage: smctl es5 status\n"
                 "  The ES5 delivery queue (requests per state and phase, with the age of the oldest), outcomes\n"
                 "  of the last hour, notifications received, open SCP81 admin sessions, and per node the SMPP\n"
                 "  link and counters it last reported (every 2 s while it runs). docs/es5.md explains them.\n");
}

static int status(smctl_ctx *c, int argc, char **argv)
{
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    sm_err err = {0};
    db_res *r = NULL;
    if (db_exec(db, &q_depth, NULL, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("queue        %s\n", db_res_rows(r) ? "" : "empty");
    for (int i = 0; i < db_res_rows(r); i++)
        printf("  %-7s %-11s %-6s %6lld   oldest %llds\n", db_res_text(r, i, 0), db_res_text(r, i, 1),
               db_res_text(r, i, 2), (long long)db_res_int(r, i, 3), (long long)db_res_int(r, i, 4));
    db_res_free(r);
    r = NULL;
    if (db_exec(db, &q_done, NULL, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("last hour   ");
    for (int i = 0; i < db_res_rows(r); i++)
        printf(" %s %lld", db_res_text(r, i, 0), (long long)db_res_int(r, i, 1));
    printf("%s\n", db_res_rows(r) ? "" : " nothing finished");
    db_res_free(r);
    r = NULL;
    if (db_exec(db, &q_notif, NULL, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("notifications %lld in the last hour (%lld duplicates)\n", (long long)db_res_int(r, 0, 0),
           (long long)db_res_int(r, 0, 1));
    db_res_free(r);
    r = NULL;
    if (db_exec(db, &q_sessions, NULL, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("sessions     %lld admin sessions open\n", (long long)db_res_int(r, 0, 0));
    db_res_free(r);
    r = NULL;
    if (db_exec(db, &q_nodes, NULL, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    for (int i = 0; i < db_res_rows(r); i++)
        printf("node %-8s smpp %s%s%s  admin connections %lld  (%llds ago) %s\n", db_res_text(r, i, 0),
               db_res_text(r, i, 1), *db_res_text(r, i, 2) ? " " : "", db_res_text(r, i, 2),
               (long long)db_res_int(r, i, 3), (long long)db_res_int(r, i, 5), db_res_text(r, i, 4));
    if (!db_res_rows(r))
        printf("nodes        none has reported (is smboxd running?)\n");
    db_res_free(r);
    smctl_audit_cmd(c, argc, argv, "ok");
    return 0;
}

int smctl_es5_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "status"))
        return status(c, argc, argv);
    smctl_es5_help(stderr);
    return 2;
}
