/* sysfilter.h: the seccomp deny-list every sandbox process runs under; the
 * only module that calls seccomp_* (libseccomp).
 *
 * Policy (at least Docker's default profile, plus the sandbox extras):
 * default allow; a non-native architecture (i386, x32) kills the process;
 * EPERM for clone with any namespace flag, unshare, setns, mount family
 * (mount, umount2, pivot_root, move_mount, open_tree, fsopen, fsconfig,
 * fsmount, fspick, mount_setattr), ptrace, process_vm_readv/writev,
 * pidfd_getfd, kcmp, keyctl, add_key, request_key, bpf, perf_event_open,
 * userfaultfd, io_uring_*, kexec_*, *_module, reboot, swapon/off, acct,
 * quotactl, name_to_handle_at/open_by_handle_at, fanotify_init, syslog,
 * iopl/ioperm, chroot, clock/time setters, NUMA policy calls, personality
 * bits that weaken ASLR; ENOSYS for clone3 (its flags live in memory where a
 * filter cannot look, so libc falls back to clone); EPERM for ioctl
 * TIOCSTI/TIOCLINUX compared under a 32-bit mask (the kernel ignores the high
 * bits, CVE-2017-5226 style bypasses); EPERM for socket() of AF_PACKET,
 * AF_ALG, AF_VSOCK, AF_KEY and any SOCK_RAW.
 */
#ifndef SANDPIT_SYSFILTER_H
#define SANDPIT_SYSFILTER_H

#include "core/result.h"

struct sysfilter; /* opaque: a compiled BPF program */

/* sysfilter_build: compile the policy once (libseccomp) into a BPF program
 * held in memory, so applying it in a freshly forked child is one prctl. */
SP_MUST_CHECK enum result sysfilter_build(struct sysfilter **out);

/* sysfilter_apply: install the filter on the calling thread (and its future
 * children). Requires no_new_privs (set here too). Safe after fork. */
SP_MUST_CHECK enum result sysfilter_apply(const struct sysfilter *f);

void sysfilter_free(struct sysfilter *f);

#endif
