/* resolvconf: the servers and search domains as a resolv.conf fragment on the standard input of
 * `resolvconf -a tun.IFACE -m 0 -x` (like wg-quick: the "tun." prefix orders it first with Debian's
 * resolvconf, -m 0 -x make it preferred and exclusive with openresolv), removed with `resolvconf -d tun.IFACE
 * -f`. Running that program is its interface; it is the one program sluice runs. posix_spawnp: the daemon has
 * threads, and the child starts with an empty signal mask (the daemon blocks the ones it reads). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dns/dns.h"

#define RESOLVCONF_PROG "resolvconf"

extern char **environ;

/* Runs resolvconf with `args`, `input` on its stdin (or /dev/null). 0, or -errno / -EPROTO (non-zero exit). */
static int run(char *const args[], const char *input, size_t len, struct sl_err *e)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int p[2], ret, status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return sl_errf(e, -errno, "dns: pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	ret = posix_spawnp(&pid, RESOLVCONF_PROG, &fa, &attr, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[0]);
	if (ret) {
		close(p[1]);
		return sl_errf(e, -ret, "dns: run %s: %s", RESOLVCONF_PROG, strerror(ret));
	}
	/* a fragment is far below the pipe's buffer: written whole before the child reads */
	if (len) {
		ssize_t w = write(p[1], input, len);
		if (w != (ssize_t)len)
			ret = w < 0 ? -errno : -EIO;
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return sl_errf(e, -errno, "dns: wait for %s: %s", RESOLVCONF_PROG, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return sl_errf(e, -EPROTO, "dns: `%s %s %s` failed (%s %d)", RESOLVCONF_PROG, args[1], args[2],
			       WIFEXITED(status) ? "exit status" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (ret)
		return sl_errf(e, ret, "dns: write to %s: %s", RESOLVCONF_PROG, strerror(-ret));
	return 0;
}

static void record_name(const struct dns_target *t, char *buf, size_t n)
{
	snprintf(buf, n, "tun.%s", t->ifname);
}

static int resolvconf_apply(const struct dns_target *t, const struct dns_config *dc, struct sl_err *e)
{
	char name[IFNAMSIZ + 8], text[4096];
	char *args[] = {RESOLVCONF_PROG, "-a", name, "-m", "0", "-x", NULL};
	int len;

	record_name(t, name, sizeof(name));
	len = dns_format_resolv_conf(dc, NULL, text, sizeof(text));
	if (len < 0)
		return sl_errf(e, len, "dns: resolv.conf text too long");
	return run(args, text, (size_t)len, e);
}

static int resolvconf_revert(const struct dns_target *t, struct sl_err *e)
{
	char name[IFNAMSIZ + 8];
	char *args[] = {RESOLVCONF_PROG, "-d", name, "-f", NULL};
	int ret;

	record_name(t, name, sizeof(name));
	ret = run(args, NULL, 0, e);
	return ret ? ret : 1;
}

const struct dns_backend_ops dns_resolvconf_ops = {
	.name = "resolvconf",
	.apply = resolvconf_apply,
	.revert = resolvconf_revert,
};
