#!/bin/sh
# run.sh: every integration suite against the stack at SANDPIT_URL; prints
# "integration: N passed, N failed, N skipped" over all of them. A suite file
# that crashes before its own summary counts as a failure
# (tools/stack/suite.sh).
cd "$(dirname "$0")" || exit 2
. ../../tools/stack/suite.sh
for t in test_*.py; do
	suite_run "$t" python3 "$t" "$@"
done
echo "integration: $SUITE_PASS passed, $SUITE_FAIL failed, $SUITE_SKIP skipped"
[ "$SUITE_FAIL" -eq 0 ]
