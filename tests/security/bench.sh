#!/bin/bash
# bench.sh: runtime figures beside same-run floors (root).
#   tests/security/bench.sh [BIN_DIR] [N]
# Prints create->ready and exec(true) through lib/backend + lib/agent_client
# (sandpit-boxctl bench), beside fork+exec of true, unshare of the same
# namespaces + true, and bwrap with a read-only root, /proc, /dev, tmpfs;
# and the host memory of an idle sandbox (cgroup memory of 20 idle ones).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$REPO/build/release}" && pwd)
N=${2:-200}
T=$(mktemp -d /tmp/sandpit-bench.XXXXXX)
S=$T/state
mkdir -p "$S"
"$BIN/sandpit-boxd" --state-dir "$S" --agent "$BIN/sandpit-agent" >"$T/boxd.log" 2>&1 &
BOXD=$!
trap 'kill $BOXD 2>/dev/null; wait $BOXD 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -S "$S/run/boxd.sock" ] && break; sleep 0.05; done

# floor MS_CMD...: p50 of N runs in ms
floor() {
	python3 - "$N" "$@" <<'PY'
import subprocess, sys, time
n = int(sys.argv[1]); cmd = sys.argv[2:]
ts = []
for _ in range(n):
    t = time.perf_counter(); subprocess.run(cmd, check=True); ts.append((time.perf_counter() - t) * 1e3)
ts.sort(); print("p50=%.2f p99=%.2f" % (ts[len(ts)//2], ts[int(len(ts)*0.99)-1]))
PY
}
echo "floor fork+exec true:            $(floor /bin/true)"
echo "floor unshare -UpfmnuiC + true:  $(floor unshare -Ur -pf -m -n -u -i -C /bin/true)"
if command -v bwrap >/dev/null; then
	echo "floor bwrap ro root+proc+dev+tmp: $(floor bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin \
		--symlink usr/lib /lib --symlink usr/lib64 /lib64 --ro-bind /etc /etc --proc /proc --dev /dev \
		--tmpfs /tmp --tmpfs /workspace /bin/true)"
fi
"$BIN/sandpit-boxctl" -s "$S/run/boxd.sock" bench "$N" | sed 's/^/sandpit /'
# idle memory: charged to the sandbox cgroups (agent + tmpfs + kernel objects)
for i in $(seq 20); do "$BIN/sandpit-boxctl" -s "$S/run/boxd.sock" create idle$i >/dev/null; done
sleep 0.2
TOTAL=0
for i in $(seq 20); do
	M=$("$BIN/sandpit-boxctl" -s "$S/run/boxd.sock" inspect idle$i | sed 's/.*memory_current=\([0-9]*\).*/\1/')
	TOTAL=$((TOTAL + M))
done
RSS=$(ps -o rss= -C sandpit-agent | awk '{s+=$1} END {printf "%d", s/NR}')
PSS=$(for p in $(pgrep -x sandpit-agent); do awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup; done | awk '{s+=$1} END {printf "%d", s/NR}')
echo "sandpit idle sandbox: cgroup memory $((TOTAL / 20 / 1024)) KiB, agent RSS ${RSS} KiB, PSS ${PSS} KiB"
for i in $(seq 20); do "$BIN/sandpit-boxctl" -s "$S/run/boxd.sock" destroy idle$i >/dev/null; done
