#!/bin/sh
# fuzz.sh: build every libFuzzer target under tests/fuzz/ with clang
# (ASan+UBSan+fuzzer) into build/fuzz/, then run each for FUZZ_SECONDS
# (default 60) on its corpus in tests/fuzz/corpus/<name>/ (seeds committed,
# new inputs go to build/fuzz/corpus/<name>/). A target lists the sources it
# needs on a "fuzz-sources:" line; without one it gets all of lib/.
#
#   tools/stack/fuzz.sh              build and run all targets
#   tools/stack/fuzz.sh fuzz_ws      only that one
#   FUZZ_SECONDS=0 tools/stack/fuzz.sh   build only
#
# The exact build command for fuzz_ws is therefore:
#   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
#     -D_GNU_SOURCE -Ilib tests/fuzz/fuzz_ws.c lib/net/ws.c lib/core/buf.c lib/core/crypto.c \
#     lib/core/log.c lib/core/result.c -lcrypto -o build/fuzz/fuzz_ws
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=build/fuzz
mkdir -p "$OUT"
PKGS="libcjson libpq libcurl openssl libseccomp"
failed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	# the "fuzz-sources:" line and the comment lines that continue it (a
	# list wrapped by clang-format), up to the first line without a .c path
	srcs=$(awk '/fuzz-sources:/ { sub(/.*fuzz-sources:[ \t]*/, ""); print; on = 1; next }
		on && /^ \*[ \t]+[A-Za-z0-9_\/.-]+\.c/ { sub(/^ \*[ \t]+/, ""); print; next }
		{ on = 0 }' "$src" | tr '\n' ' ')
	if [ -n "$srcs" ]; then
		libs="-lcjson -lcrypto"
	else
		srcs=$(ls lib/*.c lib/*/*.c 2>/dev/null)
		libs="$(pkg-config --libs $PKGS) -lfcgi"
	fi
	echo "fuzz: building $name"
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -Ilib -I/usr/include/cjson "$src" $srcs $libs -o "$OUT/$name"
	[ "$SECONDS_EACH" -gt 0 ] || continue
	mkdir -p "$OUT/corpus/$name" "tests/fuzz/corpus/$name"
	echo "fuzz: running $name for ${SECONDS_EACH}s"
	if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -max_len=4096 \
		-artifact_prefix="$OUT/$name-" "$OUT/corpus/$name" "tests/fuzz/corpus/$name" \
		>"$OUT/$name.log" 2>&1; then
		echo "fuzz: $name FAILED (see $OUT/$name.log)"
		failed=$((failed + 1))
	else
		tail -n 1 "$OUT/$name.log"
	fi
done
[ "$failed" -eq 0 ]
