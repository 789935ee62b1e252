#!/bin/sh
# Installs the Debian 12 packages cmsd needs to build and test.
# Usage: scripts/install-deps.sh [build|test]   (default: test, a superset of build)
set -eu
what=${1:-test}
build="build-essential cmake pkg-config libevent-dev libxml2-dev libxml2-utils
       libltdl-dev libssl-dev libiscsi-dev libmariadb-dev check libsubunit-dev"
test="$build iproute2 procps psmisc openssl python3"
case "$what" in
build) pkgs=$build ;;
test) pkgs=$test ;;
*) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
