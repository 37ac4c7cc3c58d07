#!/bin/sh
# build.sh [VARIANT]: build what the stream tests need into build/stream-test/:
# sandpit-stream (linked with tests/stream/agent_client_double.c only when
# lib/agent_client.c does not exist yet), fake_agent (the agent test double)
# and wsbench (the C benchmark client). VARIANT=asan adds ASan+UBSan.
set -eu
cd "$(dirname "$0")/../.."
V=${1:-release}
OUT=build/stream-test
mkdir -p "$OUT"
make --no-print-directory VARIANT="$V" "build/$V/libsandpit.a" >/dev/null
CFLAGS="-std=c17 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Werror -O2 -g -D_GNU_SOURCE -fPIE -Ilib"
[ "$V" = asan ] && CFLAGS="$CFLAGS -O1 -fsanitize=address,undefined -fno-omit-frame-pointer"
LIBS="$(pkg-config --libs libcjson libpq libcurl openssl libseccomp) -lfcgi -lpthread"
EXTRA=""
if [ ! -f lib/agent_client.c ]; then
	EXTRA=tests/stream/agent_client_double.c
	echo "build: lib/agent_client.c absent, linking the agent client TEST DOUBLE" >&2
fi
# shellcheck disable=SC2086
cc $CFLAGS -pie stream-proxy/*.c $EXTRA "build/$V/libsandpit.a" $LIBS -o "$OUT/sandpit-stream"
# shellcheck disable=SC2086
cc $CFLAGS -Wno-missing-prototypes tests/stream/fake_agent.c "build/$V/libsandpit.a" $LIBS -lutil -o "$OUT/fake_agent"
# shellcheck disable=SC2086
cc $CFLAGS tests/stream/wsbench.c "build/$V/libsandpit.a" $LIBS -o "$OUT/wsbench" 2>/dev/null ||
	echo "build: wsbench not built" >&2
