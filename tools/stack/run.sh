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

# build_default: the default image, on the first start only (a no-op once
# the machine's image cache holds it), while the stack already serves.
# Sandboxes do not boot from images yet, so a failed build is reported and
# the stack runs on.
build_default() {
	local t0=$SECONDS

	"$BIN/sandpit-admin" images list 2>/dev/null | grep -q '^default  *ready ' && return 0
	echo "Building the default image (first start only; about a minute)..."
	if "$BIN/sandpit-admin" images build default; then
		echo "Built the default image in $((SECONDS - t0))s"
	else
		echo "Could not build the default image (see above); sandboxes run without it"
	fi
}

stopping=0
IMAGES_PID=
shutdown() {
	[ $stopping = 1 ] && return
	stopping=1
	# A second Ctrl-C must not cut the orderly stop short (it is bounded),
	# nor a reader that is gone (`make run | tee log`: Ctrl-C ends tee too).
	trap '' INT TERM HUP PIPE
	if [ -n "$IMAGES_PID" ] && kill -0 "$IMAGES_PID" 2>/dev/null; then
		pkill -TERM -P "$IMAGES_PID" # the builder, then its subshell
		kill -TERM "$IMAGES_PID" 2>/dev/null
	fi
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
build_default & # from the recipes the stack serves ($STATE/etc/images)
IMAGES_PID=$!
# Wait until a signal, or until a child dies unexpectedly.
while :; do
	ended=
	wait -n -p ended
	[ $stopping = 1 ] && break
	[ -n "$ended" ] && [ "$ended" = "$IMAGES_PID" ] && IMAGES_PID= && continue
	stack_log "a service exited; stopping the stack (see $STATE/logs/)"
	shutdown
done
