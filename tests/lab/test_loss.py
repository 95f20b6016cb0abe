#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""25 % random loss on the primary for a few minutes: no failover, the primary shows
as degraded with the loss measured, and the allowed guest never leaves by the backup."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

DURATION = float(os.environ.get('PF_LOSS_SECONDS', '180'))


def check_no_failover_at_25_percent_loss(lab, d):
    d.wait_health('primary', 'up', timeout=20)
    before = len(d.call('GetEvents', '(u)', 0)[0])
    worst_loss = 0.0
    with lab.udp_stream('guest-ok') as s:
        lab.loss(25)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < DURATION:
                assert d.prop('ActiveUplink') == 'primary', 'failed over at 25 % loss'
                worst_loss = max(worst_loss, d.uplink_prop('primary', 'Loss'))
                time.sleep(0.5)
        finally:
            lab.loss(0)
        assert s.count_via(pflab.SRC_BACKUP) == 0
    events = d.call('GetEvents', '(u)', 0)[0][before:]
    switches = [e for e in events if e[1] in ('failover', 'switch')]
    assert not switches, switches
    print(f'# {DURATION:.0f} s at 25 % loss: 0 failovers, highest window loss {worst_loss:.0f} %',
          flush=True)
    assert worst_loss >= 10, 'the loss was not measured'


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        d = Daemon(lab, lab_config())
        d.start()
        rc = pftest.run([check_no_failover_at_25_percent_loss], lab, d)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
