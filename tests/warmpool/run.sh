#!/bin/bash
# run.sh [BUILD_DIR]: the warm pool suite. The pool is instance configuration
# read at start-up, so this suite starts its own private instance (own state
# directory, port, database, boxd) with WARM_POOL_ENABLED=true, runs
# test_warmpool.py against it (claims, fallbacks, cleanliness, create -> ready
# with the pool and without it in the same run), and stops it. Prints
# "warmpool: N passed, N failed".
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-${SANDPIT_BIN:-$REPO/build/release}}" && pwd)
STATE=$(mktemp -d /tmp/sandpit-pool.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SANDPIT_PG_FSYNC=off SANDPIT_PG_SYNC=off SANDPIT_RATE_LIMIT=1000000 SANDPIT_RATE_BURST=1000000
export SANDPIT_ORG_RATE_LIMIT=1000000 SANDPIT_ORG_RATE_BURST=1000000
export SANDPIT_REGISTRATION_RATE=1000000 SANDPIT_REGISTRATION_BURST=100000
export WARM_POOL_ENABLED=true WARM_POOL_SIZE=${WARM_POOL_SIZE:-4}
# One sandbox's worth of defaults that the host can hold many of.
export DEFAULT_CPUS=0.5 DEFAULT_MEMORY=128Mi
. "$REPO/tools/stack/stack.sh"
trap 'stack_stop; rm -rf "$STATE"' EXIT
trap 'exit 130' INT TERM
if ! stack_start; then
	tail -n 20 "$STATE"/logs/*.log
	echo "warmpool: 0 passed, 1 failed"
	exit 1
fi
export SANDPIT_URL="http://127.0.0.1:$PORT" SANDPIT_STATE_DIR="$STATE" SANDPIT_BIN="$BIN"
python3 "$REPO/tests/warmpool/test_warmpool.py"
