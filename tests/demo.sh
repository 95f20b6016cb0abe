#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install what is needed, build, and run the lab demo: a live outage, failover and
# failback. Run as root on Debian 12.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/install-deps.sh
[ -d build ] || meson setup build
meson compile -C build
exec /usr/bin/python3 tests/lab/demo.py --build build "$@"
