#!/bin/sh
# run.sh: every libFuzzer target builds and survives a short run on its
# committed corpus (FUZZ_SECONDS each, default 3), so a target whose sources
# moved or whose parser crashes on a seed fails make test. Long runs: make fuzz.
# Prints "fuzz: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 2
"$PWD/tools/stack/deps.sh" clang libclang-rt-14-dev >/dev/null 2>&1 || true
passed=0
failed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	if FUZZ_SECONDS=${FUZZ_SECONDS:-3} tools/stack/fuzz.sh "$name" >"/tmp/sandpit-$name.$$" 2>&1; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		tail -n 5 "/tmp/sandpit-$name.$$"
		failed=$((failed + 1))
	fi
	rm -f "/tmp/sandpit-$name.$$"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
