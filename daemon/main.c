/* sluiced: parse the command line and the config, then run the gateway or the client. Exit status: 0 clean
 * stop, 1 runtime failure at start-up, 2 usage or configuration error. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon/dataplane/worker.h"
#include "daemon/client.h"
#include "daemon/config.h"
#include "daemon/gateway.h"
#include "daemon/log.h"
#include "version.h"

static int ready_fd = -1;

static void usage(FILE *f)
{
	fprintf(f, "Usage: sluiced -c FILE [-f] [-v]\n"
		   "       sluiced -t -c FILE\n"
		   "       sluiced -V | -h\n"
		   "  -c, --config FILE  configuration file (e.g. /etc/sluice/sl0.conf)\n"
		   "  -t, --check        check the configuration and its key file, touching nothing else; exit 0 or 2\n"
		   "  -f, --foreground   stay in the foreground (default: detach once the tunnel is up)\n"
		   "  -v, --verbose      verbose (debug) logging\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         print this help\n"
		   "Exit status: 0 stopped cleanly, 1 start-up failure, 2 usage or configuration error.\n");
}

/* sd_notify(READY=1) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify_systemd(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

static void ready(void)
{
	notify_systemd();
	if (ready_fd >= 0) {
		/* tell the waiting parent we are up, then detach from the terminal */
		if (write(ready_fd, "1", 1) != 1) {
			/* parent gone: nothing to tell */
		}
		close(ready_fd);
		ready_fd = -1;
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			close(null);
		}
	}
}

/* The descriptors a busy daemon holds (up to 512 control connections, two streams per peer, the workers' TUN
 * queues and sockets) pass the usual soft limit of 1,024: the soft RLIMIT_NOFILE goes up to the hard one,
 * never down. What it is now is logged; a failure costs nothing but the higher limit, so it is a warning. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("open files limit: getrlimit: %s", strerror(errno));
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			log_warn("open files limit: raising %llu to the hard limit %llu: %s", (unsigned long long)was,
				 (unsigned long long)rl.rlim_max, strerror(errno));
			return;
		}
	}
	if (rl.rlim_cur == was)
		log_info("open files limit: %llu (the hard limit: %llu)", (unsigned long long)was,
			 (unsigned long long)rl.rlim_max);
	else
		log_info("open files limit: %llu (raised from %llu)", (unsigned long long)rl.rlim_cur,
			 (unsigned long long)was);
}

/* Without -f: the parent waits until the child is up (exit 0) or failed (exit 1). */
static int detach(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	ready_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool foreground = false, check_only = false;
	int verbose = 0, opt, ret;
	struct sl_config cfg;
	struct sl_err e = {{0}};

	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},         {"check", no_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};

	while ((opt = getopt_long(argc, argv, "c:ftvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("sluiced %s\n", SLUICE_VERSION_STRING);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(verbose);
	ret = config_load(path, &cfg, &e);
	if (ret) {
		fprintf(stderr, "sluiced: %s\n", e.msg);
		return 2;
	}
	if (!dp_workers_wanted()) { /* said why */
		config_free(&cfg);
		return 2;
	}
	if (check_only) { /* everything above reads files only: no socket, link, netlink or nftables yet */
		printf("%s: configuration ok (%s %s)\n", path, cfg.mode == SL_MODE_SERVER ? "gateway" : "client",
		       cfg.ifname);
		config_free(&cfg);
		return 0;
	}
	if (!foreground && detach()) {
		fprintf(stderr, "sluiced: fork: %s\n", strerror(errno));
		config_free(&cfg);
		return 1;
	}
	raise_nofile();
	ret = cfg.mode == SL_MODE_SERVER ? gw_run(&cfg, ready) : cl_run(&cfg, ready);
	config_free(&cfg);
	return ret;
}
