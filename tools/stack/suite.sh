# suite.sh: count test suites honestly (POSIX sh; sourced by test.sh,
# tests/integration/run.sh and tests/stream/run-clients.sh; tested by
# tests/runners/run.sh).
#
# Every suite ends with a summary line "NAME: N passed, N failed" or
# "NAME: N passed, N failed, N skipped". suite_run takes the last such line
# of a suite's output. A suite that never prints one (it crashed, or was
# killed, before its summary) counts as one failure, and so does a suite that
# exits non-zero with no failure counted: a suite cannot pass by dying.
# Skipped tests are counted apart and never as passed.

SUITE_PASS=0
SUITE_FAIL=0
SUITE_SKIP=0
SUITE_LINES=""

# suite_count LINE: the three counts of a summary line as "P F S", or nothing
# when LINE is not one.
suite_count() {
	printf '%s\n' "$1" | sed -n \
		-e 's/^\(.*[^0-9]\)\{0,1\}\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed, \([0-9][0-9]*\) skipped.*/\2 \3 \4/p' \
		-e 't' \
		-e 's/^\(.*[^0-9]\)\{0,1\}\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2 \3 0/p'
}

# suite_run NAME CMD...: run a suite, showing its output as it comes; add its
# counts to SUITE_PASS, SUITE_FAIL and SUITE_SKIP and a line to SUITE_LINES.
# Returns 0 when the suite counted no failure.
suite_run() {
	_sr_name=$1
	shift
	_sr_out=$(mktemp) || return 1
	{
		"$@"
		echo "$?" >"$_sr_out.rc"
	} 2>&1 | tee "$_sr_out"
	_sr_rc=$(cat "$_sr_out.rc" 2>/dev/null)
	_sr_last=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$_sr_out" | tail -n 1)
	rm -f "$_sr_out" "$_sr_out.rc"
	# shellcheck disable=SC2046
	set -- $(suite_count "$_sr_last")
	_sr_p=${1:-0}
	_sr_f=${2:-0}
	_sr_s=${3:-0}
	_sr_note=""
	if [ -z "$_sr_last" ]; then
		_sr_f=$((_sr_f + 1))
		_sr_note=" (ended without a summary, exit ${_sr_rc:-unknown})"
	elif [ "${_sr_rc:-1}" != 0 ] && [ "$_sr_f" -eq 0 ]; then
		_sr_f=1
		_sr_note=" (exit ${_sr_rc:-unknown} with no failure counted)"
	fi
	[ -n "$_sr_note" ] && echo "FAIL $_sr_name$_sr_note"
	SUITE_PASS=$((SUITE_PASS + _sr_p))
	SUITE_FAIL=$((SUITE_FAIL + _sr_f))
	SUITE_SKIP=$((SUITE_SKIP + _sr_s))
	SUITE_LINES="$SUITE_LINES$(printf '  %-14s %s passed, %s failed, %s skipped%s' \
		"$_sr_name" "$_sr_p" "$_sr_f" "$_sr_s" "$_sr_note")
"
	[ "$_sr_f" -eq 0 ]
}

# suite_fail NAME WHY: a failure outside any suite (a stack that did not
# start, sanitizer reports in the logs).
suite_fail() {
	echo "FAIL $1: $2"
	SUITE_FAIL=$((SUITE_FAIL + 1))
	SUITE_LINES="$SUITE_LINES$(printf '  %-14s %s' "$1" "$2")
"
}

# suite_total: the final line, "N passed, N failed, N skipped".
suite_total() {
	echo "$SUITE_PASS passed, $SUITE_FAIL failed, $SUITE_SKIP skipped"
}
