/* privs: capability drop through capset/prctl (no libcap needed for a few calls), the user switch, and the
 * janitor. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "daemon/privs.h"

int privs_drop(bool keep_bind_service, bool set_user, uid_t uid, gid_t gid, struct sl_err *e)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	uint32_t keep = 1u << CAP_NET_ADMIN;

	if (keep_bind_service)
		keep |= 1u << CAP_NET_BIND_SERVICE;
	/* the bounding set first: dropping from it needs CAP_SETPCAP, which the user switch takes away */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (cap < 32 && (keep & (1u << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL && errno != EPERM)
			return sl_errf(e, -errno, "drop capability %d from the bounding set: %s", cap, strerror(errno));
	}
	if (set_user) {
		/* keep the permitted set across setuid; the effective set is restored by capset below */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
			return sl_errf(e, -errno, "keepcaps: %s", strerror(errno));
		if (setgroups(0, NULL))
			return sl_errf(e, -errno, "setgroups: %s", strerror(errno));
		if (setresgid(gid, gid, gid))
			return sl_errf(e, -errno, "setresgid %u: %s", (unsigned)gid, strerror(errno));
		if (setresuid(uid, uid, uid))
			return sl_errf(e, -errno, "setresuid %u: %s", (unsigned)uid, strerror(errno));
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	/* both kept capabilities are below 32: the second word is all zero */
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	if (syscall(SYS_capset, &hdr, data))
		return sl_errf(e, -errno, "capset: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return sl_errf(e, -errno, "no_new_privs: %s", strerror(errno));
	return 0;
}

int privs_janitor(const char *path, void (*at_exit)(void *arg), void *arg, struct sl_err *e)
{
	struct stat st;
	int p[2];
	pid_t pid;

	if (stat(path, &st))
		return sl_errf(e, -errno, "janitor: %s: %s", path, strerror(errno));
	if (pipe2(p, O_CLOEXEC))
		return sl_errf(e, -errno, "janitor: pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return sl_errf(e, -errno, "janitor: fork: %s", strerror(errno));
	}
	if (pid > 0) {
		close(p[0]); /* the daemon keeps the write end open for its whole life, never writes to it */
		return 0;
	}
	/* the janitor: nothing of the daemon's but the read end and stderr (for a failure of at_exit) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	close(p[1]);
	for (int fd = 0; fd < 1024; fd++)
		if (fd != p[0] && fd != STDERR_FILENO)
			close(fd);
	prctl(PR_SET_NAME, "sluiced-janitor", 0, 0, 0);
	for (;;) {
		char c;
		ssize_t n = read(p[0], &c, 1);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	struct stat now;
	if (!stat(path, &now) && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
		unlink(path);
	if (at_exit)
		at_exit(arg);
	_exit(0);
}
