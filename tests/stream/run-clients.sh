#!/bin/sh
# run-clients.sh: every real-client suite against SANDPIT_STREAM_URL (see
# test_python.py for the environment). Standalone: tests/stream/standalone.sh
# runs this by default. Against a stack: set SANDPIT_STREAM_URL (ws://host:port
# of the web server), SANDPIT_URL, SANDPIT_API_KEY, SANDPIT_SANDBOX_ID.
# Prints "stream: N passed, N failed".
cd "$(dirname "$0")" || exit 1
PY=/usr/bin/python3
[ -d node_modules/ws ] || npm install --no-audit --no-fund >/dev/null 2>&1
out=$(mktemp)
$PY test_python.py | tee -a "$out"
node test_node.js | tee -a "$out"
$PY test_chromium.py | tee -a "$out"
[ -n "${SANDPIT_URL:-}" ] && $PY test_isolation.py | tee -a "$out"
[ -n "${SANDPIT_STREAM_PID:-}" ] && $PY test_drain.py | tee -a "$out"
p=$(sed -n 's/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | paste -sd+ | bc)
f=$(sed -n 's/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | paste -sd+ | bc)
rm -f "$out"
echo "stream: ${p:-0} passed, ${f:-0} failed"
[ "${f:-1}" -eq 0 ]
