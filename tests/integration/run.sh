#!/bin/sh
# run.sh: every integration suite against the stack at SANDPIT_URL; prints
# "integration: N passed, N failed" over all of them.
cd "$(dirname "$0")" || exit 2
passed=0
failed=0
rc=0
for t in test_*.py; do
	out=$(python3 "$t" "$@" 2>&1)
	[ $? -eq 0 ] || rc=1
	printf '%s\n' "$out" | sed '$d'
	last=$(printf '%s\n' "$out" | tail -n 1)
	p=$(printf '%s' "$last" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\1/p')
	f=$(printf '%s' "$last" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\2/p')
	if [ -z "$p" ]; then
		printf '%s\n' "$last"
		failed=$((failed + 1))
		rc=1
		continue
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "integration: $passed passed, $failed failed"
exit $rc
