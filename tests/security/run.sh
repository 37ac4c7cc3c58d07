#!/bin/bash
# run.sh: hostile code inside real sandboxes, asserting containment.
#   tests/security/run.sh [BIN_DIR]     (root; default build/release)
# Starts a private sandpit-boxd on a temporary state directory, drives it
# with sandpit-boxctl (lib/backend + lib/agent_client), runs the probes of
# probe.c and shell one-liners inside sandboxes, then checks that nothing
# leaks after create->exec->destroy cycles. Ends with
# "security: N passed, N failed" and exits non-zero on any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$REPO/build/release}" && pwd)
T=$(mktemp -d /tmp/sandpit-sec.XXXXXX)
S=$T/state
PASS=0
FAIL=0
BOXD_PID=
BOXD2_PID=
LISTEN_PID=

cleanup() {
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
"$BIN/sandpit-boxd" --state-dir "$S" --agent "$BIN/sandpit-agent" --default-memory 256Mi \
	--default-pids 128 --default-disk 32Mi --tmp-size 16Mi --nofile 1024 \
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
X a 5000 'ls /proc | grep -c "^[0-9]"'
[ "$OUT" -le 3 ] && ok "/proc shows only the sandbox's own processes ($OUT)" || ko "/proc pids" "$OUT"
X a 5000 "ls /proc/$BOXD_PID 2>&1; ls /proc/1/ 2>&1 | head -1"
grep -q "No such file" <<<"$OUT" && ok "host pids and the agent are invisible" || ko "pid visibility" "$OUT"
X a 5000 '/workspace/probe fds'
grep -q "count=3" <<<"$OUT" && ok "only fds 0-2 at exec ($(echo $OUT))" || ko "fds" "$OUT"
X a 5000 'grep -c . /etc/shadow; cat /etc/shadow'
[ "$(echo $OUT)" = "0" ] && ok "/etc/shadow masked" || ko "/etc/shadow" "$OUT"
X a 5000 'grep NoNewPrivs /proc/self/status; grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status | grep -vc ":\s*0*$"'
grep -q "NoNewPrivs:.1" <<<"$OUT" && [ "$(tail -1 <<<"$OUT")" = 0 ] && ok "no_new_privs, no capabilities" || ko "caps" "$OUT"
X a 5000 'grep -E " /(usr|etc) " /proc/self/mounts'
grep -q " /usr " <<<"$OUT" && ! grep -v "ro,nosuid,nodev" <<<"$OUT" | grep -q . && ok "/usr /etc read-only nosuid nodev" || ko "ro binds" "$OUT"

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

# --- leak check -------------------------------------------------------------------------------
MOUNTS0=$(wc -l </proc/mounts)
N=${SEC_CYCLES:-40}
cycle() {
	local id=leak$1
	B create "$id" >/dev/null || { echo "create $id failed"; return; }
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
STATES=$(find "$S/run" -name '*.state*' | wc -l)
LISTED=$(B list | wc -l)
DAEMON=$(pgrep -P "$BOXD_PID" -x sandpit-boxd)
ZOMBIES=$(ps -eo stat=,ppid= | awk -v k="$BOXD_PID" -v d="${DAEMON:-0}" '$1 ~ /^Z/ && ($2 == k || $2 == d)' | wc -l)
if [ -z "$ERRS" ] && [ "$PROCS" = 0 ] && [ "$CG" = 0 ] && [ "$MOUNTS0" = "$MOUNTS1" ] && [ "$SOCKS" = 0 ] &&
	[ "$STATES" = 0 ] && [ "$LISTED" = 0 ] && [ "$ZOMBIES" = 0 ]; then
	ok "leak check: $N cycles (4 parallel) leave 0 processes, cgroups, mounts, sockets, state files, zombies"
else
	ko "leak check" "errs='$ERRS' procs=$PROCS cgroups=$CG mounts=$MOUNTS0->$MOUNTS1 socks=$SOCKS states=$STATES listed=$LISTED zombies=$ZOMBIES"
fi

echo "security: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
