/* sysfilter.c: the sandbox seccomp policy (see sysfilter.h). */
#include "sysfilter.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/log.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_PROG (64u * 1024u) /* bytes of BPF; the policy is ~2 KiB */

struct sysfilter {
	struct sock_fprog prog;
};

static const char *const denied[] = {
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "chroot",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "name_to_handle_at",
    "open_by_handle_at",
    "fanotify_init",
    "syslog",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vhangup",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "stime",
    "mbind",
    "move_pages",
    "migrate_pages",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "vm86",
    "vm86old",
    "lsm_set_self_attr",
    "sethostname",
    "setdomainname",
    "landlock_create_ruleset",
    "open_tree_attr",
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
		const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* unknown to this libseccomp/arch: nothing to deny */
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int add_rules(scmp_filter_ctx ctx)
{
	static const unsigned long ns_flags[] = {CLONE_NEWNS,	  CLONE_NEWUTS, CLONE_NEWIPC,
						 CLONE_NEWUSER,	  CLONE_NEWPID, CLONE_NEWNET,
						 CLONE_NEWCGROUP, CLONE_NEWTIME};
	static const unsigned long tty_ioctls[] = {TIOCSTI, TIOCLINUX};
	static const int families[] = {AF_PACKET, AF_ALG, AF_VSOCK, AF_KEY};
	const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
	struct scmp_arg_cmp c;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
		rc = rule(ctx, eperm, denied[i], 0, NULL);
	for (i = 0; rc == 0 && i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		c = SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
		rc = rule(ctx, eperm, "clone", 1, &c);
	}
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	for (i = 0; rc == 0 && i < sizeof(tty_ioctls) / sizeof(tty_ioctls[0]); i++) {
		c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_ioctls[i]);
		rc = rule(ctx, eperm, "ioctl", 1, &c);
	}
	for (i = 0; rc == 0 && i < sizeof(families) / sizeof(families[0]); i++) {
		c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]);
		rc = rule(ctx, eperm, "socket", 1, &c);
	}
	if (rc == 0) {
		c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW); /* type & SOCK_TYPE_MASK */
		rc = rule(ctx, eperm, "socket", 1, &c);
	}
	if (rc == 0) {
		c = SCMP_A0(SCMP_CMP_MASKED_EQ, 0x0040000, 0x0040000); /* ADDR_NO_RANDOMIZE */
		rc = rule(ctx, eperm, "personality", 1, &c);
	}
	if (rc == 0) {
		c = SCMP_A0(SCMP_CMP_MASKED_EQ, 0x0400000, 0x0400000); /* READ_IMPLIES_EXEC */
		rc = rule(ctx, eperm, "personality", 1, &c);
	}
	return rc;
}

enum result sysfilter_build(struct sysfilter **out)
{
	struct sysfilter *f = NULL;
	scmp_filter_ctx ctx;
	enum result r = R_INTERNAL;
	struct stat st;
	void *prog = NULL;
	int fd = -1, rc;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return R_NO_MEMORY;
	/* only the native arch is in the filter: i386/x32 calls hit this */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = add_rules(ctx);
	if (rc != 0) {
		log_errx("sysfilter", "cannot build seccomp policy rc=%d", rc);
		goto release_ctx;
	}
	fd = memfd_create("sysfilter", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) != 0 || fstat(fd, &st) != 0 || st.st_size <= 0 ||
	    (size_t)st.st_size > MAX_PROG || st.st_size % (off_t)sizeof(struct sock_filter) != 0) {
		log_errx("sysfilter", "cannot export seccomp policy");
		goto release_fd;
	}
	prog = malloc((size_t)st.st_size);
	f = calloc(1, sizeof(*f));
	if (!prog || !f) {
		r = R_NO_MEMORY;
		goto release_fd;
	}
	if (pread(fd, prog, (size_t)st.st_size, 0) != st.st_size)
		goto release_fd;
	f->prog.len = (unsigned short)((size_t)st.st_size / sizeof(struct sock_filter));
	f->prog.filter = prog;
	prog = NULL;
	*out = f;
	f = NULL;
	r = R_SUCCESS;
release_fd:
	free(prog);
	free(f);
	if (fd >= 0)
		close(fd);
release_ctx:
	seccomp_release(ctx);
	return r;
}

enum result sysfilter_apply(const struct sysfilter *f)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return R_INTERNAL;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f->prog, 0, 0) != 0)
		return R_INTERNAL;
	return R_SUCCESS;
}

void sysfilter_free(struct sysfilter *f)
{
	if (!f)
		return;
	free(f->prog.filter);
	free(f);
}
