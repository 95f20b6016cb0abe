#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Failover and failback of the real daemon in the lab, with real NetworkManager,
nftables, routing and conntrack, and faults injected for real."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 5.0          # failback-hold in this test's configuration
CT_MASK = 0x00ff0000
LTE_CT_MARK = 2 << 16   # uplink index 1 -> (1 + 1) << shift


def conntrack_entries(lab, mark):
    r = lab.conntrack('host', '-L', '--mark', f'{mark}/{CT_MASK}')
    return [line for line in r.stdout.splitlines() if line.strip()]


def guest_can_reach(lab, ns):
    return lab.ping(ns, pflab.TARGETS[0], count=2, timeout=1)


def check_starts_on_primary_with_backup_proven(lab, d):
    d.wait_health('primary', 'up', timeout=20)
    d.wait_health('lte', 'up', timeout=20)
    assert d.prop('ActiveUplink') == 'primary'
    assert d.prop('State') == 'normal', d.prop('State')
    result = d.uplink_prop('lte', 'LastStandbyTestResult')
    assert result.startswith('passed'), result
    # Started strict (see main()): the daemon loosened it so standby probes get replies.
    rp = lab.run('host', 'cat', f'/proc/sys/net/ipv4/conf/{pflab.HOST_BACKUP_IF}/rp_filter').stdout.strip()
    assert rp == '2', rp
    table = d.nft_table()
    assert table is not None and 'enx001e101f0000' in table, table
    # The standby block: the host's own unmarked traffic may not use the backup...
    assert not lab.ping('host', pflab.TARGETS[0], count=1, timeout=1, iface=pflab.HOST_BACKUP_IF)
    # ...but the modem's management address stays reachable.
    assert lab.ping('host', pflab.MODEM_MGMT, count=1, timeout=1)
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3) is not None


def check_blackhole_fails_over_only_allowed_guest(lab, d):
    ok = lab.udp_stream('guest-ok')
    no = lab.udp_stream('guest-no')
    ok.start()
    no.start()
    try:
        assert ok.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(True)
        d.wait_active('lte', timeout=10)
        first = ok.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=5)
        assert first is not None, 'allowed guest never reached inet through the backup'
        print(f'# blackhole -> allowed guest via backup: {first.recv - t0:.2f} s', flush=True)
        time.sleep(1.0)
        assert no.count_via(pflab.SRC_BACKUP) == 0, 'guest-no leaked onto the backup'
        assert no.count_via(pflab.SRC_PRIMARY, after=t0 + 0.5) == 0
        assert not guest_can_reach(lab, 'guest-no')
        # The host itself goes out through the backup.
        assert lab.ping('host', pflab.TARGETS[1], count=2, timeout=1)
        assert d.prop('State') == 'failed-over'
        assert 'primary down' in d.prop('LastReason'), d.prop('LastReason')
        kinds = [e[1] for e in d.call('GetEvents', '(u)', 10)[0]]
        assert 'failover' in kinds, kinds
        rules = d.ip_rules()
        assert any(r.get('priority') == 10002 for r in rules), rules
    finally:
        ok.stop()
        no.stop()


def check_recovery_fails_back_after_hold_and_flushes(lab, d):
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=3)
        assert conntrack_entries(lab, LTE_CT_MARK), 'no flow marked as leaving through lte'
        t0 = time.monotonic()
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        took = time.monotonic() - t0
        print(f'# recovery -> failback after {took:.1f} s (hold {HOLD} s)', flush=True)
        assert took >= HOLD, f'failed back after {took:.1f} s, before the {HOLD} s hold'
        back = s.wait_arrival_via(pflab.SRC_PRIMARY, after=t0 + took, timeout=3)
        assert back is not None, 'traffic did not come back to the primary'
        time.sleep(0.5)
        late = s.count_via(pflab.SRC_BACKUP, after=back.recv + 0.2)
        assert late == 0, f'{late} packets still on the backup after failback'
    assert not conntrack_entries(lab, LTE_CT_MARK), conntrack_entries(lab, LTE_CT_MARK)
    assert not any(r.get('priority') == 10002 for r in d.ip_rules())
    kinds = [e[1] for e in d.call('GetEvents', '(u)', 10)[0]]
    assert 'failback' in kinds, kinds


def check_carrier_loss_fails_over_at_once(lab, d):
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.primary_link(False)
        first = s.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=5)
        assert first is not None
        print(f'# carrier loss -> via backup: {first.recv - t0:.3f} s', flush=True)
        assert 'carrier' in d.prop('LastReason'), d.prop('LastReason')
        lab.primary_link(True)
        d.wait_active('primary', timeout=HOLD + 20)
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, after=time.monotonic(), timeout=3)


def check_forced_modes_and_maintenance(lab, d):
    r = d.client('failover')
    assert r.returncode == 0, r.stderr
    d.wait_active('lte', timeout=5)
    assert d.prop('Mode') == 'force' and d.prop('ForcedUplink') == 'lte'
    assert d.prop('State') == 'forced'
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=3)
    r = d.client('auto')
    assert r.returncode == 0, r.stderr
    # The primary has been up for longer than the hold: back at once.
    d.wait_active('primary', timeout=5)
    r = d.client('maintenance')
    assert r.returncode == 0, r.stderr
    assert d.prop('State') == 'maintenance'
    lab.blackhole(True)
    try:
        d.wait_health('primary', 'down', timeout=10)
        time.sleep(1)
        assert d.prop('ActiveUplink') == 'primary', 'maintenance mode switched'
        r = d.client('auto')
        assert r.returncode == 0, r.stderr
        d.wait_active('lte', timeout=5)
    finally:
        lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 20)


def check_sigkill_and_restart_keep_traffic_on_backup(lab, d):
    lab.blackhole(True)
    try:
        d.wait_active('lte', timeout=10)
        with lab.udp_stream('guest-ok') as s:
            assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=3)
            t_kill = time.monotonic()
            d.kill()
            time.sleep(1.0)
            # Dead daemon: the kernel keeps routing through the backup.
            assert s.count_via(pflab.SRC_BACKUP, after=t_kill + 0.2) >= 30
            d.start()
            assert d.prop('ActiveUplink') == 'lte', d.prop('ActiveUplink')
            time.sleep(2.0)
            assert d.prop('ActiveUplink') == 'lte'
            t_end = time.monotonic()
            got = s.count_via(pflab.SRC_BACKUP, after=t_kill, before=t_end)
            expected = (t_end - t_kill) / 0.02
            print(f'# SIGKILL + restart: {got} of ~{expected:.0f} packets arrived', flush=True)
            assert got >= expected * 0.9, 'a gap in traffic across the restart'
    finally:
        lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 25)


def check_clean_stop_restores_the_host(lab, d):
    lab.blackhole(True)
    try:
        d.wait_active('lte', timeout=10)
        assert d.stop() == 0
        assert d.nft_table() is None, 'table inet pvefailover left behind'
        prios = [r.get('priority') for r in d.ip_rules()]
        assert not any(p in (10000, 10001, 10002) for p in prios), prios
    finally:
        lab.blackhole(False)
    d.start()
    d.wait_health('primary', 'up', timeout=20)
    assert d.prop('ActiveUplink') == 'primary'


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        polkit.set_allowed(ALL_ACTIONS)
        # Strict reverse-path filtering on the backup, as some hosts have it.
        lab.run('host', 'sysctl', '-qw', f'net.ipv4.conf.{pflab.HOST_BACKUP_IF}.rp_filter=1')
        d = Daemon(lab, lab_config(failback_hold=f'{HOLD:.0f}s'))
        d.start()
        rc = pftest.run([
            check_starts_on_primary_with_backup_proven,
            check_blackhole_fails_over_only_allowed_guest,
            check_recovery_fails_back_after_hold_and_flushes,
            check_carrier_loss_fails_over_at_once,
            check_forced_modes_and_maintenance,
            check_sigkill_and_restart_keep_traffic_on_backup,
            check_clean_stop_restores_the_host,
        ], lab, d, log=d.log)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
