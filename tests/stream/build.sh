#!/bin/sh
# build.sh [VARIANT]: build what the stream tests need into build/stream-test/:
# sandpit-stream (linked with tests/stream/agent_client_double.c only when
# lib/agent/agent_client.c does not exist yet), fake_agent (the agent test double)
# and wsbench (the C benchmark client). VARIANT=asan adds ASan+UBSan.
set -eu
cd "$(dirname "$0")/../.."
V=${1:-release}
OUT=build/stream-test
mkdir -p "$OUT"
CFLAGS="-std=c17 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror -O2 -g -D_GNU_SOURCE -fPIE -iquote lib -Ilib $(pkg-config --cflags libcjson libpq 2>/dev/null)"
[ "$V" = asan ] && CFLAGS="$CFLAGS -O1 -fsanitize=address,undefined -fno-omit-frame-pointer"
LIBS="$(pkg-config --libs libcjson libpq libcurl openssl libseccomp) -lfcgi -lpthread"
# lib/ is compiled here file by file rather than through make, so a file
# another engineer has half-written does not stop the stream tests: a file
# that does not compile is skipped (and reported).
mkdir -p "$OUT/lib-$V"
OBJS=""
for f in lib/*/*.c; do
	o="$OUT/lib-$V/$(basename "$f" .c).o"
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ "$(dirname "$f")/$(basename "$f" .c).h" -nt "$o" ]; then
		# shellcheck disable=SC2086
		cc $CFLAGS -c "$f" -o "$o" 2>"$o.err" || { rm -f "$o"; echo "build: skipping $f (does not compile now)" >&2; continue; }
	fi
	OBJS="$OBJS $o"
done
rm -f "$OUT/libtest.a"
# shellcheck disable=SC2086
ar rcs "$OUT/libtest.a" $OBJS
EXTRA=""
if [ ! -f "$OUT/lib-$V/agent_client.o" ]; then
	EXTRA=tests/stream/agent_client_double.c
	echo "build: lib/agent/agent_client.c unusable, linking the agent client TEST DOUBLE" >&2
fi
# shellcheck disable=SC2086
cc $CFLAGS -pie stream-proxy/*.c $EXTRA "$OUT/libtest.a" $LIBS -o "$OUT/sandpit-stream"
# shellcheck disable=SC2086
cc $CFLAGS -Wno-missing-prototypes tests/stream/fake_agent.c "$OUT/libtest.a" $LIBS -lutil -o "$OUT/fake_agent"
# shellcheck disable=SC2086
cc $CFLAGS tests/stream/wsbench.c "$OUT/libtest.a" $LIBS -o "$OUT/wsbench" 2>/dev/null ||
	echo "build: wsbench not built" >&2
