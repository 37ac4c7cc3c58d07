#!/bin/sh
# run.sh: the `make run` lifecycle suite (starts its own instances).
exec python3 "$(dirname "$0")/test_run.py" "$@"
