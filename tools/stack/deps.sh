#!/bin/sh
# deps.sh [extra packages...]: install whatever Debian packages the build and
# the stack need and are missing. Quiet when nothing is missing.
set -eu
pkgs="gcc make pkg-config libfcgi-dev libpq-dev libcjson-dev libcurl4-openssl-dev libssl-dev
libseccomp-dev libcunit1-dev postgresql caddy python3 iproute2 procps psmisc curl $*"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages and not root; run: apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y -q $missing >/dev/null 2>&1 || {
	apt-get update -q >/dev/null
	apt-get install -y -q $missing >/dev/null
}
