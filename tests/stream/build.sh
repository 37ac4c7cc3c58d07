#!/bin/sh
# build.sh [VARIANT]: build what the stream tests need into build/stream-test/:
# sandpit-stream (make's, of that variant), fake_agent (the agent test
# double) and wsbench (the C benchmark client), the last two linked with
# make's lib/ archive. VARIANT is release (default) or asan. Anything that
# does not compile fails the build.
set -eu
cd "$(dirname "$0")/../.."
V=${1:-release}
OUT=build/stream-test
B=build/$V
mkdir -p "$OUT"
make --no-print-directory VARIANT="$V" "$B/sandpit-stream" "$B/libsandpit.a"
cp "$B/sandpit-stream" "$OUT/sandpit-stream"
CFLAGS="-std=c17 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror -O2 -g -D_GNU_SOURCE -fPIE -iquote lib $(pkg-config --cflags libcjson libpq 2>/dev/null)"
[ "$V" = asan ] && CFLAGS="$CFLAGS -O1 -fsanitize=address,undefined -fno-omit-frame-pointer"
LIBS="$(pkg-config --libs libcjson libpq libcurl openssl libseccomp) -lfcgi -lpthread"
# shellcheck disable=SC2086
cc $CFLAGS -pie -Wno-missing-prototypes tests/stream/fake_agent.c "$B/libsandpit.a" $LIBS -lutil -o "$OUT/fake_agent"
# shellcheck disable=SC2086
cc $CFLAGS -pie tests/stream/wsbench.c "$B/libsandpit.a" $LIBS -o "$OUT/wsbench"
