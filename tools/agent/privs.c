/* privs.c: the agent's privileges. We are uid 0 of a user namespace mapped to
 * a per-sandbox host uid; commands run as uid 1000 of the same namespace
 * (another per-sandbox host uid) and drop the rest themselves (command.c). */
#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sysfilter.h"

static const int kept_caps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL,
				CAP_SETGID, CAP_SETUID,	      CAP_SETPCAP};

const char *privs_narrow(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0}};
	struct sysfilter *f = NULL;
	size_t i;
	int cap;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return "cannot clear dumpable";
	for (cap = 0; cap <= 63; cap++) {
		bool keep = false;

		for (i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
			keep = keep || kept_caps[i] == cap;
		if (!keep && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
			return "cannot drop the bounding set";
	}
	for (i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++) {
		data[kept_caps[i] / 32].permitted |= 1u << (kept_caps[i] % 32);
		data[kept_caps[i] / 32].effective |= 1u << (kept_caps[i] % 32);
	}
	if (syscall(SYS_capset, &hdr, data) != 0)
		return "cannot set capabilities";
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		return "cannot clear ambient capabilities";
	if (sysfilter_build(&f) != R_SUCCESS)
		return "cannot build the seccomp filter";
	if (sysfilter_apply(f) != R_SUCCESS) {
		int e = errno;

		sysfilter_free(f);
		errno = e;
		return "cannot install the seccomp filter";
	}
	sysfilter_free(f);
	return NULL;
}
