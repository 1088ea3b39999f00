/* image/: operators reach smctl over SSH and nothing else. A throw-away sshd on 127.0.0.1 with
 * image/smctl-ssh as its ForceCommand; the client runs commands through it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testenv.h"

static char dir[256];
static int port;
static pid_t sshd_pid;
static const char *bin;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static int port_open(int p)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Runs `ssh ... -- CMD` through the forced command; output in dir/out. */
static int ssh_run(const char *cmd)
{
    return testenv_sh("ssh -T -i %s/client -p %d -o BatchMode=yes -o StrictHostKeyChecking=no "
                      "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR %s@127.0.0.1 %s >%s/out 2>&1",
                      dir, port, getenv("USER") ? getenv("USER") : "root", cmd, dir);
}

static int out_has(const char *needle)
{
    return testenv_sh("grep -qF -- '%s' %s/out", needle, dir) == 0;
}

static int setup(void **state)
{
    bin = getenv("SMBOX_BIN_DIR");
    if (!bin || access("/usr/sbin/sshd", X_OK) != 0)
        return 0; /* the tests skip */
    if (!getenv("USER")) {
        char u[64];
        snprintf(u, sizeof u, "%s", getuid() == 0 ? "root" : "nobody");
        setenv("USER", u, 1);
    }
    if (testenv_mkdtemp(dir, sizeof dir, "smbox-ssh") != 0)
        return -1;
    chmod(dir, 0755);
    if (testenv_sh("ssh-keygen -q -t ed25519 -N '' -f %s/hostkey && ssh-keygen -q -t ed25519 -N '' -f %s/client && "
                   "cp %s/client.pub %s/authorized_keys && chmod 600 %s/authorized_keys",
                   dir, dir, dir, dir, dir) != 0)
        return -1;
    port = free_port();
    char conf[512], src[1024];
    snprintf(conf, sizeof conf, "%s/sshd_config", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "Port %d\nListenAddress 127.0.0.1\nHostKey %s/hostkey\nPidFile %s/sshd.pid\n"
            "AuthorizedKeysFile %s/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nAllowTcpForwarding no\n"
            "AllowAgentForwarding no\nX11Forwarding no\nLogLevel ERROR\n"
            "ForceCommand %s/image/smctl-ssh %s/smctl\n",
            port, dir, dir, dir, testenv_path(src, sizeof src, ""), bin);
    fclose(f);
    if (getuid() == 0)
        mkdir("/run/sshd", 0755); /* privilege separation directory */
    sshd_pid = fork();
    if (sshd_pid == 0) {
        execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_open(port); i++)
        usleep(50000);
    return port_open(port) ? 0 : -1;
}

static int teardown(void **state)
{
    if (sshd_pid > 0) {
        kill(sshd_pid, SIGTERM);
        waitpid(sshd_pid, NULL, 0);
    }
    if (dir[0])
        testenv_rmtree(dir);
    return 0;
}

#define NEED_SSHD()                                                                                 \
    do {                                                                                            \
        if (sshd_pid <= 0)                                                                          \
            skip();                                                                                 \
    } while (0)

static void test_help_over_ssh(void **state)
{
    NEED_SSHD();
    assert_int_equal(ssh_run("help"), 0);
    assert_true(out_has("commands:"));
    assert_true(out_has("hsm"));
    /* a login without a command gets the help, not a shell */
    assert_int_equal(ssh_run(""), 0);
    assert_true(out_has("commands:"));
}

static void test_only_smctl(void **state)
{
    NEED_SSHD();
    /* shell syntax is not interpreted: smctl gets the words as arguments and refuses them */
    assert_int_not_equal(ssh_run("'config check /nonexistent; id'"), 0);
    assert_false(out_has("uid="));
    assert_true(out_has("usage: smctl config check FILE")); /* it saw two words after check */
    assert_int_not_equal(ssh_run("'config check /nonexistent;id'"), 0);
    assert_false(out_has("uid="));
    assert_true(out_has("/nonexistent;id: cannot open"));
    assert_int_not_equal(ssh_run("'$(id)'"), 0);
    assert_false(out_has("uid="));
    assert_true(out_has("no command") && out_has("$(id)"));
    assert_int_equal(ssh_run("no-such-command"), 2);
    /* globbing is off: '*' reaches smctl as is */
    assert_int_not_equal(ssh_run("'config check *'"), 0);
    assert_true(out_has("*: cannot open"));
}

static void test_config_check_over_ssh(void **state)
{
    NEED_SSHD();
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/good.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "log:\n  level: debug\n");
    fclose(f);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'config check %s'", cfg);
    assert_int_equal(ssh_run(cmd), 0);
    assert_true(out_has(": OK"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_over_ssh),
        cmocka_unit_test(test_only_smctl),
        cmocka_unit_test(test_config_check_over_ssh),
    };
    return cmocka_run_group_tests_name("ssh_admin", tests, setup, teardown);
}
