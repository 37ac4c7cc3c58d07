#!/bin/bash
# run.sh BUILD_DIR: `make run`. Starts the instance under SANDPIT_STATE_DIR
# on 127.0.0.1:PORT (default 8080), prints its URL and an API key, and stops
# everything it started on Ctrl-C or SIGTERM (to it or to its whole group).
# The default state directory is outside the checkout, where the services'
# user can reach it wherever the checkout is: /var/lib/sandpit-dev/NAME-HASH,
# one per checkout path (NAME its last component, HASH from its full path).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$1" && pwd)
if [ -z "${SANDPIT_STATE_DIR:-}" ]; then
	install -d -m 0755 /var/lib/sandpit-dev || exit 1
	SANDPIT_STATE_DIR=/var/lib/sandpit-dev/$(basename "$REPO")-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)
fi
STATE=$SANDPIT_STATE_DIR
PORT=${PORT:-8080}
. "$REPO/tools/stack/stack.sh"

stopping=0
shutdown() {
	[ $stopping = 1 ] && return
	stopping=1
	# A second Ctrl-C must not cut the orderly stop short (it is bounded),
	# nor a reader that is gone (`make run | tee log`: Ctrl-C ends tee too).
	trap '' INT TERM HUP PIPE
	stack_log "stopping"
	stack_stop
	stack_log "stopped"
	exit 0
}
trap shutdown INT TERM HUP

if ! stack_start; then
	stack_stop
	exit 1
fi
echo "Sandpit is up at http://127.0.0.1:$PORT"
$AS_USER "$BIN/sandpit-admin" bootstrap "$STATE/keys/bootstrap.key" 2>>"$STATE/logs/admin.log" || {
	stack_log "cannot create the bootstrap key; see $STATE/logs/admin.log"
	shutdown
}
echo "State: $STATE"
echo "Logs: $STATE/logs/ (Ctrl-C stops everything)"
# Wait until a signal, or until a child dies unexpectedly.
while :; do
	wait -n
	[ $stopping = 1 ] && break
	stack_log "a service exited; stopping the stack (see $STATE/logs/)"
	shutdown
done
