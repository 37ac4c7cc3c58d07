#!/bin/bash
# test.sh BUILD_DIR: `make test`. Starts a private instance in a temporary
# state directory on a free port, runs every suite against it, stops it, and
# prints "N passed, N failed" over all suites. Exit status 1 on any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "$1" && pwd)
STATE=$(mktemp -d /tmp/sandpit-test.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SANDPIT_PG_FSYNC=off SANDPIT_PG_SYNC=off
export SANDPIT_RATE_LIMIT=${SANDPIT_RATE_LIMIT:-3000} SANDPIT_RATE_BURST=${SANDPIT_RATE_BURST:-300}
# Every suite's org and registration comes from 127.0.0.1: the org bucket
# stays above the key's, and registration is not throttled on the shared
# stack (test_limits.py runs an API of its own with small limits).
export SANDPIT_ORG_RATE_LIMIT=${SANDPIT_ORG_RATE_LIMIT:-12000} SANDPIT_ORG_RATE_BURST=${SANDPIT_ORG_RATE_BURST:-1200}
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

total_pass=0
total_fail=0
summary=""

# suite NAME CMD...: run a suite, add its "N passed, N failed" line to the totals.
suite() {
	name=$1
	shift
	# SANDPIT_SUITES="NAME...": only these (the stack suite uses it).
	case " ${SANDPIT_SUITES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
	echo "=== $name"
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	last=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	p=$(printf '%s' "$last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1/p')
	f=$(printf '%s' "$last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2/p')
	[ -n "$p" ] || { p=0; f=1; }
	[ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary="$summary$(printf '  %-14s %s passed, %s failed' "$name" "$p" "$f")\n"
}

cleanup() {
	stack_stop
	rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

suite unit "$BIN/unit-tests"
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
		[ -x "$REPO/tests/$extra/run.sh" ] && suite "$extra" "$REPO/tests/$extra/run.sh"
	done
	# The same foundation suite once more, through Apache instead of Caddy.
	if stack_apache_swap; then
		suite apache python3 "$REPO/tests/integration/test_foundation.py"
		suite apache-stream /usr/bin/python3 "$REPO/tests/stream/smoke_apache.py"
	else
		total_fail=$((total_fail + 1))
	fi
else
	echo "stack did not start; logs follow"
	tail -n 30 "$STATE"/logs/*.log
	total_fail=$((total_fail + 1))
fi
# Sanitizer reports from the services (make check) land in their logs, and
# leak reports only at exit: stop first, then look.
stack_stop
if grep -lE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$STATE"/logs/*.log \
	>/dev/null 2>&1; then
	grep -E -A20 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$STATE"/logs/*.log | head -n 60
	summary="$summary  sanitizers     reports in service logs (see above)\n"
	total_fail=$((total_fail + 1))
fi
printf '\n%b' "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
