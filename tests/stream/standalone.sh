#!/bin/bash
# standalone.sh [CMD...]: a throwaway instance for the stream tests without
# the full stack: private PostgreSQL (tools/stack/stack.sh), migrations, a
# bootstrap API key, sandbox rows pointing at tests/stream/fake_agent (the
# agent TEST DOUBLE, which runs commands unsandboxed), and sandpit-stream on a
# loopback port. Then runs CMD (default: tests/stream/run-clients.sh) with:
#   SANDPIT_STREAM_URL  ws://127.0.0.1:PORT   (the proxy, no web server)
#   SANDPIT_API_KEY     a key with all scopes
#   SANDPIT_SANDBOX_ID  a running sandbox;  SANDPIT_STOPPED_ID a stopped one
#   SANDPIT_SECRET_KEY  so tests can mint stream tokens themselves
# Everything lives in a fresh state dir and is stopped at exit.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
VARIANT=${VARIANT:-release}
tests/stream/build.sh "$VARIANT" || exit 1
[ -x "build/$VARIANT/sandpit-migrate" ] && [ -x "build/$VARIANT/sandpit-admin" ] || make --no-print-directory VARIANT="$VARIANT" "build/$VARIANT/sandpit-migrate" "build/$VARIANT/sandpit-admin" >/dev/null || exit 1
BIN=$REPO/build/$VARIANT
T=$REPO/build/stream-test
STATE=$(mktemp -d /tmp/sandpit-stream.XXXXXX)
PORT=0
SPORT=${SPORT:-$((20000 + RANDOM % 20000))}
. "$REPO/tools/stack/stack.sh"

cleanup() {
	stack_stop
	rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

stack_prepare && stack_pg_start || { cat "$STATE"/logs/*.log >&2; exit 1; }
$AS_USER "$BIN/sandpit-admin" bootstrap "$STATE/keys/key" >>"$STATE/logs/admin.log" 2>&1 || {
	cat "$STATE/logs/admin.log" >&2
	exit 1
}
KEY=$(grep -o 'sk-sandbox-[A-Za-z0-9]*' "$STATE/keys/key" | head -n 1)
PSQL="$AS_USER $(stack_pgbin)/psql -h $STATE/pg/run -U sandpit -d sandpit -tAq -v ON_ERROR_STOP=1"
ORG=$($PSQL -c "SELECT org_id FROM api_keys ORDER BY created_at LIMIT 1")
SOCK=$STATE/run/fake-agent.sock
$PSQL -c "INSERT INTO sandboxes (id, org_id, status, backend, agent_address, cpus_millis,
	memory_bytes, cpus, memory, timeout_seconds, expires_at) VALUES
	('sbx_streamtest', '$ORG', 'running', 'local', 'unix:$SOCK', 1000, 1073741824, '1', '1Gi', 3600, now() + interval '1 hour'),
	('sbx_stopped', '$ORG', 'stopped', 'local', NULL, 1000, 1073741824, '1', '1Gi', 3600, now())" || exit 1
stack_spawn fake-agent TERM $AS_USER "$T/fake_agent" "$SOCK"
stack_wait_for 5 test -S "$SOCK" || { echo "fake agent did not start" >&2; exit 1; }
stack_spawn stream TERM $AS_USER env SANDPIT_STREAM_LISTEN="127.0.0.1:$SPORT" \
	SANDPIT_STREAM_PING_INTERVAL="${SANDPIT_STREAM_PING_INTERVAL:-5}" \
	SANDPIT_STREAM_KILL_GRACE="${SANDPIT_STREAM_KILL_GRACE:-1}" \
	${SANDPIT_STREAM_SEND_BUFFER:+SANDPIT_STREAM_SEND_BUFFER=$SANDPIT_STREAM_SEND_BUFFER} \
	"$T/sandpit-stream"
stack_wait_for 5 bash -c "echo > /dev/tcp/127.0.0.1/$SPORT" || {
	echo "sandpit-stream did not start" >&2
	cat "$STATE/logs/stream.log" >&2
	exit 1
}
export SANDPIT_FAKE_AGENT=1 SANDPIT_ORG_ID=$ORG SANDPIT_STREAM_URL=ws://127.0.0.1:$SPORT SANDPIT_API_KEY=$KEY SANDPIT_SANDBOX_ID=sbx_streamtest \
	SANDPIT_STOPPED_ID=sbx_stopped SANDPIT_STREAM_LOG=$STATE/logs/stream.log \
	SANDPIT_STREAM_PID=$(cat "$STATE/run/stream.pid")
if [ $# -gt 0 ]; then
	"$@"
else
	tests/stream/run-clients.sh
fi
rc=$?
[ -n "${KEEP_LOG:-}" ] && cp "$STATE/logs/stream.log" "$KEEP_LOG"
exit $rc
