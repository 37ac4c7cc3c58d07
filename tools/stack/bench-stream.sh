#!/bin/bash
# bench-stream.sh: stream proxy figures beside same-run baselines.
#   1. throughput of `head -c 1G /dev/zero` through the proxy to a local C
#      client (channel and JSON protocols) beside the same bytes through a
#      plain pipe;
#   2. time to the first output byte of `echo hi` (p50/p90/p99 over N runs)
#      beside fork+exec of `sh -c 'echo hi'` with a pipe;
#   3. the proxy's memory with a command writing 2 GiB to a client reading at
#      1 MiB/s (sampled VmRSS for BENCH_SLOW_SECONDS, default 30).
# Against a running stack: set SANDPIT_STREAM_URL (ws://host:port),
# SANDPIT_API_KEY, SANDPIT_SANDBOX_ID and SANDPIT_STREAM_PID (the proxy's pid,
# for the memory samples). Without them it runs itself under
# tests/stream/standalone.sh (fake agent TEST DOUBLE: commands run on the host).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${SANDPIT_STREAM_URL:-}" ]; then
	# Streams count against the key's rate limit like API calls; the
	# latency loop opens hundreds, so the throwaway instance lifts it.
	export SANDPIT_RATE_LIMIT=10000000 SANDPIT_RATE_BURST=10000000
	export SANDPIT_ORG_RATE_LIMIT=10000000 SANDPIT_ORG_RATE_BURST=10000000
	exec "$REPO/tests/stream/standalone.sh" "$0" "$@"
fi
W=$REPO/build/stream-test/wsbench
[ -x "$W" ] || "$REPO/tests/stream/build.sh" >/dev/null 2>&1
HP=${SANDPIT_STREAM_URL#ws://}
HP=${HP%%/*}
SBX=$SANDPIT_SANDBOX_ID
N=${BENCH_LATENCY_RUNS:-200}
GIB=1073741824

echo "== throughput: 1 GiB of zeros"
head -c $GIB /dev/zero | "$W" stdin
"$W" stream "$HP" "$SBX" "head -c $GIB /dev/zero"
"$W" stream "$HP" "$SBX" "head -c $GIB /dev/zero" --json
head -c $GIB /dev/zero | "$W" stdin

echo "== first byte of 'echo hi' ($N runs)"
"$W" pipe-latency "$N"
"$W" latency "$HP" "$SBX" "$N"

echo "== memory: 2 GiB to a client reading 1 MiB/s"
secs=${BENCH_SLOW_SECONDS:-30}
pid=${SANDPIT_STREAM_PID:-}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
if [ -n "$pid" ]; then
	before=$(rss "$pid")
	"$W" stream "$HP" "$SBX" "head -c $((2 * GIB)) /dev/zero" --rate 1048576 --seconds "$secs" \
		--rcvbuf 65536 >"${TMPDIR:-/tmp}/slow.$$" &
	cpid=$!
	max=$before
	samples=""
	while kill -0 $cpid 2>/dev/null; do
		r=$(rss "$pid")
		[ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
		samples="$samples $r"
		sleep 1
	done
	wait $cpid
	cat "${TMPDIR:-/tmp}/slow.$$"
	rm -f "${TMPDIR:-/tmp}/slow.$$"
	echo "{\"what\":\"proxy VmRSS kB\",\"before\":$before,\"max\":$max,\"growth_kB\":$((max - before)),\"samples\":\"${samples# }\"}"
	sleep 3 # the command is hung up (SIGHUP, then SIGKILL after the grace)
	echo "{\"what\":\"proxy VmRSS kB after the slow client left\",\"now\":$(rss "$pid")}"
	[ -n "${SANDPIT_STREAM_LOG:-}" ] && grep -o 'peak_queue=[0-9]*' "$SANDPIT_STREAM_LOG" | sort -t= -k2 -n | tail -n 1
else
	echo "(SANDPIT_STREAM_PID not set: memory not sampled)"
fi
