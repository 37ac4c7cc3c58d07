#!/bin/sh
# run-clients.sh: every real-client suite against SANDPIT_STREAM_URL (see
# test_python.py for the environment). Standalone: tests/stream/standalone.sh
# runs this by default. Against a stack: set SANDPIT_STREAM_URL (ws://host:port
# of the web server), SANDPIT_URL, SANDPIT_API_KEY, SANDPIT_SANDBOX_ID.
# Prints "stream: N passed, N failed, N skipped". A client that crashes
# before its summary counts as a failure (tools/stack/suite.sh).
cd "$(dirname "$0")" || exit 1
. ../../tools/stack/suite.sh
PY=/usr/bin/python3
[ -d node_modules/ws ] || npm install --no-audit --no-fund >/dev/null 2>&1
suite_run python $PY test_python.py
suite_run node node test_node.js
suite_run chromium $PY test_chromium.py
if [ -n "${SANDPIT_URL:-}" ]; then
	suite_run isolation $PY test_isolation.py
else
	echo "skip isolation (no SANDPIT_URL: no stack to register a second org on)"
	SUITE_SKIP=$((SUITE_SKIP + 1))
fi
# The drain test stops the proxy: only one this run owns.
if [ -n "${SANDPIT_STREAM_PID:-}" ]; then
	suite_run drain $PY test_drain.py
else
	echo "skip sigterm_drain (no SANDPIT_STREAM_PID: no proxy of this run's own)"
	SUITE_SKIP=$((SUITE_SKIP + 1))
fi
echo "stream: $SUITE_PASS passed, $SUITE_FAIL failed, $SUITE_SKIP skipped"
[ "$SUITE_FAIL" -eq 0 ]
