/* test_target: what the test tools (flood, loadgen) may send to, and from where (tests/tools/target.h). The
 * network rule made code: loopback, or the tests' own underlays (198.18.0.0/15, fd00::/8) and then only from a
 * namespace a test made — never from the host's own, where a test address follows the default route out. */
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/tools/target.h"
#include "tests/unit/check.h"

static int parse(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	return parse_target_any(s, &ss, &len);
}

static void test_parse(void)
{
	CHECK_EQ_INT(parse("127.0.0.1:9"), 0);
	CHECK_EQ_INT(parse("198.18.0.1:51820"), 0);
	CHECK_EQ_INT(parse("198.19.255.254:1"), 0);
	CHECK_EQ_INT(parse("[::1]:9"), 0);
	CHECK_EQ_INT(parse("[fd00:18::1]:51900"), 0);
	CHECK_EQ_INT(parse("198.20.0.1:9"), -2); /* outside the /15 */
	CHECK_EQ_INT(parse("8.8.8.8:53"), -2);
	CHECK_EQ_INT(parse("[2001:db8::1]:9"), -2);
	CHECK_EQ_INT(parse("[fe80::1]:9"), -2);
	CHECK_EQ_INT(parse("198.18.0.1"), -1); /* no port */
	CHECK_EQ_INT(parse("198.18.0.1:0"), -1);
	CHECK_EQ_INT(parse("198.18.0.1:65536"), -1);
	CHECK_EQ_INT(parse("[fd00::1:9"), -1);
	CHECK_EQ_INT(parse("fd00::1:9"), -1); /* IPv6 needs brackets */
}

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (parse_target_any(s, &ss, &len))
		abort();
	return ss;
}

/* In a child in a fresh network namespace bound (like `ip netns add`) onto DIR/ns: that namespace is listed, a
 * test address is allowed from it and not once the directory no longer lists it. Exit status: failures. */
static int child_in_listed_ns(const char *dir)
{
	char path[256];
	struct sockaddr_storage t = addr("198.18.0.1:9");
	int fd, bad = 0;

	snprintf(path, sizeof(path), "%s/ns", dir);
	if ((fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0444)) < 0 || close(fd))
		return 100;
	/* its own mount namespace too, private: the bind mount never exists in the host's */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 101;
	if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL))
		return 77;
	bad += !netns_listed_in(dir);
	bad += !target_here(&t, dir);
	if (umount2(path, MNT_DETACH))
		return 102;
	bad += netns_listed_in(dir); /* an empty file: not this namespace */
	bad += target_here(&t, dir);
	return bad;
}

static void test_here(void)
{
	char dir[] = "/tmp/test_target.XXXXXX", path[64];
	struct sockaddr_storage lo4 = addr("127.0.0.1:9"), lo6 = addr("[::1]:9"), u4 = addr("198.18.0.1:9"),
				u6 = addr("[fd00:18::1]:9");
	pid_t pid;
	int st;

	/* loopback: from anywhere */
	CHECK(target_here(&lo4, "/nonexistent"));
	CHECK(target_here(&lo6, "/nonexistent"));
	/* a test address: not when no namespace list can be read */
	CHECK(!target_here(&u4, "/nonexistent"));
	CHECK(!target_here(&u6, "/nonexistent"));
	/* nor from this process's namespace, when a list does not hold it */
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	CHECK(!netns_listed_in(dir));
	CHECK(!target_here(&u4, dir));
	if (geteuid() == 0) {
		pid = fork();
		if (pid == 0)
			_exit(child_in_listed_ns(dir));
		CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
		if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
			fprintf(stderr, "test_target: no bind mount here, the listed case not checked\n");
		else
			CHECK_EQ_INT(WEXITSTATUS(st), 0);
	}
	snprintf(path, sizeof(path), "%s/ns", dir);
	unlink(path);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	test_parse();
	test_here();
	return check_done("test_target");
}
