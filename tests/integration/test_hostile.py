#!/usr/bin/env python3
"""Hostile code through the API: each case runs in a real sandbox created with
POST /sandbox/create and driven with /execute, and asserts containment. The
syscall probes are tests/security/probe.c, compiled inside the sandbox with the
host's gcc (the sandbox sees /usr read-only)."""
import concurrent.futures
import os
import subprocess
import time

from harness import URL, check, expect, get, main, new_key, post, psql, test, wait_until

PROBE_SRC = open(os.path.join(os.path.dirname(__file__), "../security/probe.c")).read()
PORT = URL.rsplit(":", 1)[1]


def create(key, **body):
    return expect(post("/api/v1/sandbox/create", body, key=key), 201)["sandbox_id"]


def run(key, sid, command, **kw):
    body = dict(command=command, **kw)
    return expect(post("/api/v1/sandbox/%s/execute" % sid, body, key=key, timeout=120), 200)


def stop(key, sid):
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


class Box:
    """A sandbox with the probe compiled into /workspace/probe."""

    def __init__(self, **limits):
        self.key = new_key()
        self.sid = create(self.key, **limits)
        r = run(self.key, self.sid, "cat > /tmp/probe.c && gcc -O1 -pthread -o /workspace/probe "
                "/tmp/probe.c", stdin=PROBE_SRC, timeout=120)
        check(r["exit_code"] == 0, r)

    def sh(self, command, **kw):
        return run(self.key, self.sid, command, **kw)

    def probe(self, *args, **kw):
        return run(self.key, self.sid, ["/workspace/probe"] + list(args), **kw)

    def stop(self):
        stop(self.key, self.sid)


def blocked(box, name, *args):
    r = box.probe(name, *args)
    check(r["stdout"].startswith("blocked"), (name, r))
    return r["stdout"].split()[1] if len(r["stdout"].split()) > 1 else ""


@test
def syscalls_and_devices_are_refused():
    box = Box()
    for name in ["ptrace", "vmread", "mount", "umount", "remount", "unshare", "unshare_ns",
                 "clone_ns", "setns", "keyctl", "add_key", "bpf", "perf", "userfaultfd",
                 "io_uring", "af_packet", "raw", "af_alg", "af_vsock", "tiocsti",
                 "tiocsti_high", "tioclinux", "mknod", "devmem", "kmsg", "setuid0", "chroot"]:
        blocked(box, name)
    check(blocked(box, "clone3") == "ENOSYS")
    r = box.probe("int80")
    check(r["signal"] == 31 or r["exit_code"] == 159, r)
    box.stop()


@test
def agent_is_out_of_reach():
    box = Box()
    for name in ["environ1", "mem1", "kill1"]:
        blocked(box, name)
    r = box.sh("kill -9 1; kill -KILL 1; echo $?")
    check(box.sh("echo alive")["stdout"] == "alive\n", r)
    check(box.sh("ls -a / | tr '\\n' ' '")["exit_code"] == 0)
    state = os.environ["SANDPIT_STATE_DIR"]
    r = box.sh("ls %s 2>&1; ls /proc/1/root/ 2>&1 | head -3" % state)
    check("No such file" in r["stdout"] or "denied" in r["stdout"], r)
    box.stop()


@test
def view_of_the_system_is_the_sandbox_only():
    box = Box()
    r = box.sh("ls /proc | grep -c '^[0-9]'")
    check(int(r["stdout"]) < 10, r)
    r = box.probe("fds")
    check(r["stdout"].split("\n")[0].split() == ["0", "1", "2"], r)
    for cmd in ["echo 1 > /proc/sys/kernel/panic", "echo h > /proc/sysrq-trigger",
                "echo 1 > /sys/kernel/profiling", "touch /usr/x", "touch /etc/x", "touch /x"]:
        check(box.sh(cmd)["exit_code"] != 0, cmd)
    r = box.sh("cat /etc/shadow")
    check("root:" not in r["stdout"], r)  # masked: empty or unreadable
    check(box.sh("id -u")["stdout"] != "0\n")
    # setuid binaries give nothing: no_new_privs and no capabilities
    r = box.sh("su -c id root </dev/null; mount -t tmpfs x /mnt; grep -E 'NoNewPrivs|CapEff' "
               "/proc/self/status")
    check("NoNewPrivs:\t1" in r["stdout"] and "CapEff:\t0000000000000000" in r["stdout"], r)
    box.stop()


@test
def host_loopback_and_database_are_unreachable():
    box = Box()
    check(blocked(box, "connect", PORT) in ("ECONNREFUSED", "ENETUNREACH"))
    check(blocked(box, "connect", "5432") in ("ECONNREFUSED", "ENETUNREACH"))
    check(blocked(box, "connect", "53", "10.0.0.1") in ("ENETUNREACH", "EPERM"))
    r = box.sh("cat /proc/net/dev | grep -c ':'")
    check(r["stdout"].strip() == "1", r)  # only lo
    box.stop()


@test
def fork_and_thread_bombs_are_capped_and_cleaned():
    box = Box(memory="256Mi")
    t0 = time.monotonic()
    r = box.sh("bomb() { bomb | bomb & }; bomb; sleep 2; echo done", timeout=8)
    # The host keeps answering while the bomb is capped by pids.
    expect(get("/api/v1/health"), 200)
    r = box.probe("threads")
    check("EAGAIN" in r["stdout"], r)
    check(time.monotonic() - t0 < 60)
    box.stop()


@test
def memory_bomb_is_oom_killed_and_reported():
    box = Box(memory="64Mi")
    r = box.probe("membomb")
    check(r["oom_killed"] is True and r["exit_code"] == 137, r)
    check(box.sh("echo still")["stdout"] == "still\n")
    box.stop()


@test
def open_files_and_disk_are_capped():
    box = Box()
    r = box.probe("openfiles")
    check("EMFILE" in r["stdout"], r)
    before = os.statvfs("/").f_bfree
    r = box.sh("dd if=/dev/zero of=/workspace/fill bs=1M 2>&1; df -k /workspace | tail -1")
    check("No space left" in r["stdout"], r)
    after = os.statvfs("/").f_bfree
    check(abs(before - after) * os.statvfs("/").f_frsize < 64 << 20, (before, after))
    check(box.sh("rm /workspace/fill; echo ok")["stdout"] == "ok\n")
    box.stop()


@test
def escaping_the_exec_timeout_dies_at_stop():
    box = Box()
    r = box.sh("setsid sh -c 'sleep 4321' & (sleep 4322 &) ; sleep 100", timeout=1)
    check(r["timed_out"] is True, r)
    check("4321" in box.sh("ps -eo args")["stdout"])
    box.stop()
    wait_until(lambda: subprocess.run(["pgrep", "-f", "sleep 432[12]"]).returncode == 1, 10,
               "the escaped sleeps gone")


@test
def kill_all_touches_only_the_sandbox():
    a, b = Box(), Box()
    a.probe("killall")
    check(a.sh("echo up")["stdout"] == "up\n")
    check(b.sh("echo up")["stdout"] == "up\n")
    expect(get("/api/v1/health"), 200)
    a.stop()
    b.stop()


@test
def two_sandboxes_share_nothing():
    a, b = Box(), Box()
    a.sh("echo secret > /workspace/s; echo shm > /dev/shm/s; ipcmk -M 4096; sleep 300 &")
    r = b.sh("cat /workspace/s /dev/shm/s 2>&1; ls /workspace /dev/shm; ipcs -m | grep -c 0x; "
             "pgrep -x sleep | wc -l")
    check("secret" not in r["stdout"] and "shm\n" not in r["stdout"], r)
    check(r["stdout"].split()[-2:] == ["0", "0"], r)
    a.stop()
    b.stop()


@test
def all_core_spin_does_not_starve_other_orgs():
    reader = new_key()
    sid_r = create(reader, memory="64Mi", cpus="0.1")
    def status_p50():
        ts = []
        for _ in range(30):
            t = time.perf_counter()
            expect(get("/api/v1/sandbox/%s/status" % sid_r, key=reader), 200)
            ts.append(time.perf_counter() - t)
        return sorted(ts)[len(ts) // 2]
    base = status_p50()
    box = Box(cpus="2")
    box.sh("for i in 1 2 3 4; do (while :; do :; done) & done; echo spinning")
    loaded = status_p50()
    box.stop()
    stop(reader, sid_r)
    # The spin is capped by its CPU quota; reads stay in the same league.
    check(loaded < max(10 * base, 0.05), (base, loaded))


if __name__ == "__main__":
    main("hostile")
