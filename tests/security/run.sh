#!/bin/bash
# run.sh: hostile code inside real sandboxes, asserting containment.
#   tests/security/run.sh [BIN_DIR]     (root; default $SANDPIT_BIN, else build/release)
# Starts a private sandpit-boxd on a temporary state directory, drives it
# with sandpit-boxctl (lib/backend + lib/agent_client), runs the probes of
# probe.c and shell one-liners inside sandboxes, then checks that nothing
# leaks after create->exec->destroy cycles. Ends with
# "security: N passed, N failed" and exits non-zero on any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-${SANDPIT_BIN:-$REPO/build/release}}" && pwd)
T=$(mktemp -d /tmp/sandpit-sec.XXXXXX)
S=$T/state
PASS=0
FAIL=0
BOXD_PID=
BOXD2_PID=
LISTEN_PID=

cleanup() {
	rm -f "/etc/sandpit-sec-before.$$" "/etc/sandpit-sec-after.$$"
	[ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null
	if [ -n "$BOXD2_PID" ]; then
		kill -TERM "$BOXD2_PID" 2>/dev/null
		wait "$BOXD2_PID" 2>/dev/null
	fi
	if [ -n "$BOXD_PID" ]; then
		kill -TERM "$BOXD_PID" 2>/dev/null
		wait "$BOXD_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
ko() { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+: $2}"; }

[ "$(id -u)" = 0 ] || { echo "security: needs root"; echo "security: 0 passed, 1 failed"; exit 1; }

# B talks to the daemon at $BOXD_SOCK (the second one of "operator bounds"
# sets it to its own for a while).
BOXD_SOCK=$S/run/boxd.sock
B() { "$BIN/sandpit-boxctl" -s "$BOXD_SOCK" "$@"; }
# X ID TIMEOUT_MS 'shell' -> stdout in $OUT, stderr (with #meta) in $ERR
X() {
	local id=$1 t=$2
	shift 2
	OUT=$(B exec "$id" -t "$t" -x "$*" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}
meta() { sed -n 's/.*#meta //p' <<<"$ERR" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# expect_blocked NAME ID PROBE ARGS...: the probe must report "blocked"
expect_blocked() {
	local name=$1 id=$2
	shift 2
	X "$id" 5000 "/workspace/probe $*"
	if grep -q '^blocked' <<<"$OUT"; then ok "$name ($(echo $OUT))"; else ko "$name" "$OUT $ERR"; fi
}

gcc -O1 -o "$T/probe" "$REPO/tests/security/probe.c" -lpthread || { echo "cannot build probe"; exit 1; }
mkdir -p "$S"
# in the host's /etc when boxd snapshots what sandboxes see of it
echo canary >"/etc/sandpit-sec-before.$$"
# the machine's image cache: python-basic is built there by tests/images first
CACHE=${SANDPIT_IMAGE_CACHE:-/var/cache/sandpit/images}
"$BIN/sandpit-boxd" --state-dir "$S" --agent "$BIN/sandpit-agent" --default-memory 256Mi \
	--default-pids 128 --default-disk 32Mi --tmp-size 16Mi --nofile 1024 --images "$CACHE" \
	>"$T/boxd.log" 2>&1 &
BOXD_PID=$!
for _ in $(seq 100); do [ -S "$S/run/boxd.sock" ] && break; sleep 0.05; done
[ -S "$S/run/boxd.sock" ] || { cat "$T/boxd.log"; echo "security: 0 passed, 1 failed"; exit 1; }
PARENT=$(sed -n 's/.*parent=\(sandpit-[0-9a-f]*\).*/\1/p' "$T/boxd.log" | head -1)
# The cgroup checks below look under this name: without it they would pass
# on paths that never existed.
[ -n "$PARENT" ] && ok "boxd names its cgroup parent ($PARENT)" || ko "no cgroup parent in boxd's log"

install_probe() { B exec "$1" -t 5000 -i "$T/probe" -x 'cat > /workspace/probe && chmod +x /workspace/probe' 2>/dev/null; }

B create a >/dev/null || { cat "$T/boxd.log"; exit 1; }
B create b >/dev/null || exit 1
install_probe a
install_probe b
AGENT_A=$(awk '{print $1}' <<<"$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$S/run/a.state")")

# --- identity and view ----------------------------------------------------------------
X a 5000 'id -u; hostname'
[ "$(echo $OUT)" = "1000 a" ] && ok "runs as uid 1000, hostname is the id" || ko "identity" "$OUT"
# --- the sandbox's own /etc, never the host's -------------------------------------------------
echo canary >"/etc/sandpit-sec-after.$$"
X a 5000 "ls -d /etc/sandpit-sec-* /etc/caddy /etc/sandpit /etc/shadow /etc/gshadow /etc/ssh /etc/sudoers /etc/machine-id 2>/dev/null | wc -l"
[ "$OUT" = 0 ] && ok "host /etc entries absent (canaries made before boxd started and after the sandbox did, caddy, sandpit, shadow, ssh)" ||
	ko "host /etc visible" "$OUT"
X a 5000 'cut -d: -f1 /etc/passwd | sort | tr "\n" " "; echo; cut -d: -f1 /etc/group | sort | tr "\n" " "; echo; id'
HOST_USERS=$(cut -d: -f1 /etc/passwd | grep -vxE 'root|nobody' | tr '\n' ' ')
LEAKED=$(for u in $HOST_USERS; do grep -qw -- "$u" <<<"$(head -2 <<<"$OUT")" && echo "$u"; done)
[ "$(sed -n 1p <<<"$OUT")" = "nobody root sandbox " ] && [ "$(sed -n 2p <<<"$OUT")" = "nogroup root sandbox " ] &&
	[ -z "$LEAKED" ] && [ "$(sed -n 3p <<<"$OUT")" = "uid=1000(sandbox) gid=1000(sandbox) groups=1000(sandbox)" ] &&
	ok "passwd/group: root, sandbox, nobody only (none of the host's $(wc -w <<<"$HOST_USERS") other users); id says sandbox" ||
	ko "sandbox passwd" "$OUT leaked=$LEAKED"
X a 5000 'cat /etc/hostname; getent hosts a localhost | tr -s " \t" " "; touch /etc/x 2>/dev/null || echo read-only'
[ "$(echo $OUT)" = "a 127.0.1.1 a ::1 localhost ip6-localhost ip6-loopback read-only" ] &&
	ok "hostname and hosts name the sandbox, /etc read-only" || ko "hosts" "$OUT"
# what runtimes find in /etc: the CA bundle, alternatives, the loader cache
X a 30000 'python3 -c "import ssl; print(len(ssl.create_default_context().get_ca_certs()) > 50)";
	echo "int main(void) { return 7; }" >/tmp/t.c && gcc -o /tmp/t /tmp/t.c; /tmp/t; echo "gcc $?";
	echo | awk "{ print \"awk\" }"; sh -c "echo sh";
	if command -v node >/dev/null; then node -e "console.log(require(\"os\").userInfo().username)"; else echo sandbox; fi'
[ "$(echo $OUT)" = "True gcc 7 awk sh sandbox" ] && ok "python3 (CA bundle loaded), gcc, awk (alternatives), sh, node work" ||
	ko "runtimes" "$OUT $ERR"
# boxd writes a sandbox's hosts/hostname before it exists, replacing what
# is there and never following a link planted at the name
echo victim >"$T/victim"
ln -s "$T/victim" "$S/run/e.hosts"
B create e >/dev/null && X e 5000 'grep -c "^127.0.1.1.e$" /etc/hosts'
[ "$OUT" = 1 ] && [ "$(cat "$T/victim")" = victim ] && ! [ -e "$S/run/e.hosts" ] &&
	ok "a link planted at a sandbox's hosts file is replaced, not followed" || ko "planted link" "$OUT $(cat "$T/victim")"
B destroy e >/dev/null

X a 5000 'ls /proc | grep -c "^[0-9]"'
[ "$OUT" -le 3 ] && ok "/proc shows only the sandbox's own processes ($OUT)" || ko "/proc pids" "$OUT"
X a 5000 "ls /proc/$BOXD_PID 2>&1; ls /proc/1/ 2>&1 | head -1"
grep -q "No such file" <<<"$OUT" && ok "host pids and the agent are invisible" || ko "pid visibility" "$OUT"
X a 5000 '/workspace/probe fds'
grep -q "count=3" <<<"$OUT" && ok "only fds 0-2 at exec ($(echo $OUT))" || ko "fds" "$OUT"
X a 5000 'grep NoNewPrivs /proc/self/status; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status | grep -vc ":\s*0*$"'
grep -q "NoNewPrivs:.1" <<<"$OUT" && [ "$(tail -1 <<<"$OUT")" = 0 ] && ok "no_new_privs, no capabilities" || ko "caps" "$OUT"
X a 5000 'grep -E " /(usr|etc) " /proc/self/mounts'
grep -q " /usr " <<<"$OUT" && ! grep -v "ro,nosuid,nodev" <<<"$OUT" | grep -q . && ok "/usr /etc read-only nosuid nodev" || ko "ro binds" "$OUT"

# --- boxd's list: ids that are prefixes of its "ok" (a read before the reply buffer, seen by
# ASan under make check) ------------------------------------------------------------------------
B create o >/dev/null && B create ok >/dev/null
L=$(B list | sort | tr '\n' ' ')
[ "$L" = "a b o ok " ] && ok "list reports ids 'o' and 'ok'" || ko "list o/ok" "$L $(grep -m3 -A3 Sanitizer "$T/boxd.log")"
B destroy o >/dev/null; B destroy ok >/dev/null

# --- privilege, kernel surface --------------------------------------------------------------
for p in ptrace vmread mount umount remount unshare unshare_ns clone_ns clone3 setns keyctl add_key \
	bpf perf userfaultfd io_uring af_packet raw raw_cloexec af_alg af_vsock tiocsti tiocsti_high \
	tioclinux mknod devmem kmsg environ1 mem1 kill1 setuid0 chroot; do
	expect_blocked "$p" a "$p"
done
X a 5000 '/workspace/probe clone3 2>&1'
grep -q ENOSYS <<<"$OUT" && ok "clone3 answers ENOSYS" || ko "clone3 ENOSYS" "$OUT"
X a 5000 'exec /workspace/probe int80'
[ "$(meta signal)" = 31 ] && ok "non-native syscall (int 0x80) killed by SIGSYS" || ko "int80" "$OUT $ERR"
X a 5000 'su -c id root </dev/null 2>&1; mount -t tmpfs x /tmp 2>&1; id -u'
[ "$(tail -1 <<<"$OUT")" = 1000 ] && ! grep -q "uid=0" <<<"$OUT" && ok "setuid binaries give nothing" || ko "setuid" "$OUT"
X a 5000 'echo x > /proc/sys/kernel/core_pattern; echo 3 > /proc/sys/vm/drop_caches; [ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger; touch /sys/x; touch /x; echo done'
[ "$(grep -c 'Read-only\|Permission denied' <<<"$ERR")" -ge 4 ] && ok "/proc/sys, sysrq-trigger, /sys, / read-only" || ko "ro proc/sys" "$ERR"

# --- the agent is out of reach ----------------------------------------------------------------
X a 5000 'kill -9 1; /workspace/probe killall; echo still'
X a 5000 'echo alive'
[ "$OUT" = alive ] && kill -0 "$AGENT_A" && ok "kill -9 1 and kill(-1) leave the agent alive" || ko "agent kill" "$OUT"
sleep 1000 & CANARY=$!
X a 5000 '/workspace/probe killall'
kill -0 "$CANARY" 2>/dev/null && kill -0 "$BOXD_PID" && ok "kill(-1, SIGKILL) touches only the sandbox" || ko "kill -1 host"
kill "$CANARY"; wait "$CANARY" 2>/dev/null
X a 5000 "ls $S/run 2>&1; ls / | grep -c run"
grep -q "No such file" <<<"$OUT" && ok "agent socket directory invisible" || ko "socket visible" "$OUT"

# --- network ---------------------------------------------------------------------------------
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 47613)); s.listen(); time.sleep(600)' &
LISTEN_PID=$!
sleep 0.3
expect_blocked "host 127.0.0.1 listener unreachable" a connect 47613
expect_blocked "host PostgreSQL port unreachable" a connect 5432
X a 5000 'cat /proc/net/dev | grep -c ":"'
[ "$OUT" = 1 ] && ok "only a loopback interface" || ko "interfaces" "$OUT"

# --- limits -------------------------------------------------------------------------------
X a 10000 '/workspace/probe openfiles'
grep -q "errno=EMFILE" <<<"$OUT" && ok "100k open files hit EMFILE ($OUT)" || ko "nofile" "$OUT"
X a 10000 '/workspace/probe threads'
grep -q "threads=1[0-2][0-9] " <<<"$OUT" && ok "thread bomb capped by pids ($OUT)" || ko "threads" "$OUT"
X a 4000 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived'
T0=$(date +%s%N); B inspect a >/dev/null; T1=$(date +%s%N)
PIDS=$(B inspect a | sed 's/.*pids=//')
[ "$PIDS" -le 128 ] && [ $(((T1 - T0) / 1000000)) -lt 1000 ] && ok "fork bomb capped (pids=$PIDS), host responsive" || ko "fork bomb" "$PIDS"
B destroy a >/dev/null && B create a >/dev/null && install_probe a
X a 10000 '/workspace/probe membomb'
[ "$(meta oom_killed)" = 1 ] && [ "$(meta exit_code)" = 137 ] && ok "memory bomb OOM-killed and reported (137)" || ko "oom" "$OUT $ERR"
X a 5000 'echo after-oom'
[ "$OUT" = after-oom ] && ok "agent survives the OOM" || ko "agent after oom" "$OUT"
X a 1000 'trap "" TERM; while :; do :; done'
D=$(meta duration_ms)
[ "$(meta timed_out)" = 1 ] && [ "$D" -lt 1500 ] && ok "CPU spin ignoring SIGTERM killed at timeout (${D}ms)" || ko "spin" "$ERR"
X a 500 'sleep 100'
[ "$(meta timed_out)" = 1 ] && ok "sleep past the timeout killed" || ko "sleep timeout" "$ERR"
X a 10000 'dd if=/dev/zero of=/workspace/fill bs=1M count=100 2>&1; rm -f /workspace/fill'
grep -q "No space left" <<<"$OUT" && ok "/workspace fill hits ENOSPC" || ko "workspace fill" "$OUT"
X a 3000 'head -c 20000000 /dev/zero | tr "\0" y'
[ "$(meta truncated)" = 1 ] && [ "$(meta out_len)" = 10485760 ] && ok "huge output capped at 10 MiB, truncated" || ko "output cap" "$ERR"
X a 2000 'yes | tr -d "\n"'
[ "$(meta truncated)" = 1 ] && ok "yes without newline capped" || ko "yes cap" "$(tail -1 <<<"$ERR")"
OUT=$(B exec a -t 5000 -x 'head -c 100000 /dev/urandom' 2>/dev/null | wc -c)
[ "$OUT" = 100000 ] && ok "binary output intact (100000 bytes)" || ko "binary" "$OUT"
X a 5000 'sleep 30 & echo started'
D=$(meta duration_ms)
[ "$OUT" = started ] && [ "$D" -lt 1000 ] && ok "background child holding stdout does not block ($D ms)" || ko "bg stdout" "$ERR"
X a 5000 'nohup sleep 999 >/dev/null 2>&1 & setsid -f sleep 998; echo ok'
X a 5000 'pgrep -x sleep | wc -l'
[ "$OUT" -ge 2 ] && ok "background and setsid processes survive between executes" || ko "bg survive" "$OUT"
X a 700 'setsid -f sh -c "sleep 997"; sleep 100'
[ "$(meta timed_out)" = 1 ] && ok "setsid escape survives the exec timeout (dies at destroy)" || ko "setsid" "$ERR"

# --- kernel memory: socket buffers count against the sandbox -----------------------------------
# 80 loopback connections in a 64 MiB sandbox, receivers never reading, every
# send buffer full. The kernel's TCP memory (/proc/net/sockstat "mem", one
# count for the whole host whatever the netns) must grow by less than the
# sandbox's limit (unbounded, it pinned over 300 MiB) and the sandbox's memcg
# must see the bytes (v1: memory.kmem.tcp.usage_in_bytes; v2: "sock" in
# memory.stat).
tcp_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
sock_bytes() {
	cat "/sys/fs/cgroup/memory/$PARENT/$1/memory.kmem.tcp.usage_in_bytes" 2>/dev/null ||
		sed -n 's/^sock //p' "/sys/fs/cgroup/$PARENT/$1/memory.stat"
}
B create n memory=64Mi >/dev/null && install_probe n
M0=$(tcp_pages)
X n 5000 '/workspace/probe tcpfill 80 20 >/tmp/tcp.out 2>&1 & echo started'
for _ in $(seq 100); do
	X n 2000 'cat /tmp/tcp.out'
	grep -q queued <<<"$OUT" && break
	sleep 0.2
done
M1=$(tcp_pages)
SOCK=$(sock_bytes n)
GROWTH=$(((M1 - M0) * $(getconf PAGESIZE)))
[ -n "$SOCK" ] && [ "$SOCK" -gt $((1 << 20)) ] && [ "$GROWTH" -lt $((64 << 20)) ] &&
	ok "80 full loopback sockets in a 64 MiB sandbox: host TCP memory +$((GROWTH >> 20)) MiB, memcg sees $((SOCK >> 20)) MiB ($OUT)" ||
	ko "socket memory outside the limit" "growth=$GROWTH memcg=$SOCK $OUT"
X n 3000 'echo alive'
[ "$OUT" = alive ] && ok "the sandbox still answers with its socket budget spent" || ko "after tcpfill" "$OUT $ERR"
B destroy n >/dev/null || ko "destroy after tcpfill"

# --- isolation between sandboxes --------------------------------------------------------------
X a 5000 'echo s > /workspace/secret; echo s > /dev/shm/secret; echo s > /tmp/secret; ipcmk -M 4096 >/dev/null; sleep 995 >/dev/null 2>&1 &'
X b 5000 'ls /workspace /dev/shm /tmp; ipcs -m | grep -c 0x; pgrep -x sleep | wc -l'
! grep -q secret <<<"$OUT" && [ "$(tail -2 <<<"$OUT" | tr '\n' ' ')" = "0 0 " ] && ok "two sandboxes share no files, /dev/shm, IPC or processes" || ko "cross-sandbox" "$OUT"

# --- destroy ----------------------------------------------------------------------------------
CODE_UID=$(awk '/Uid:/{print $2}' /proc/$(pgrep -f "sleep 995" | head -1)/status 2>/dev/null)
B destroy a >/dev/null && B destroy b >/dev/null
sleep 0.1
LEFT=$(pgrep -f "sleep 99[5-9]" | wc -l)
[ "$LEFT" = 0 ] && ! [ -e "/sys/fs/cgroup/memory/$PARENT/a" ] && ! [ -e "/sys/fs/cgroup/$PARENT/a" ] && ok "destroy kills setsid/nohup/background processes and removes the cgroup" || ko "destroy" "left=$LEFT"
B destroy a >/dev/null 2>&1; [ $? != 0 ] && ok "destroying twice reports not found" || ko "destroy twice"

# destroy with a dead agent, and with a hung (stopped) agent
B create d >/dev/null
DP=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$S/run/d.state")
kill -STOP "$DP"
B destroy d >/dev/null && ! [ -e "$S/run/d.sock" ] && ok "destroy works with a hung agent" || ko "hung destroy"
B create d >/dev/null
DP=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$S/run/d.state")
kill -KILL "$DP"; sleep 0.1
B destroy d >/dev/null && ! [ -e "$S/run/d.sock" ] && ok "destroy works with a dead agent" || ko "dead destroy"

# --- a sandbox that stops every new process cannot freeze its agent -----------------------------
# Between its setuid and its exec a command's child is the sandbox's uid:
# sandboxed code can stop it there. The agent waits for the exec a bounded
# time, so it keeps answering.
B create s >/dev/null
X s 5000 'setsid -f sh -c "while :; do kill -STOP -1; done" >/dev/null 2>&1; echo ok'
T0=$(date +%s%N)
for _ in 1 2; do timeout 25 "$BIN/sandpit-boxctl" -s "$BOXD_SOCK" exec s -t 3000 -x true >/dev/null 2>&1; done
T1=$(date +%s%N)
timeout 5 "$BIN/sandpit-boxctl" -s "$BOXD_SOCK" ps s >/dev/null 2>&1
PS=$?
MS=$(((T1 - T0) / 1000000))
[ "$MS" -lt 14000 ] && [ "$PS" = 0 ] && ok "kill -STOP -1 in a loop cannot freeze the agent (2 execs in $MS ms, ps answers)" ||
	ko "agent frozen by stopped children" "ms=$MS ps=$PS"
B destroy s >/dev/null || ko "destroy after the stop loop"

# --- operator bounds: a second daemon with per-sandbox ceilings and a total ---------------------
S2=$T/state2
mkdir -p "$S2"
"$BIN/sandpit-boxd" --state-dir "$S2" --agent "$BIN/sandpit-agent" --default-memory 256Mi \
	--default-pids 128 --max-memory 512Mi --max-pids 256 --total-memory 192Mi --total-pids 100 \
	--kill-on-exit >"$T/boxd2.log" 2>&1 &
BOXD2_PID=$!
for _ in $(seq 100); do [ -S "$S2/run/boxd.sock" ] && break; sleep 0.05; done
BOXD_SOCK=$S2/run/boxd.sock
PARENT2=$(sed -n 's/.*parent=\(sandpit-[0-9a-f]*\).*/\1/p' "$T/boxd2.log" | head -1)
mem_limit() { cat "/sys/fs/cgroup/memory/$PARENT2/$1/memory.limit_in_bytes" "/sys/fs/cgroup/$PARENT2/$1/memory.max" 2>/dev/null; }
B create big memory=1Gi >/dev/null 2>"$T/err"
[ $? != 0 ] && grep -q invalid "$T/err" && ok "a create above --max-memory is refused" || ko "max-memory" "$(cat "$T/err")"
B create big pids=300 >/dev/null 2>"$T/err"
[ $? != 0 ] && grep -q invalid "$T/err" && ok "a create above --max-pids is refused" || ko "max-pids" "$(cat "$T/err")"
B create c memory=384Mi pids=250 >/dev/null || ko "create within bounds" "$(tail -3 "$T/boxd2.log")"
B resize c memory=1Gi 2>"$T/err"
[ $? != 0 ] && grep -q invalid "$T/err" && [ "$(mem_limit c)" = $((384 << 20)) ] &&
	ok "a resize above the ceiling is refused and changes nothing" || ko "resize ceiling" "$(cat "$T/err")"
B resize c memory=320Mi && [ "$(mem_limit c)" = $((320 << 20)) ] &&
	ok "a resize within the ceiling applies" || ko "resize" "$(mem_limit c)"
# c may use 320 MiB on its own, but all sandboxes together only 192 MiB.
X c 20000 'python3 -c "b = b\"x\" * (256 << 20); print(len(b))"'
[ "$(meta exit_code)" = 137 ] && ok "256 MiB in a 320 MiB sandbox OOM-killed at the 192 MiB instance total" || ko "total memory" "$OUT $ERR"
X c 20000 'python3 -c "b = b\"x\" * (64 << 20); print(len(b))"'
[ "$OUT" = $((64 << 20)) ] && ok "the sandbox still works within the total" || ko "after total oom" "$OUT $ERR"
install_probe c
X c 10000 '/workspace/probe threads'
N=$(sed -n 's/^threads=\([0-9]*\).*/\1/p' <<<"$OUT")
[ -n "$N" ] && [ "$N" -lt 100 ] && [ "$N" -ge 80 ] &&
	ok "a thread bomb in a 250-pid sandbox stops at the 100-pid instance total ($OUT)" ||
	ko "total pids" "$OUT $ERR"
B destroy c >/dev/null || ko "destroy in the second daemon"
kill -TERM "$BOXD2_PID"
wait "$BOXD2_PID"
BOXD2_PID=
LEFT=$(ls -d /sys/fs/cgroup/*/"$PARENT2" /sys/fs/cgroup/"$PARENT2" 2>/dev/null | wc -l)
[ -n "$PARENT2" ] && [ "$LEFT" = 0 ] && ok "a stopped daemon with no sandboxes leaves no cgroup parent" ||
	ko "parent cgroup left" "$PARENT2 $LEFT"
BOXD_SOCK=$S/run/boxd.sock

# --- a restarted daemon keeps the /etc its adopted sandboxes have mounted ----------------------
B create r >/dev/null
kill -KILL "$(pgrep -P "$BOXD_PID" -x sandpit-boxd)"
sleep 0.5
for _ in $(seq 100); do B list >/dev/null 2>&1 && break; sleep 0.1; done
X r 5000 'cat /etc/hostname; ls /etc/ssl/certs | grep -c .; grep -c "^sandbox:" /etc/passwd'
[ "$(sed -n 1p <<<"$OUT")" = r ] && [ "$(sed -n 2p <<<"$OUT")" -gt 50 ] && [ "$(sed -n 3p <<<"$OUT")" = 1 ] &&
	ok "after a daemon crash and restart the adopted sandbox's /etc is intact" || ko "etc after restart" "$OUT $ERR"
B destroy r >/dev/null || ko "destroy after restart"

. "$REPO/tests/security/images.sh"

# --- leak check (every other cycle on an image root) -------------------------------------------
MOUNTS0=$(wc -l </proc/mounts)
N=${SEC_CYCLES:-40}
cycle() {
	local id=leak$1 img=
	[ -n "$PYKEY" ] && [ $(($1 % 2)) = 1 ] && img=image=python-basic@$PYKEY
	B create "$id" $img >/dev/null || { echo "create $id failed"; return; }
	B exec "$id" -t 5000 -x 'sleep 100 & nohup sleep 200 >/dev/null 2>&1 & echo x' >/dev/null 2>&1
	B destroy "$id" >/dev/null || echo "destroy $id failed"
}
ERRS=$(for w in 1 2 3 4; do (for i in $(seq $w 4 "$N"); do cycle "$i"; done) & done; wait)
sleep 0.1
PROCS=$(ps -eo uid= | awk -v lo="$(sed -n 's/.*uid_base=\([0-9]*\).*/\1/p' "$T/boxd.log" | head -1)" '$1 >= lo && $1 < lo + 65536' | wc -l)
CG=0
for c in memory cpu cpuacct pids freezer; do
	[ -d "/sys/fs/cgroup/$c/$PARENT" ] && CG=$((CG + $(find "/sys/fs/cgroup/$c/$PARENT" -mindepth 1 -type d | wc -l)))
done
[ -d "/sys/fs/cgroup/$PARENT" ] && CG=$((CG + $(find "/sys/fs/cgroup/$PARENT" -mindepth 1 -type d | wc -l)))
MOUNTS1=$(wc -l </proc/mounts)
SOCKS=$(find "$S/run" -name '*.sock' ! -name boxd.sock | wc -l)
STATES=$(find "$S/run" -name '*.state*' -o -name '*.hosts' -o -name '*.hostname' | wc -l)
LISTED=$(B list | wc -l)
DAEMON=$(pgrep -P "$BOXD_PID" -x sandpit-boxd)
ZOMBIES=$(ps -eo stat=,ppid= | awk -v k="$BOXD_PID" -v d="${DAEMON:-0}" '$1 ~ /^Z/ && ($2 == k || $2 == d)' | wc -l)
if [ -z "$ERRS" ] && [ "$PROCS" = 0 ] && [ "$CG" = 0 ] && [ "$MOUNTS0" = "$MOUNTS1" ] && [ "$SOCKS" = 0 ] &&
	[ "$STATES" = 0 ] && [ "$LISTED" = 0 ] && [ "$ZOMBIES" = 0 ]; then
	ok "leak check: $N cycles (4 parallel) leave 0 processes, cgroups, mounts, sockets, state files, zombies"
else
	ko "leak check" "errs='$ERRS' procs=$PROCS cgroups=$CG mounts=$MOUNTS0->$MOUNTS1 socks=$SOCKS states=$STATES listed=$LISTED zombies=$ZOMBIES"
fi

# --- config files holding secrets ----------------------------------------------------------
# A group- or world-readable file that sets a secret is refused by every
# program that reads the configuration; the same file 0600 is accepted.
printf 'SANDPIT_JWT_SECRET=not-for-tenants\n' >"$T/secret.conf"
chmod 0644 "$T/secret.conf"
REFUSED=0
for b in api stream reaper admin migrate; do
	if ! SANDPIT_CONFIG=$T/secret.conf timeout 10 "$BIN/sandpit-$b" --check-config >/dev/null 2>"$T/err" &&
		grep -q "readable by group or others (mode 0644)" "$T/err"; then
		REFUSED=$((REFUSED + 1))
	fi
done
chmod 0600 "$T/secret.conf"
SANDPIT_CONFIG=$T/secret.conf "$BIN/sandpit-api" --check-config 2>&1 | grep -q "SANDPIT_JWT_SECRET=<redacted>"
ACCEPTED=$?
[ "$REFUSED" = 5 ] && [ "$ACCEPTED" = 0 ] && ok "a 0644 config file with a secret is refused by all 5 programs, 0600 accepted" ||
	ko "secret config mode" "refused=$REFUSED/5 accepted=$ACCEPTED $(cat "$T/err")"

# boxd built with sanitizers (make check) reports into its log
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/boxd.log" "$T/boxd2.log" 2>/dev/null; then
	ko "sanitizer reports from sandpit-boxd" "$(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/boxd*.log | head -30)"
else
	ok "no sanitizer report from sandpit-boxd"
fi

echo "security: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
