#!/bin/sh
# run.sh [BUILD_DIR]: the image builder suite (sandpit-admin images). Builds
# base, python-basic and node-basic into the machine's shared image cache
# (SANDPIT_IMAGE_CACHE; a no-op when they are built already), then checks
# the cache, the smoke tests and the failure paths on scratch recipes.
# Prints "images: N passed, N failed".
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-${SANDPIT_BIN:-$REPO/build/release}}" && pwd)
"$REPO/tools/stack/deps.sh" mmdebstrap || exit 1
export SANDPIT_BIN="$BIN" SANDPIT_IMAGE_RECIPES="$REPO/etc/images"
exec python3 "$REPO/tests/images/test_images.py"
