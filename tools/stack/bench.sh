#!/bin/bash
# bench.sh BUILD_DIR: `make bench`. Starts a private instance and measures
# each figure beside a floor measured in the same run. Prints
#   bench <name> <value> <unit>
#   base  <name> <value> <unit>
# pairs and writes all figures as JSON to $SANDPIT_STATE_DIR/bench.json
# (default ./var/bench.json). Timings on shared machines are noisy: compare
# the ratio, not the absolute numbers.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$1" && pwd)
OUT_DIR=${SANDPIT_STATE_DIR:-$REPO/var}
STATE=$(mktemp -d /tmp/sandpit-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HELLO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DURATION=${BENCH_SECONDS:-4}
# BENCH_QUICK=1: only the API figures (for iterating on the request path).
QUICK=${BENCH_QUICK:-}
export SANDPIT_PG_FSYNC=off SANDPIT_PG_SYNC=off
export SANDPIT_RATE_LIMIT=10000000 SANDPIT_RATE_BURST=10000000 SANDPIT_ALLOW_PRIVATE_WEBHOOKS=true
export SANDPIT_ORG_RATE_LIMIT=10000000 SANDPIT_ORG_RATE_BURST=10000000
export SANDPIT_REGISTRATION_RATE=10000000 SANDPIT_REGISTRATION_BURST=10000000
export MAX_SANDBOXES_PER_ORG=${MAX_SANDBOXES_PER_ORG:-5000}
# bench-webhooks.sh delivers to a receiver on loopback.
export SANDPIT_ALLOW_PRIVATE_WEBHOOKS=true
"$REPO/tools/stack/deps.sh" wrk hyperfine bubblewrap || exit 1
. "$REPO/tools/stack/stack.sh"

FIGURES=""
figure() { # figure KIND NAME VALUE UNIT
	printf '%-5s %-40s %12s %s\n' "$1" "$2" "$3" "$4"
	FIGURES="$FIGURES{\"kind\":\"$1\",\"name\":\"$2\",\"value\":$3,\"unit\":\"$4\"},"
}

cleanup() {
	[ -n "${HELLO_PIDS:-}" ] && kill $HELLO_PIDS 2>/dev/null && wait $HELLO_PIDS 2>/dev/null
	stack_stop
	rm -rf "$STATE"
}
trap cleanup EXIT

wrk_rps() { # wrk_rps URL [HEADER]: requests/s of a wrk run; 0 if any answer was not 2xx
	if [ $# -gt 1 ]; then
		wrk -t2 -c32 -d"${DURATION}s" -H "$2" "$1"
	else
		wrk -t2 -c32 -d"${DURATION}s" "$1"
	fi | awk '/Non-2xx/ {bad = 1} /Requests\/sec/ {rps = $2} END {print bad ? 0 : rps}'
}

stack_start || exit 1
KEY=$($AS_USER "$BIN/sandpit-admin" bootstrap "$STATE/keys/bootstrap.key" | sed -n 's/^API key: //p')

# Floor: a bare FastCGI hello with the API's process x thread shape.
gcc -O2 -o "$STATE/fcgi_hello" "$REPO/tests/bench/fcgi_hello.c" -lfcgi -lpthread || exit 1
"$STATE/fcgi_hello" "$STATE/run/hello.sock" "${SANDPIT_WORKERS:-4}" "${SANDPIT_THREADS:-8}" &
HELLO_PIDS=$!
HELLO_SOCK=$STATE/run/hello.sock HELLO_PORT=$HELLO_PORT SANDPIT_STATE_DIR=$STATE \
	caddy run --adapter caddyfile --config "$REPO/tests/bench/Caddyfile.hello" \
	>"$STATE/logs/caddy-hello.log" 2>&1 &
HELLO_PIDS="$HELLO_PIDS $!"
stack_wait_for 15 curl -sf "http://127.0.0.1:$HELLO_PORT/" || { echo "hello floor did not start"; exit 1; }

# The two alternate, BENCH_ROUNDS times each, and the medians are compared:
# on a shared machine the load of neighbours drifts within seconds.
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
hellos="" keyss=""
for _ in $(seq "${BENCH_ROUNDS:-3}"); do
	hellos="$hellos $(wrk_rps "http://127.0.0.1:$HELLO_PORT/")"
	keyss="$keyss $(wrk_rps "http://127.0.0.1:$PORT/api/v1/api-keys" "Authorization: ApiKey $KEY")"
done
hello=$(echo "$hellos" | median)
keys=$(echo "$keyss" | median)
figure bench api_keys_list_authenticated "$keys" req/s
figure base fastcgi_hello "$hello" req/s
figure ratio api_keys_list_vs_hello "$(echo "$keys $hello" | awk '{printf "%.3f", $1 / $2}')" x

# stream_figures: bench-stream.sh prints JSON records; turn them into figures.
stream_figures() {
	python3 -c '
import json, sys
pipes, channel = [], None
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    w = r.get("what", "")
    if w == "pipe":
        pipes.append(r["MBps"])
    elif w == "stream" and r.get("exited"):
        print("bench stream_%s_1g %.1f MB/s" % (r["protocol"], r["MBps"]))
        if r["protocol"] == "channel":
            channel = r["MBps"]
    elif w.startswith("pipe first byte"):
        print("base pipe_first_byte_p50 %.3f ms" % r["p50_ms"])
    elif w.startswith("stream first byte"):
        print("bench stream_first_byte_p50 %.3f ms" % r["p50_ms"])
        print("bench stream_first_byte_p99 %.3f ms" % r["p99_ms"])
    elif w == "proxy VmRSS kB":
        print("bench stream_proxy_rss_growth_slow_client %d kB" % r["growth_kB"])
if pipes:
    print("base pipe_1g %.1f MB/s" % max(pipes))
    if channel:
        print("ratio stream_channel_vs_pipe %.3f x" % (channel / max(pipes)))
'
}

# The stream bench needs a running sandbox and the proxy of this instance.
STREAM_SBX=$(curl -sf -X POST -H "Authorization: ApiKey $KEY" -H 'Content-Type: application/json' \
	-d '{}' "http://127.0.0.1:$PORT/api/v1/sandbox/create" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["sandbox_id"])')
for extra in "$REPO"/tools/stack/bench-*.sh; do
	[ -x "$extra" ] && [ -z "$QUICK" ] || continue
	# Each extra bench prints "bench|base|ratio NAME VALUE UNIT" lines.
	while read -r kind name value unit; do
		case "$kind" in bench | base | ratio) figure "$kind" "$name" "$value" "$unit" ;; esac
	done < <(SANDPIT_URL="http://127.0.0.1:$PORT" SANDPIT_API_KEY=$KEY SANDPIT_STATE_DIR=$STATE \
		SANDPIT_BIN=$BIN SANDPIT_STREAM_URL="ws://127.0.0.1:$PORT" SANDPIT_SANDBOX_ID=$STREAM_SBX \
		SANDPIT_STREAM_PID=$(cat "$STATE/run/stream.pid") BENCH_SLOW_SECONDS=${BENCH_SLOW_SECONDS:-10} \
		"$extra" | if [ "${extra##*/}" = bench-stream.sh ]; then stream_figures; else cat; fi)
done

mkdir -p "$OUT_DIR"
echo "[${FIGURES%,}]" >"$OUT_DIR/bench.json"
echo "figures written to $OUT_DIR/bench.json"
