#!/bin/sh
# Installs the Debian 12 packages cmsd needs to build, test, run the demo and
# run the benchmarks.
# Usage: scripts/install-deps.sh [build|run|test|demo|bench]   (default: test)
#   build  compilers and libraries
#   test   build + what the tests run for real (MariaDB, ext4 tools, QEMU
#          and busybox-static for the DRBD guests of tests/vm, systemd for
#          systemd-analyze verify of the unit, ...)
#   run    what the agent runs on a node: drbd-utils, fdisk (sfdisk makes
#          the DRBD database partition at setup), util-linux (blkid, partx)
#   demo   the same as test
#   bench  test + keepalived (the baseline bench/failover compares against)
set -eu
what=${1:-test}
build="build-essential cmake pkg-config libevent-dev libxml2-dev libxml2-utils
       libltdl-dev libssl-dev libiscsi-dev libmariadb-dev check libsubunit-dev
       libcrypt-dev"
run="drbd-utils fdisk util-linux e2fsprogs"
test="$build $run iproute2 procps psmisc openssl python3 mariadb-server
      mariadb-client xfsprogs tgt libiscsi-bin sg3-utils qemu-system-x86
      busybox-static systemd"
case "$what" in
build) pkgs=$build ;;
run) pkgs=$run ;;
test | demo) pkgs=$test ;;
bench) pkgs="$test keepalived" ;;
*) echo "usage: $0 [build|run|test|demo|bench]" >&2; exit 2 ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
# The packages' own services (the system MariaDB, keepalived) must not start:
# cmsd and the tests start these servers themselves.  A policy-rc.d that
# refuses every start does that for the time of the install only.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=1
fi
cleanup() { [ -z "$made_policy" ] || rm -f "$policy"; }
trap cleanup EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
