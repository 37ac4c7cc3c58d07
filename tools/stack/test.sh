#!/bin/bash
# test.sh BUILD_DIR: `make test`. Starts a private instance in a temporary
# state directory on a free port, runs every suite against it, stops it, and
# ends with "N passed, N failed, N skipped" over all suites. Exit status 1 on
# any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$1" && pwd)
STATE=$(mktemp -d /tmp/sandpit-test.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SANDPIT_PG_FSYNC=off SANDPIT_PG_SYNC=off
export SANDPIT_RATE_LIMIT=${SANDPIT_RATE_LIMIT:-3000} SANDPIT_RATE_BURST=${SANDPIT_RATE_BURST:-300}
# Every suite's org and registration comes from 127.0.0.1: the org bucket
# stays above all of an org's keys together (test_files.py spreads its few
# thousand requests over a ring of 30 keys), and registration is not
# throttled on the shared stack (test_limits.py sets small limits of its own:
# per-org overrides, and an API of its own for registration).
export SANDPIT_ORG_RATE_LIMIT=${SANDPIT_ORG_RATE_LIMIT:-100000} SANDPIT_ORG_RATE_BURST=${SANDPIT_ORG_RATE_BURST:-10000}
export SANDPIT_REGISTRATION_RATE=${SANDPIT_REGISTRATION_RATE:-1000000} SANDPIT_REGISTRATION_BURST=${SANDPIT_REGISTRATION_BURST:-100000}
export SANDPIT_ALLOW_PRIVATE_WEBHOOKS=true
"$REPO/tools/stack/deps.sh" apache2 python3-websockets chromium bc || exit 1
# Node (for the seeds' webhook verifier and the ws client) may come from
# elsewhere than Debian; install Debian's only when there is none.
command -v node >/dev/null || "$REPO/tools/stack/deps.sh" nodejs npm || exit 1
. "$REPO/tools/stack/stack.sh"
# stack_start points BIN at the instance's installed copy; the stack suite
# copies the build directory itself into its private checkout.
export SANDPIT_BUILD_DIR=$BIN

# suite NAME CMD...: run a suite and count it (tools/stack/suite.sh: skipped
# tests apart, a crash before the summary as a failure).
. "$REPO/tools/stack/suite.sh"
suite() {
	# SANDPIT_SUITES="NAME...": only these (the stack suite uses it).
	case " ${SANDPIT_SUITES:-$1} " in *" $1 "*) ;; *) return 0 ;; esac
	echo "=== $1"
	suite_run "$@"
}

cleanup() {
	stack_stop
	rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The runners themselves first: a crashing suite must count as failed.
suite runners "$REPO/tests/runners/run.sh"
suite unit "$BIN/unit-tests"
# Every fuzz target builds and survives its seeds (long runs: make fuzz).
suite fuzz "$REPO/tests/fuzz/run.sh"
# Images first: the template suites read what the shared cache holds.
suite images "$REPO/tests/images/run.sh" "$BIN"
if stack_start; then
	export SANDPIT_URL="http://127.0.0.1:$PORT" SANDPIT_STATE_DIR="$STATE" SANDPIT_BIN="$BIN"
	SANDPIT_API_KEY=$($AS_USER "$BIN/sandpit-admin" bootstrap "$STATE/keys/bootstrap.key" | sed -n 's/^API key: //p')
	export SANDPIT_API_KEY
	# The unit suites that need the schema, against this instance's cluster.
	suite unit-db $AS_USER env SANDPIT_TEST_CONNINFO="host=$STATE/pg/run dbname=sandpit user=sandpit" \
		"$BIN/unit-tests" ratelimit_pg db_pg lifecycle_pg
	suite integration "$REPO/tests/integration/run.sh"
	for extra in security stream warmpool stack chaos; do
		suite "$extra" "$REPO/tests/$extra/run.sh" # (not there or not executable: a failure)
	done
	# The same foundation suite once more, through Apache instead of Caddy.
	if stack_apache_swap; then
		suite apache python3 "$REPO/tests/integration/test_foundation.py"
		suite apache-stream /usr/bin/python3 "$REPO/tests/stream/smoke_apache.py"
	else
		suite_fail apache "Apache did not take Caddy's place"
	fi
else
	echo "stack did not start; logs follow"
	tail -n 30 "$STATE"/logs/*.log
	suite_fail stack-start "the stack did not start"
fi
# Sanitizer reports from the services (make check) land in their logs, and
# leak reports only at exit: stop first, then look.
stack_stop
if grep -lE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$STATE"/logs/*.log \
	>/dev/null 2>&1; then
	grep -E -A20 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$STATE"/logs/*.log | head -n 60
	suite_fail sanitizers "reports in service logs (see above)"
fi
printf '\n%s' "$SUITE_LINES"
# The last line: "N passed, N failed, N skipped".
suite_total
[ "$SUITE_FAIL" -eq 0 ]
