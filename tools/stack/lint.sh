#!/bin/sh
# lint.sh: `make lint`. Banned functions (STYLE.md), cppcheck, clang-tidy on
# the project's C sources, and a shellcheck-free syntax check of the scripts.
# Exit 1 on any finding.
set -u
cd "$(dirname "$0")/../.." || exit 2
tools/stack/deps.sh cppcheck clang-tidy >/dev/null || exit 1
rc=0
SRC=$(git ls-files '*.c' '*.h' | grep -v '^tests/')

echo "lint: banned functions"
if git grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets|system|popen|alloca)[[:space:]]*\(' \
	-- $SRC; then
	rc=1
fi
# VLAs are refused at build time by -Wvla.

echo "lint: format (clang-format 14, .clang-format)"
make --no-print-directory fmt-check >/dev/null 2>&1 || {
	make --no-print-directory fmt-check 2>&1 | grep -E '^[^ ].*: (error|warning):' | head -n 20
	rc=1
}

echo "lint: layers"
# lib/'s one-way rule: core <- net, db <- auth, agent, backend <- sandbox.
sh tools/stack/layers.sh || rc=1

echo "lint: cppcheck"
# shellcheck disable=SC2086
cppcheck -q --error-exitcode=1 --std=c11 --inline-suppr \
	--enable=warning,portability --suppress=missingIncludeSystem \
	-D_GNU_SOURCE -Ilib $(git ls-files '*.c' | grep -v '^tests/fuzz/') || rc=1

echo "lint: clang-tidy"
CFLAGS="-std=c17 -D_GNU_SOURCE -Ilib -Ilib/backend $(pkg-config --cflags libcjson libpq 2>/dev/null)"
for f in $(git ls-files 'lib/*.c' 'lib/*/*.c' 'fcgi-app/*.c' 'stream-proxy/*.c' 'tools/*/*.c'); do
	# shellcheck disable=SC2086
	out=$(clang-tidy -quiet --checks='-*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,-clang-analyzer-optin.*,-clang-analyzer-deadcode.DeadStores,bugprone-*,-bugprone-not-null-terminated-result,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-bugprone-narrowing-conversions,-bugprone-assignment-in-if-condition,-bugprone-implicit-widening-of-multiplication-result,-bugprone-branch-clone' \
		--warnings-as-errors='*' "$f" -- $CFLAGS 2>&1) || {
		printf '%s\n' "$out" | grep -E 'error|warning' | head -n 20
		rc=1
	}
done

echo "lint: shell syntax"
for s in $(git ls-files '*.sh') .ci/run; do
	bash -n "$s" || rc=1
done
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
