#!/bin/sh
# run.sh: the stream client suites against the stack `make test` started
# (SANDPIT_URL, SANDPIT_API_KEY, SANDPIT_STATE_DIR, SANDPIT_SECRET_KEY set by
# tools/stack/test.sh). Creates the sandboxes the suites need, runs
# run-clients.sh, stops the sandboxes. Prints "stream: N passed, N failed".
cd "$(dirname "$0")" || exit 2
api() { # api METHOD PATH: JSON response on stdout
	curl -sf -X "$1" -H "Authorization: ApiKey $SANDPIT_API_KEY" \
		-H 'Content-Type: application/json' -d '{}' "$SANDPIT_URL$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
a=$(api POST /api/v1/sandbox/create | field '["sandbox_id"]')
b=$(api POST /api/v1/sandbox/create | field '["sandbox_id"]')
stopped=$(api POST /api/v1/sandbox/create | field '["sandbox_id"]')
api POST "/api/v1/sandbox/$stopped/stop" >/dev/null
org=$(api GET "/api/v1/sandbox/$a" >/dev/null && python3 - <<PY
import subprocess
out = subprocess.run(["setpriv", "--reuid=sandpit", "--regid=sandpit", "--init-groups", "--",
                      "psql", "-h", "$SANDPIT_STATE_DIR/pg/run", "-U", "sandpit", "-d", "sandpit",
                      "-tAc", "SELECT org_id FROM sandboxes WHERE id = '$a'"],
                     capture_output=True, text=True).stdout.strip()
print(out)
PY
)
if [ -z "$a" ] || [ -z "$b" ]; then
	echo "stream: 0 passed, 1 failed (cannot create sandboxes)"
	exit 1
fi
export SANDPIT_STREAM_URL="ws://${SANDPIT_URL#http://}" SANDPIT_SANDBOX_ID=$a \
	SANDPIT_SANDBOX_IDS="$a,$b" SANDPIT_STOPPED_ID=$stopped SANDPIT_ORG_ID=$org \
	SANDPIT_STREAM_PID=$(cat "$SANDPIT_STATE_DIR/run/stream.pid")
./run-clients.sh
rc=$?
api POST "/api/v1/sandbox/$a/stop" >/dev/null
api POST "/api/v1/sandbox/$b/stop" >/dev/null
exit $rc
