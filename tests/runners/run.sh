#!/bin/sh
# run.sh: the test runners tested. Feeds suites that pass, skip, crash before
# their summary, die of a signal or exit non-zero with "0 failed" to
# tools/stack/suite.sh (what `make test` counts with), and runs copies of
# tests/integration/run.sh with harness.py and of tests/stream/run-clients.sh
# over fake suites, asserting what each counts. Needs no stack.
# Prints "runners: N passed, N failed".
REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/sandpit-runners.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
# expect NAME GOT WANT
expect() {
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1: got '$2', want '$3'"
	fi
}

# counted NAME CMD...: "P F S rc" as suite_run counts CMD alone (in a fresh
# shell, so the totals start at zero).
counted() {
	sh -c '. "$1/tools/stack/suite.sh"; shift; suite_run "$@" >/dev/null; rc=$?
		echo "$SUITE_PASS $SUITE_FAIL $SUITE_SKIP $rc"' sh "$REPO" "$@"
}

# ---- suite.sh -------------------------------------------------------------
expect "a passing suite counts its passes" \
	"$(counted good sh -c 'echo "ok   a"; echo "good: 3 passed, 0 failed"')" "3 0 0 0"
expect "skipped tests are counted apart, not as passed" \
	"$(counted skips sh -c 'echo "skips: 2 passed, 0 failed, 5 skipped"')" "2 0 5 0"
expect "failures are counted" \
	"$(counted bad sh -c 'echo "bad: 1 passed, 2 failed"; exit 1')" "1 2 0 1"
expect "a suite that crashes before its summary fails" \
	"$(counted crash sh -c 'echo "ok   a"; echo "ok   b"; exit 3')" "0 1 0 1"
expect "a suite that exits 0 without a summary fails" \
	"$(counted silent true)" "0 1 0 1"
expect "a suite killed by a signal after an inner summary fails" \
	"$(counted segv sh -c 'echo "inner: 4 passed, 0 failed"; kill -SEGV $$')" "4 1 0 1"
expect "a non-zero exit with \"0 failed\" fails" \
	"$(counted liar sh -c 'echo "liar: 4 passed, 0 failed"; exit 2')" "4 1 0 1"
expect "a missing command fails" \
	"$(counted missing "$T/no-such-suite")" "0 1 0 1"
expect "the total line ends with N passed, N failed, N skipped" \
	"$(sh -c '. "$1/tools/stack/suite.sh"
		suite_run a sh -c "echo \"a: 2 passed, 0 failed, 1 skipped\"" >/dev/null
		suite_run b sh -c "exit 1" >/dev/null
		suite_total' sh "$REPO")" "2 passed, 1 failed, 1 skipped"

# ---- harness.py and tests/integration/run.sh ------------------------------
mkdir -p "$T/tools/stack" "$T/tests/integration" "$T/tests/stream/node_modules/ws"
cp "$REPO/tools/stack/suite.sh" "$T/tools/stack/"
cp "$REPO/tests/integration/run.sh" "$REPO/tests/integration/harness.py" "$T/tests/integration/"
cat >"$T/tests/integration/test_a.py" <<'PY'
from harness import cleanup, main, skip, test
@test
def passes():
    pass
@test
def needs_what_is_missing():
    skip("no such thing here")
@test
def fails():
    raise AssertionError("no")
@cleanup
def tidy():
    pass
main("a")
PY
cat >"$T/tests/integration/test_b.py" <<'PY'
raise RuntimeError("crashed at import, before any summary")
PY
cat >"$T/tests/integration/test_c.py" <<'PY'
from harness import cleanup, main, test
@test
def passes():
    pass
@cleanup
def broken_cleanup():
    raise RuntimeError("stop failed")
main("c")
PY
out=$("$T/tests/integration/run.sh" 2>&1)
rc=$?
expect "harness: a skip is printed as skip" \
	"$(printf '%s\n' "$out" | grep -c '^skip needs_what_is_missing')" 1
expect "harness: cleanup steps are not counted as tests" \
	"$(printf '%s\n' "$out" | grep -E '^a: ')" "a: 1 passed, 1 failed, 1 skipped"
expect "harness: a failing cleanup step is a failure" \
	"$(printf '%s\n' "$out" | grep -E '^c: ')" "c: 1 passed, 1 failed, 0 skipped"
expect "integration/run.sh: a crashed file counts, skips apart" \
	"$(printf '%s\n' "$out" | tail -n 1)" "integration: 2 passed, 3 failed, 1 skipped"
expect "integration/run.sh: exits non-zero" "$rc" 1

# ---- tests/stream/run-clients.sh ---------------------------------------
S=$T/tests/stream
cp "$REPO/tests/stream/run-clients.sh" "$S/"
printf '%s\n' 'print("ok   a")' 'print("skip b  (why)")' \
	'print("python: 1 passed, 0 failed, 1 skipped")' >"$S/test_python.py"
# node dies before its summary: once dropped from the count
printf '%s\n' 'console.log("ok   exec_and_exit");' 'process.exit(3);' >"$S/test_node.js"
printf '%s\n' 'print("chromium: 1 passed, 0 failed")' >"$S/test_chromium.py"
out=$(env -u SANDPIT_STREAM_PID -u SANDPIT_URL "$S/run-clients.sh" 2>&1)
rc=$?
expect "run-clients.sh: a client that crashes before its summary fails the run" \
	"$(printf '%s\n' "$out" | tail -n 1) rc=$rc" "stream: 2 passed, 1 failed, 3 skipped rc=1"
printf '%s\n' 'console.log("node: 2 passed, 0 failed");' >"$S/test_node.js"
out=$(env -u SANDPIT_STREAM_PID -u SANDPIT_URL "$S/run-clients.sh" 2>&1)
rc=$?
expect "run-clients.sh: all clients pass; isolation and drain skipped without a stack and a proxy pid" \
	"$(printf '%s\n' "$out" | tail -n 1) rc=$rc" "stream: 4 passed, 0 failed, 3 skipped rc=0"

echo "runners: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
