#!/bin/sh
# Installs what the tests need, builds cmsd twice (warnings as errors; then
# with AddressSanitizer + UndefinedBehaviorSanitizer) and runs the test suite
# on both builds.  Run as root from the top of a clone.  The vm tests (real
# DRBD in QEMU guests, tests/vm) are registered in the first build only.
#   BUILD_DIR   (default build)       ASAN_DIR (default build-asan)
#   CTEST_ARGS  extra ctest arguments, e.g. "-L unit"
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh" test

build=${BUILD_DIR:-$top/build}
asan=${ASAN_DIR:-$top/build-asan}
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build ($build)"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMSD_WERROR=ON
cmake --build "$build" -j "$jobs"
echo "== tests ($build)"
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure ${CTEST_ARGS:-}

echo "== build with ASan/UBSan ($asan)"
cmake -S "$top" -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DCMSD_WERROR=ON -DCMSD_SANITIZE=ON
cmake --build "$asan" -j "$jobs"
echo "== tests under ASan/UBSan ($asan)"
# shellcheck disable=SC2086
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir "$asan" --output-on-failure ${CTEST_ARGS:-}
echo "== all tests passed"
