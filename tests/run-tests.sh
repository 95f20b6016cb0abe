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
passed=0
failed=0
log=$(mktemp)

# Add a meson test summary to the totals; a skip counts as a failure.
count() {
  ok=$(sed -n 's/^Ok: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
  bad=$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\|Skipped\): *\([0-9]*\)/\2/p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + bad))
  # The pipe through tee hides meson's exit status: the summary decides.
  if [ "$bad" -gt 0 ] || [ -z "$ok" ]; then
    status=1
  fi
  if grep -Eq '^Skipped: *[1-9]' "$log"; then
    echo "run-tests.sh: some tests were skipped; every test must run" >&2
    status=1
  fi
}

meson test -C "$build" --print-errorlogs --num-processes 2 2>&1 | tee "$log" || status=$?
count

san=${PF_BUILD_SANITIZE:-build-sanitize}
if [ ! -d "$san" ]; then
  meson setup "$san" --werror -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
fi
meson compile -C "$san"
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C "$san" --suite unit --print-errorlogs --num-processes 2 2>&1 | tee "$log" || status=$?
count
rm -f "$log"

if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  failed=1   # meson itself failed before reporting
fi
echo "$passed passed, $failed failed"
exit "$status"
