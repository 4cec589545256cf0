/* privs: capability drop through capset/prctl (no libcap needed for three calls). */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "daemon/privs.h"

int privs_drop(bool keep_bind_service, struct sl_err *e)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	uint32_t keep = 1u << CAP_NET_ADMIN;

	if (keep_bind_service)
		keep |= 1u << CAP_NET_BIND_SERVICE;
	/* both kept capabilities are below 32: the second word is all zero */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (cap < 32 && (keep & (1u << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL && errno != EPERM)
			return sl_errf(e, -errno, "drop capability %d from the bounding set: %s", cap, strerror(errno));
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	if (syscall(SYS_capset, &hdr, data))
		return sl_errf(e, -errno, "capset: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return sl_errf(e, -errno, "no_new_privs: %s", strerror(errno));
	return 0;
}
