# SPDX-License-Identifier: GPL-2.0-or-later
"""A tiny runner for the lab's scenario tests: each check is a function, run in order
on one lab, reported as TAP; the script exits 1 when any failed, 77 when not root."""

import os
import sys
import time
import traceback


def require_root():
    if os.geteuid() != 0:
        print('1..0 # SKIP needs root for network namespaces')
        sys.exit(77)


def run(checks, *args, log=None):
    """Run the checks in order; when one failed and log is given (a function returning the
    daemon's log), print its tail."""
    print(f'1..{len(checks)}', flush=True)
    failed = 0
    for i, check in enumerate(checks, 1):
        name = check.__name__
        start = time.monotonic()
        try:
            check(*args)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f'not ok {i} - {name}', flush=True)
            for line in traceback.format_exc().splitlines():
                print('# ' + line, flush=True)
        else:
            print(f'ok {i} - {name} ({time.monotonic() - start:.1f} s)', flush=True)
    print(f'{len(checks) - failed} passed, {failed} failed', flush=True)
    if failed and log is not None:
        print('# --- daemon log (tail) ---', flush=True)
        for line in log().splitlines()[-80:]:
            print('# ' + line, flush=True)
    return 1 if failed else 0
