#!/bin/bash
# run.sh: PostgreSQL goes away for 10 s under load, then comes back. On its
# own instance (it stops the database). While the database is away the API
# answers 503 with a JSON error, quickly, never a hang or a crash; afterwards
# everything recovers by itself: API, stream proxy and reaper, no restarts.
# Prints "chaos: N passed, N failed".
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SANDPIT_BIN:-$REPO/build/release}
STATE=$(mktemp -d /tmp/sandpit-chaos.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SANDPIT_PG_FSYNC=off SANDPIT_PG_SYNC=off SANDPIT_RATE_LIMIT=1000000 SANDPIT_RATE_BURST=1000000
export SANDPIT_ORG_RATE_LIMIT=1000000 SANDPIT_ORG_RATE_BURST=1000000
export SANDPIT_REGISTRATION_RATE=1000000 SANDPIT_REGISTRATION_BURST=100000
export SANDPIT_ALLOW_PRIVATE_WEBHOOKS=true
unset SANDPIT_URL SANDPIT_API_KEY
. "$REPO/tools/stack/stack.sh"
U=http://127.0.0.1:$PORT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { # check NAME CMD...
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
	rc=$?
	# ended early (a failed start, an unset variable): never a pass
	[ "$rc" != 0 ] && [ "$failed" = 0 ] && bad "run.sh ended early (exit $rc)"
	touch "$STATE/stop-load"
	[ -n "${RECEIVER:-}" ] && kill "$RECEIVER" 2>/dev/null && wait "$RECEIVER" 2>/dev/null
	[ -n "${LOAD:-}" ] && wait "$LOAD" 2>/dev/null
	stack_stop
	rm -rf "$STATE"
	echo "chaos: $passed passed, $failed failed"
	[ "$failed" = 0 ] && exit 0
	exit 1
}
trap finish EXIT

stack_start || { bad "stack starts"; exit 1; }
KEY=$($AS_USER "$BIN/sandpit-admin" bootstrap "$STATE/keys/bootstrap.key" | sed -n 's/^API key: //p')
call() { # call METHOD PATH [BODY]: prints "STATUS" and leaves the body in $STATE/body
	curl -s -o "$STATE/body" -w '%{http_code}' --max-time 15 -X "$1" \
		-H "Authorization: ApiKey $KEY" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$U$2"
}
# error_is CODE WANT: the status is WANT and the body the JSON error shape.
error_is() { [ "$1" = "$2" ] && is_json_error; }
is_json_error() { python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["code"] and e["message"]' "$STATE/body" 2>/dev/null; }
[ "$(call POST /api/v1/sandbox/create '{"memory":"64Mi"}')" = 201 ] || { bad "create before"; exit 1; }
SID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox_id"])' "$STATE/body")
workers_before=$(pgrep -c -P "$(cat "$STATE/run/api.pid")")

# A webhook receiver on loopback records every delivery; a sandbox that
# expires while the database is away must still be announced, once.
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$RPORT" "$STATE/deliveries.txt" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "a") as f:
            f.write(self.headers["X-Sandpit-Delivery"] + " " + body.decode() + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
RECEIVER=$!
[ "$(call POST /api/v1/webhooks "{\"url\":\"http://127.0.0.1:$RPORT/hook\",\"events\":[\"sandbox.timeout\"]}")" = 201 ] ||
	bad "webhook subscription"
[ "$(call POST /api/v1/sandbox/create '{"memory":"64Mi","timeout_seconds":3}')" = 201 ] ||
	bad "create the expiring sandbox"
EXPIRING=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox_id"])' "$STATE/body")

# Load: status reads in a loop, every answer's code and time recorded.
(while [ ! -e "$STATE/stop-load" ]; do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 20 \
		-H "Authorization: ApiKey $KEY" "$U/api/v1/sandbox/$SID/status"
done) >"$STATE/load.txt" &
LOAD=$!
# the load is under way: answers are coming back
for _ in $(seq 200); do [ -s "$STATE/load.txt" ] && break; sleep 0.05; done
[ -s "$STATE/load.txt" ] || bad "the load started"

# The outage: a fast shutdown of the postmaster.
pg=$(cat "$STATE/run/postgres.pid")
kill -INT "$pg"
wait "$pg" 2>/dev/null
STACK_PIDS=$(printf '%s\n' $STACK_PIDS | grep -v "^$pg:" | tr '\n' ' ')
t_down=$(date +%s)
sleep 1
code=$(call GET /api/v1/ready)
check "ready is 503 with a JSON error while the database is away" error_is "$code" 503
code=$(call GET "/api/v1/sandbox/$SID/status")
check "authenticated read is 503 with a JSON error" error_is "$code" 503
code=$(call POST /api/v1/sandbox/create '{}')
check "create is 503 with a JSON error" error_is "$code" 503
check "health still answers 200 (the process is alive)" [ "$(call GET /api/v1/health)" = 200 ]
while [ $(($(date +%s) - t_down)) -lt 10 ]; do sleep 0.5; done

# Back: the same data directory, started again by this shell.
stack_pg_start || { bad "postgres restarts"; exit 1; }
recovered=""
for _ in $(seq 100); do
	[ "$(call GET /api/v1/ready)" = 200 ] && recovered=yes && break
	sleep 0.1
done
check "ready recovers without restarting the API" [ -n "$recovered" ]
check "authenticated read works again" [ "$(call GET "/api/v1/sandbox/$SID/status")" = 200 ]
code=$(call POST "/api/v1/sandbox/$SID/execute" '{"command":"echo back"}')
said_back() { [ "$code" = 200 ] && grep -q '"stdout":"back\\n"' "$STATE/body"; }
check "execute in the sandbox from before works" said_back
code=$(call POST /api/v1/sandbox/create '{"memory":"64Mi","timeout_seconds":2}')
check "create works again" [ "$code" = 201 ]
short=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox_id"])' "$STATE/body")
status=""
for _ in $(seq 60); do
	call GET "/api/v1/sandbox/$short/status" >/dev/null
	status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$STATE/body")
	[ "$status" = timeout ] && break
	sleep 0.2
done
check "the looping reaper recovered too (expiry enforced)" [ "$status" = timeout ]
check "no API worker crashed or was replaced" [ "$(pgrep -c -P "$(cat "$STATE/run/api.pid")")" = "$workers_before" ]

delivered=0
for _ in $(seq 100); do
	delivered=$(grep -c "\"sandboxId\": *\"$EXPIRING\"" "$STATE/deliveries.txt" 2>/dev/null)
	[ "${delivered:-0}" -ge 1 ] && break
	sleep 0.2
done
# a second delivery would have come within two whole sweeps of the reaper
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import harness as h
h.wait_sweeps(h.stack_reaper_pid(sys.argv[2]), 2)' "$REPO/tests/integration" "$STATE" ||
	bad "the reaper sweeps"
delivered=$(grep "\"sandboxId\": *\"$EXPIRING\"" "$STATE/deliveries.txt" 2>/dev/null | awk '{print $1}' | sort -u | wc -l)
check "a sandbox that expired during the outage is announced once after it" [ "$delivered" = 1 ]

touch "$STATE/stop-load"
wait "$LOAD"
LOAD=""
codes=$(awk '{print $1}' "$STATE/load.txt" | sort | uniq -c | tr '\n' ' ')
slowest=$(awk 'BEGIN {m = 0} {if ($2 > m) m = $2} END {print m}' "$STATE/load.txt")
echo "load: $(wc -l <"$STATE/load.txt") requests, codes: $codes slowest ${slowest}s"
check "under load every answer was 200 or 503 (no hang, no 502)" \
	[ -z "$(awk '$1 != 200 && $1 != 503' "$STATE/load.txt")" ]
check "no answer took longer than 6 s" awk -v m="$slowest" 'BEGIN {exit !(m < 6)}'
