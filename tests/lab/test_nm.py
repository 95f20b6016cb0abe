#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""NetworkManager in the loop: a cold-standby backup is down (no data at all) until the
primary fails, is brought up by the daemon through NetworkManager for the failover and
taken down again after failback; a hot backup whose NetworkManager device fails is down
at once, and comes back when NetworkManager reconnects it."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 5.0


def check_cold_backup_is_down_in_standby(lab, d):
    d.wait_health('primary', 'up', timeout=20)
    d.wait_for(lambda: d.uplink_prop('lte', 'LastStandbyTestResult').startswith('passed'), 30,
               what='the first standby test')
    # The test brought lte up for a moment; then it goes down and stays down.
    d.wait_for(lambda: lab.nm_connection_state('lte') in ('', 'deactivated'), 15,
               what='lte deactivated')
    # The stick may re-probe its stale neighbour entry for the host a few times
    # (ARP between host and stick, not carrier data): let that settle first.
    time.sleep(10)
    before = lab.iface_bytes('host', pflab.HOST_BACKUP_IF)
    time.sleep(5)
    spent = lab.iface_bytes('host', pflab.HOST_BACKUP_IF) - before
    assert spent == 0, f'{spent} bytes on a cold backup in standby'
    assert d.uplink_prop('lte', 'Health') == 'up', d.uplink_prop('lte', 'HealthReason')
    assert d.uplink_prop('lte', 'Standby') == 'cold'


def check_cold_failover_brings_the_backup_up(lab, d):
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(True)
        first = s.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=30)
        assert first is not None, 'never reached inet through the cold backup'
        print(f'# cold standby: blackhole -> via backup {first.recv - t0:.2f} s (bring-up included)',
              flush=True)
        assert lab.nm_connection_state('lte') == 'activated'
        assert d.prop('ActiveUplink') == 'lte'
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, after=time.monotonic(), timeout=3)
    d.wait_for(lambda: lab.nm_connection_state('lte') in ('', 'deactivated'), 15,
               what='lte deactivated after failback')


def check_cold_bring_up_failure_is_an_event(lab, d):
    # The connection cannot come up: its device has no carrier.
    lab.backup_link(False)
    lab.blackhole(True)
    try:
        d.wait_health('primary', 'down', timeout=10)
        d.wait_for(lambda: any(e[1] in ('error', 'uplink-down') and 'lte' in (e[2], e[3])
                               for e in d.call('GetEvents', '(u)', 5)[0]), 40,
                   what='an event about lte')
        assert d.prop('ActiveUplink') == 'primary'
    finally:
        lab.blackhole(False)
        lab.backup_link(True)
    d.wait_health('primary', 'up', timeout=20)


def run_cold(lab):
    d = Daemon(lab, lab_config(failback_hold=f'{HOLD:.0f}s', standby='cold'), name='cold')
    d.start()
    try:
        return pftest.run([
            check_cold_backup_is_down_in_standby,
            check_cold_failover_brings_the_backup_up,
            check_cold_bring_up_failure_is_an_event,
        ], lab, d), d
    finally:
        d.stop()


def check_hot_device_failure_is_down_at_once(lab, d):
    d.wait_health('lte', 'up', timeout=30)
    t0 = time.monotonic()
    lab.nmcli('device', 'disconnect', pflab.HOST_BACKUP_IF)
    d.wait_health('lte', 'down', timeout=5)
    print(f'# NM device disconnected -> lte down after {time.monotonic() - t0:.2f} s', flush=True)
    assert 'NetworkManager' in d.uplink_prop('lte', 'HealthReason'), d.uplink_prop('lte', 'HealthReason')
    kinds = [(e[1], e[2]) for e in d.call('GetEvents', '(u)', 5)[0]]
    assert ('uplink-down', 'lte') in kinds, kinds
    lab.nmcli('connection', 'up', 'lte')
    d.wait_health('lte', 'up', timeout=30)


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        rc, cold = run_cold(lab)
        if rc:
            for line in cold.log().splitlines()[-60:]:
                print('# ' + line)
        lab.nmcli('connection', 'up', 'lte')
        lab.nm_wait_activated('lte', timeout=30)
        hot = Daemon(lab, lab_config(failback_hold=f'{HOLD:.0f}s'), name='hot')
        hot.start()
        rc2 = pftest.run([check_hot_device_failure_is_down_at_once], lab, hot)
        if rc2:
            for line in hot.log().splitlines()[-60:]:
                print('# ' + line)
        hot.stop()
    return rc or rc2


if __name__ == '__main__':
    sys.exit(main())
