#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every test of pvefailover, as CI runs them: install what is needed, build with
# warnings as errors, run the unit, integration and lab suites, then the unit
# suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
# A skipped test is a failure here. Run as root on Debian 12.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" != 0 ]; then
  echo "run-tests.sh: needs root (network namespaces, nftables, NetworkManager)" >&2
  exit 1
fi

sh tests/install-deps.sh

build=${PF_BUILD:-build}
if [ ! -d "$build" ]; then
  meson setup "$build" --werror
fi
meson compile -C "$build"

status=0
log=$(mktemp)
meson test -C "$build" --print-errorlogs --num-processes 2 2>&1 | tee "$log" || status=$?
if grep -Eq '^Skipped: *[1-9]' "$log"; then
  echo "run-tests.sh: some tests were skipped; every test must run" >&2
  status=1
fi

san=${PF_BUILD_SANITIZE:-build-sanitize}
if [ ! -d "$san" ]; then
  meson setup "$san" --werror -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
fi
meson compile -C "$san"
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C "$san" --suite unit --print-errorlogs --num-processes 2 2>&1 | tee "$log" || status=$?
if grep -Eq '^Skipped: *[1-9]' "$log"; then
  status=1
fi
rm -f "$log"

# One closing line for humans and CI alike.
if [ "$status" = 0 ]; then
  echo "run-tests.sh: all suites passed"
else
  echo "run-tests.sh: FAILED" >&2
fi
exit "$status"
