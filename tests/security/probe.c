/* probe.c: hostile syscalls for tests/security/run.sh, run inside a sandbox.
 * Each subcommand tries one thing and prints "blocked <errno name>" when the
 * kernel or the filter refused it, "ALLOWED" when it worked (the test then
 * fails). Built with the host compiler, copied into /workspace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

static int report(long rc)
{
	if (rc < 0) {
		printf("blocked %s\n", strerrorname_np(errno));
		return 0;
	}
	printf("ALLOWED\n");
	return 1;
}

static void *idle(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";
	char buf[64];

	if (!strcmp(t, "ptrace"))
		return report(ptrace(PTRACE_ATTACH, 1, 0, 0));
	if (!strcmp(t, "vmread")) {
		struct iovec l = {buf, 8}, r = {(void *)0x400000, 8};
		return report(syscall(SYS_process_vm_readv, 1, &l, 1, &r, 1, 0));
	}
	if (!strcmp(t, "mount"))
		return report(mount("tmpfs", "/tmp", "tmpfs", 0, NULL));
	if (!strcmp(t, "umount"))
		return report(umount2("/workspace", MNT_DETACH));
	if (!strcmp(t, "remount"))
		return report(mount(NULL, "/", NULL, MS_REMOUNT, NULL));
	if (!strcmp(t, "unshare"))
		return report(unshare(CLONE_NEWUSER));
	if (!strcmp(t, "unshare_ns"))
		return report(unshare(CLONE_NEWNS));
	if (!strcmp(t, "clone_ns")) {
		long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (rc == 0)
			_exit(0);
		return report(rc);
	}
	if (!strcmp(t, "clone3")) {
		struct clone_args a = {.flags = CLONE_NEWUSER | CLONE_NEWNS, .exit_signal = SIGCHLD};
		long rc = syscall(SYS_clone3, &a, sizeof(a));
		if (rc == 0)
			_exit(0);
		return report(rc);
	}
	if (!strcmp(t, "setns")) {
		int fd = open("/proc/self/ns/net", O_RDONLY);
		return report(setns(fd, 0));
	}
	if (!strcmp(t, "keyctl"))
		return report(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
	if (!strcmp(t, "add_key"))
		return report(syscall(SYS_add_key, "user", "x", "y", 1, -3));
	if (!strcmp(t, "bpf")) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		return report(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)));
	}
	if (!strcmp(t, "perf")) {
		struct perf_event_attr a = {.type = PERF_TYPE_SOFTWARE, .size = sizeof(a),
					    .config = PERF_COUNT_SW_CPU_CLOCK};
		return report(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
	}
	if (!strcmp(t, "userfaultfd"))
		return report(syscall(SYS_userfaultfd, 0));
	if (!strcmp(t, "io_uring")) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		return report(syscall(SYS_io_uring_setup, 4, &p));
	}
	if (!strcmp(t, "af_packet"))
		return report(socket(AF_PACKET, SOCK_RAW, 0));
	if (!strcmp(t, "raw"))
		return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	if (!strcmp(t, "raw_cloexec"))
		return report(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
	if (!strcmp(t, "af_alg"))
		return report(socket(AF_ALG, SOCK_SEQPACKET, 0));
	if (!strcmp(t, "af_vsock"))
		return report(socket(40, SOCK_STREAM, 0));
	if (!strcmp(t, "tiocsti")) {
		char c = 'x';
		return report(syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI, &c));
	}
	if (!strcmp(t, "tiocsti_high")) {
		char c = 'x';
		return report(syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1ul << 32), &c));
	}
	if (!strcmp(t, "tioclinux")) {
		char c = 6;
		return report(syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX, &c));
	}
	if (!strcmp(t, "mknod"))
		return report(mknod("/workspace/nulldev", S_IFCHR | 0666, makedev(1, 3)));
	if (!strcmp(t, "devmem"))
		return report(open("/dev/mem", O_RDONLY));
	if (!strcmp(t, "kmsg"))
		return report(open("/dev/kmsg", O_RDONLY));
	if (!strcmp(t, "environ1"))
		return report(open("/proc/1/environ", O_RDONLY));
	if (!strcmp(t, "mem1"))
		return report(open("/proc/1/mem", O_RDONLY));
	if (!strcmp(t, "kill1"))
		return report(kill(1, SIGKILL));
	if (!strcmp(t, "killall")) {
		report(kill(-1, SIGKILL));
		return 0;
	}
	if (!strcmp(t, "setuid0"))
		return report(setuid(0));
	if (!strcmp(t, "chroot"))
		return report(chroot("/tmp"));
	if (!strcmp(t, "int80")) {
		long rc;
		/* i386 getpid from a 64-bit process: a non-native arch call */
		__asm__ volatile("int $0x80" : "=a"(rc) : "a"(20) : "memory");
		printf("ALLOWED rc=%ld\n", rc);
		return 1;
	}
	if (!strcmp(t, "connect") && argc > 2) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
		int s = socket(AF_INET, SOCK_STREAM, 0);
		inet_pton(AF_INET, argc > 3 ? argv[3] : "127.0.0.1", &sa.sin_addr);
		return report(connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	}
	if (!strcmp(t, "fds")) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		int n = 0;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d)) {
				printf("%s ", de->d_name);
				n++;
			}
		printf("\ncount=%d\n", n);
		return 0;
	}
	if (!strcmp(t, "openfiles")) {
		int n = 0;
		while (open("/dev/null", O_RDONLY) >= 0 && n < 200000)
			n++;
		printf("opened=%d errno=%s\n", n, strerrorname_np(errno));
		return 0;
	}
	if (!strcmp(t, "threads")) {
		pthread_t th;
		int n = 0, rc;
		while ((rc = pthread_create(&th, NULL, idle, NULL)) == 0 && n < 100000)
			n++;
		printf("threads=%d rc=%s\n", n, strerrorname_np(rc));
		return 0;
	}
	if (!strcmp(t, "membomb")) {
		size_t total = 0;
		for (;;) {
			char *p = malloc(1 << 20);
			if (!p)
				break;
			memset(p, 1, 1 << 20);
			total += 1 << 20;
		}
		printf("malloc failed at %zu\n", total);
		return 0;
	}
	if (!strcmp(t, "tcpfill") && argc > 3) {
		/* N loopback connections whose receiver never reads; every send
		 * buffer filled until the kernel stops taking bytes, then held
		 * for HOLD seconds (the host measures meanwhile) */
		int n = atoi(argv[2]), hold = atoi(argv[3]), ls, i, pass, fds[256];
		struct sockaddr_in sa = {.sin_family = AF_INET};
		socklen_t sl = sizeof(sa);
		static char chunk[65536];
		long long queued = 0, before;
		if (n > 256)
			n = 256;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ls = socket(AF_INET, SOCK_STREAM, 0);
		if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 512) ||
		    getsockname(ls, (struct sockaddr *)&sa, &sl)) {
			printf("setup failed %s\n", strerrorname_np(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
			if (accept(ls, NULL, NULL) < 0) {
				printf("accept failed %s\n", strerrorname_np(errno));
				return 1;
			}
		}
		/* passes until one adds nothing (autotuning grows buffers a bit
		 * at a time), at most 100 */
		for (pass = 0; pass < 100; pass++) {
			before = queued;
			for (i = 0; i < n; i++) {
				ssize_t w;
				while ((w = send(fds[i], chunk, sizeof(chunk), MSG_NOSIGNAL)) > 0)
					queued += w;
			}
			if (queued == before && pass > 3)
				break;
			usleep(20000);
		}
		printf("queued=%lld conns=%d passes=%d\n", queued, n, pass);
		fflush(stdout);
		sleep((unsigned)hold);
		return 0;
	}
	fprintf(stderr, "unknown probe '%s'\n", t);
	return 2;
}
