#!/bin/bash
# bench-webhooks.sh: webhook delivery throughput, run by bench.sh against its
# running stack (SANDPIT_URL, SANDPIT_API_KEY, SANDPIT_STATE_DIR, SANDPIT_BIN).
# Prints "bench|base|ratio NAME VALUE UNIT" lines on stdout, notes on stderr.
#
#   webhook_deliveries       N events (default 10,000) written to the outbox
#                            at once, fanned out and POSTed by the stack's
#                            reaper to a local receiver that verifies every
#                            signature; deliveries/s from the insert to the
#                            last one received.
#   execute_with_subscription / execute_no_subscription
#                            mean ms of `execute true` (which writes two
#                            events) for an org with and without a "*"
#                            subscription: fan-out is the reaper's, so the
#                            API call should not pay for subscriptions.
# The stack must allow private webhook targets (the receiver is on loopback).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
STATE=$SANDPIT_STATE_DIR
BIN=$SANDPIT_BIN
N=${BENCH_WEBHOOK_EVENTS:-10000}
EXECS=${BENCH_WEBHOOK_EXECS:-100}
AS_USER="setpriv --reuid=sandpit --regid=sandpit --init-groups --"
note() { printf 'bench-webhooks: %s\n' "$*" >&2; }
sql() { $AS_USER psql -h "$STATE/pg/run" -U sandpit -d sandpit -tAq -c "$1"; }

RECV_PID=""
cleanup() { [ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null && wait "$RECV_PID" 2>/dev/null; }
trap cleanup EXIT

coproc RECV { exec node "$REPO/tests/webhook_receiver.js" 0; }
RECV_PID=$RECV_PID
read -r line <&"${RECV[0]}"
RPORT=${line#port=}
[ -n "$RPORT" ] || { note "receiver did not start"; exit 1; }

api() { # api METHOD PATH [JSON] [KEY]
	curl -s -X "$1" -H "Authorization: ApiKey ${4:-$SANDPIT_API_KEY}" \
		-H 'Content-Type: application/json' ${3:+-d "$3"} "$SANDPIT_URL$2"
}
jfield() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# One org, one "*" subscription; the secret is given so the receiver verifies.
reg=$(curl -s -H 'Content-Type: application/json' -d "{\"first_name\":\"B\",\"last_name\":\"W\",\"email\":\"bw$RPORT$$@example.com\",\"organization_name\":\"bench-webhooks\"}" "$SANDPIT_URL/api/v1/register")
KEY=$(printf '%s' "$reg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"]["key"])')
ORG=$(printf '%s' "$reg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["organization"]["id"])')
SECRET=whsec_bench_$RPORT$$
curl -s -X POST -d "{\"secret\":\"$SECRET\"}" "http://127.0.0.1:$RPORT/_config/bench" >/dev/null
wh=$(api POST /api/v1/webhooks "{\"url\":\"http://127.0.0.1:$RPORT/hook/bench\",\"events\":[\"*\"],\"secret\":\"$SECRET\"}" "$KEY")
WH=$(printf '%s' "$wh" | jfield id 2>/dev/null) || { note "cannot create webhook: $wh"; exit 1; }

count() { curl -s "http://127.0.0.1:$RPORT/_count" | jfield total; }
before=$(count)
t0=$(date +%s.%N)
sql "INSERT INTO events (id, org_id, type, payload) SELECT 'evt_bench' || lpad(g::text, 11, '0'), '$ORG', 'sandbox.created', jsonb_build_object('id', 'evt_bench' || lpad(g::text, 11, '0'), 'event', 'sandbox.created', 'timestamp', ts(now()), 'sandboxId', NULL, 'orgId', '$ORG', 'data', jsonb_build_object('n', g)) FROM generate_series(1, $N) g"
deadline=$(($(date +%s) + 600))
while [ "$(count)" -lt $((before + N)) ]; do
	[ "$(date +%s)" -lt "$deadline" ] || { note "timed out at $(count) deliveries"; exit 1; }
	sleep 0.05
done
t1=$(date +%s.%N)
bad=$(curl -s "http://127.0.0.1:$RPORT/_received/bench" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(sum(1 for x in r if x["valid"] is not True))')
ok=$(sql "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '$WH' AND status = 'delivered'")
note "$N events: $ok delivered, $bad bad signatures, $(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}') s"
[ "$bad" -eq 0 ] && [ "$ok" -eq "$N" ] || exit 1
echo "bench webhook_deliveries $(echo "$t0 $t1 $N" | awk '{printf "%.0f", $3 / ($2 - $1)}') deliveries/s"

# The same without the per-sweep bound (SANDPIT_WEBHOOK_ROUNDS): what one
# reaper can push when the outbox is the only work. The stack's reaper is
# paused meanwhile and a private one loops instead.
OWN=""
STACK_REAPER=$(cat "$STATE/run/reaper.pid" 2>/dev/null)
uncap() {
	[ -n "$STACK_REAPER" ] && kill -STOP "$STACK_REAPER"
	SANDPIT_WEBHOOK_ROUNDS=100000 $AS_USER "$BIN/sandpit-reaper" --loop --interval 1 2>/dev/null &
	OWN=$!
	before=$(count)
	t0=$(date +%s.%N)
	sql "INSERT INTO events (id, org_id, type, payload) SELECT 'evt_bencu' || lpad(g::text, 11, '0'), '$ORG', 'sandbox.created', jsonb_build_object('id', 'evt_bencu' || lpad(g::text, 11, '0'), 'event', 'sandbox.created', 'timestamp', ts(now()), 'sandboxId', NULL, 'orgId', '$ORG', 'data', jsonb_build_object('n', g)) FROM generate_series(1, $N) g"
	deadline=$(($(date +%s) + 600))
	while [ "$(count)" -lt $((before + N)) ] && [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.05
	done
	t1=$(date +%s.%N)
	kill "$OWN" && wait "$OWN"
	[ -n "$STACK_REAPER" ] && kill -CONT "$STACK_REAPER"
	[ "$(count)" -ge $((before + N)) ] || { note "uncapped run timed out"; return 1; }
	echo "bench webhook_deliveries_uncapped $(echo "$t0 $t1 $N" | awk '{printf "%.0f", $3 / ($2 - $1)}') deliveries/s"
}
uncap

# API latency of an event-emitting call, with and without a subscription.
exec_ms() { # exec_ms KEY: mean ms of EXECS `execute true` on one sandbox
	SBX_KEY=$1 EXECS=$EXECS python3 - <<'EOF'
import json, os, time, urllib.request
url, key, n = os.environ["SANDPIT_URL"], os.environ["SBX_KEY"], int(os.environ["EXECS"])
def call(method, path, body=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Authorization": "ApiKey " + key,
                                                         "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())
sid = call("POST", "/api/v1/sandbox/create", {})["sandbox_id"]
for _ in range(5):
    call("POST", "/api/v1/sandbox/%s/execute" % sid, {"command": "true"})
t0 = time.monotonic()
for _ in range(n):
    call("POST", "/api/v1/sandbox/%s/execute" % sid, {"command": "true"})
print("%.3f" % ((time.monotonic() - t0) * 1e3 / n))
call("POST", "/api/v1/sandbox/%s/stop" % sid)
EOF
}
KEY2=$(curl -s -H 'Content-Type: application/json' -d "{\"first_name\":\"B\",\"last_name\":\"W\",\"email\":\"bn$RPORT$$@example.com\",\"organization_name\":\"bench-nohooks\"}" "$SANDPIT_URL/api/v1/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"]["key"])')
with=$(exec_ms "$KEY" 2>/dev/null) && without=$(exec_ms "$KEY2" 2>/dev/null) || {
	note "sandboxes unavailable; execute latency skipped"
	exit 0
}
echo "bench execute_with_subscription $with ms"
echo "base  execute_no_subscription $without ms"
echo "ratio execute_subscription_overhead $(echo "$with $without" | awk '{printf "%.3f", $1 / $2}') x"
