#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""IPv6 in the lab, IPv6 on both uplinks: probes over IPv6 bound to each uplink, the routing
switch for IPv6 (rules and the backup's IPv6 default route), guests' IPv6 kept off the backup
without NAT66 and let out with nat66=true, failback and conntrack flushing for IPv6 flows.
The first configurations have IPv6 targets only (no IPv4 target at all); the last mixes both."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 3.0
CT_MASK = 0x00ff0000
LTE_CT_MARK = 2 << 16   # uplink index 1 -> (1 + 1) << shift
RULE_PRIO = 10000
TABLE_LTE = 7100

# Every kind that takes an address, each over IPv6; quorum = all of them, so "up" means
# each one answered through the uplink it is bound to.
TARGETS6 = (f'icmp:{pflab.TARGETS6[0]}', f'tcp:[{pflab.TARGETS6[1]}]:443',
            f'http://[{pflab.HTTP6_ADDR}]/health', f'dns:[{pflab.DNS6_ADDR}]/check.example')
TARGETS_MIXED = (f'icmp:{pflab.TARGETS[0]}', f'icmp:{pflab.TARGETS6[2]}', f'tcp:{pflab.TARGETS[1]}:443',
                 f'tcp:[{pflab.TARGETS6[0]}]:443', f'http://{pflab.HTTP_ADDR}/health',
                 f'http://[{pflab.HTTP6_ADDR}]/')
ALLOW = (pflab.GUEST_OK, pflab.GUEST_OK6)


def config(targets=TARGETS6, nat66=False):
    quorum = f'quorum={len(targets)}'
    return lab_config(failback_hold=f'{HOLD:.0f}s', targets=targets, allow=ALLOW,
                      extra_primary=quorum, extra_backup=quorum,
                      extra_guests='nat66=true' if nat66 else '')


def reload(d, text):
    """A new configuration, through pvefailoverctl reload; back when both uplinks are up."""
    d.write_config(text)
    r = d.client('reload')
    assert r.returncode == 0, r.stderr
    d.wait_health('primary', 'up', timeout=30)
    d.wait_health('lte', 'up', timeout=30)


def rules6(lab):
    """The daemon's IPv6 rules as (priority, text) pairs."""
    out = lab.run('host', 'ip', '-6', 'rule', 'show').stdout
    rules = []
    for line in out.splitlines():
        prio, _, rest = line.partition(':')
        if prio.strip().isdigit() and RULE_PRIO <= int(prio) <= RULE_PRIO + 2:
            rules.append((int(prio), ' '.join(rest.split())))
    return rules


STANDBY_RULES6 = [(RULE_PRIO, f'from all fwmark 0x70f0 lookup {TABLE_LTE}')]
FAILED_OVER_RULES6 = STANDBY_RULES6 + [(RULE_PRIO + 1, 'from all lookup main suppress_prefixlength 0'),
                                       (RULE_PRIO + 2, f'from all lookup {TABLE_LTE}')]


def conntrack_entries(lab, family, mark=LTE_CT_MARK):
    r = lab.conntrack('host', '-L', '-f', family, '--mark', f'{mark}/{CT_MASK}')
    return [line for line in r.stdout.splitlines() if line.strip()]


def host_stream(lab):
    return lab.udp_stream('host', dst=pflab.UDP_SINK6)


def check_v6_probes_bring_both_uplinks_up(lab, d):
    with open(d.config_path) as f:
        targets = [line for line in f if line.startswith('targets=')]
    assert targets and all('198.51.100.' not in t for t in targets), targets
    d.wait_health('primary', 'up', timeout=30)
    d.wait_health('lte', 'up', timeout=30)
    assert d.prop('ActiveUplink') == 'primary'
    result = d.uplink_prop('lte', 'LastStandbyTestResult')
    assert result.startswith('passed'), result
    ok, detail = d.call('TestUplink', '(s)', 'lte')
    assert ok, detail
    # The switch for IPv6: the probe rule, and the backup's IPv6 default route in its table.
    assert rules6(lab) == STANDBY_RULES6, rules6(lab)
    table = lab.run('host', 'ip', '-6', 'route', 'show', 'table', str(TABLE_LTE)).stdout
    assert f'default via {pflab.LTE_GATEWAY6} dev {pflab.HOST_BACKUP_IF}' in table, table
    # Standby block: the host's own unmarked IPv6 may not use the backup.
    assert not lab.ping('host', pflab.TARGETS6[0], count=1, timeout=1, iface=pflab.HOST_BACKUP_IF)
    with host_stream(lab) as s:
        assert s.wait_arrival_via(pflab.SRC6_PRIMARY, timeout=3), 'host IPv6 not via the primary'


def failover(lab, d, streams):
    """Blackhole the primary; returns the time of the blackhole."""
    for s in streams:
        s.start()
    assert streams[0].wait_arrival_via(pflab.SRC6_PRIMARY, timeout=3)
    t0 = time.monotonic()
    lab.blackhole(True)
    d.wait_active('lte', timeout=10)
    return t0


def check_blackhole_fails_over_host_v6_not_guests(lab, d):
    host = host_stream(lab)
    ok6 = lab.udp_stream('guest-ok', dst=pflab.UDP_SINK6)
    no6 = lab.udp_stream('guest-no', dst=pflab.UDP_SINK6)
    ok4 = lab.udp_stream('guest-ok')
    try:
        t0 = failover(lab, d, [host, ok6, no6, ok4])
        first = host.wait_arrival_via(pflab.SRC6_BACKUP, after=t0, timeout=5)
        assert first is not None, 'host IPv6 never reached inet through the backup'
        print(f'# IPv6: blackhole -> host via backup: {first.recv - t0:.2f} s', flush=True)
        assert lab.ping('host', pflab.TARGETS6[1], count=2, timeout=1)
        assert rules6(lab) == FAILED_OVER_RULES6, rules6(lab)
        # The allowed guest's IPv4 leaves through the backup (NAT), its IPv6 does not (no nat66).
        assert ok4.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=5)
        time.sleep(1.0)
        settled = first.recv + 0.5
        for s, own in ((ok6, pflab.GUEST_OK6), (no6, pflab.GUEST_NO6)):
            assert s.count_via(pflab.SRC6_BACKUP) == 0, 'guest IPv6 masqueraded without nat66'
            assert s.count_via(own, after=settled) == 0, f'{own} still got out'
        assert not lab.ping('guest-ok', pflab.TARGETS6[0], count=2, timeout=1)
        assert conntrack_entries(lab, 'ipv6'), 'no IPv6 flow marked as leaving through lte'
    finally:
        for s in (host, ok6, no6, ok4):
            s.stop()
        if d.prop('ActiveUplink') != 'lte':
            lab.blackhole(False)


def check_restart_while_failed_over_keeps_v6(lab, d):
    assert d.prop('ActiveUplink') == 'lte'
    with host_stream(lab) as s:
        assert s.wait_arrival_via(pflab.SRC6_BACKUP, timeout=3)
        t_kill = time.monotonic()
        d.kill()
        time.sleep(1.0)
        assert s.count_via(pflab.SRC6_BACKUP, after=t_kill + 0.2) >= 30
        d.start()
        assert d.prop('ActiveUplink') == 'lte', d.prop('ActiveUplink')
        time.sleep(1.5)
        t_end = time.monotonic()
        got = s.count_via(pflab.SRC6_BACKUP, after=t_kill, before=t_end)
        expected = (t_end - t_kill) / 0.02
        print(f'# IPv6: SIGKILL + restart: {got} of ~{expected:.0f} packets arrived', flush=True)
        assert got >= expected * 0.9, 'a gap in IPv6 traffic across the restart'
    assert rules6(lab) == FAILED_OVER_RULES6, rules6(lab)


def check_failback_v6_flushes_and_restores_rules(lab, d):
    with host_stream(lab) as s:
        assert s.wait_arrival_via(pflab.SRC6_BACKUP, timeout=3)
        assert conntrack_entries(lab, 'ipv6'), 'no IPv6 flow marked as leaving through lte'
        t0 = time.monotonic()
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        took = time.monotonic() - t0
        print(f'# IPv6: recovery -> failback after {took:.1f} s (hold {HOLD:.0f} s)', flush=True)
        back = s.wait_arrival_via(pflab.SRC6_PRIMARY, after=t0 + took, timeout=3)
        assert back is not None, 'host IPv6 did not come back to the primary'
        time.sleep(0.5)
        assert s.count_via(pflab.SRC6_BACKUP, after=back.recv + 0.2) == 0
    for family in ('ipv4', 'ipv6'):
        left = conntrack_entries(lab, family)
        assert not left, f'{family} entries left with the backup mark: {left}'
    assert rules6(lab) == STANDBY_RULES6, rules6(lab)


def check_nat66_lets_only_the_allowed_guest_out(lab, d):
    reload(d, config(nat66=True))
    ok6 = lab.udp_stream('guest-ok', dst=pflab.UDP_SINK6)
    no6 = lab.udp_stream('guest-no', dst=pflab.UDP_SINK6)
    try:
        ok6.start()
        no6.start()
        assert ok6.wait_arrival_via(pflab.GUEST_OK6, timeout=3), 'guest-ok IPv6 not via the primary'
        t0 = time.monotonic()
        lab.blackhole(True)
        d.wait_active('lte', timeout=10)
        first = ok6.wait_arrival_via(pflab.SRC6_BACKUP, after=t0, timeout=5)
        assert first is not None, 'allowed guest IPv6 not masqueraded through the backup'
        print(f'# IPv6 NAT66: blackhole -> allowed guest via backup: {first.recv - t0:.2f} s', flush=True)
        assert 'ip6 saddr @allowed6 masquerade' in d.nft_table()
        time.sleep(1.0)
        assert no6.count_via(pflab.SRC6_BACKUP) == 0, 'guest-no leaked onto the backup'
        assert no6.count_via(pflab.GUEST_NO6, after=first.recv + 0.5) == 0
        t1 = time.monotonic()
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        assert ok6.wait_arrival_via(pflab.GUEST_OK6, after=t1 + HOLD, timeout=5), 'guest-ok not back'
    finally:
        ok6.stop()
        no6.stop()
        lab.blackhole(False)
    assert not conntrack_entries(lab, 'ipv6')


def check_mixed_targets_fail_over_both_families(lab, d):
    reload(d, config(targets=TARGETS_MIXED))
    host6 = host_stream(lab)
    host4 = lab.udp_stream('host')
    try:
        host4.start()
        t0 = failover(lab, d, [host6])
        first6 = host6.wait_arrival_via(pflab.SRC6_BACKUP, after=t0, timeout=5)
        first4 = host4.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=5)
        assert first6 is not None and first4 is not None
        print(f'# mixed targets: blackhole -> host via backup: IPv4 {first4.recv - t0:.2f} s, '
              f'IPv6 {first6.recv - t0:.2f} s', flush=True)
        t1 = time.monotonic()
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        assert host6.wait_arrival_via(pflab.SRC6_PRIMARY, after=t1 + HOLD, timeout=5)
        assert host4.wait_arrival_via(pflab.SRC_PRIMARY, after=t1 + HOLD, timeout=5)
    finally:
        host6.stop()
        host4.stop()
        lab.blackhole(False)
    assert rules6(lab) == STANDBY_RULES6, rules6(lab)


def check_clean_stop_removes_v6_rules_and_route(lab, d):
    assert d.stop() == 0
    assert rules6(lab) == [], rules6(lab)
    table = lab.run('host', 'ip', '-6', 'route', 'show', 'table', str(TABLE_LTE)).stdout
    assert table.strip() == '', table


def main():
    pftest.require_root()
    with pflab.Lab(ipv6=True) as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        polkit.set_allowed(ALL_ACTIONS)
        d = Daemon(lab, config())
        d.start()
        rc = pftest.run([
            check_v6_probes_bring_both_uplinks_up,
            check_blackhole_fails_over_host_v6_not_guests,
            check_restart_while_failed_over_keeps_v6,
            check_failback_v6_flushes_and_restores_rules,
            check_nat66_lets_only_the_allowed_guest_out,
            check_mixed_targets_fail_over_both_families,
            check_clean_stop_removes_v6_rules_and_route,
        ], lab, d, log=d.log)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
