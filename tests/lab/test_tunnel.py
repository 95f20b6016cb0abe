#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A tunnel over the backup keeps the public address: the uplink "tunnel" is a
NetworkManager connection (VXLAN in the lab) that rides the LTE stick (via=lte) to a
server on the internet (server=), preferred over the stick itself. On failover the daemon
routes the server through the stick, activates the tunnel and sends the guests through it:
they reach the internet from the tunnel's address, and the modem sees nothing but the
tunnel. Failback deactivates the tunnel. With the server dead, the daemon tries the
tunnel and ends on the stick."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, TUNNEL_UPLINK, Daemon, DaemonError, lab_config  # noqa: E402

HOLD = 5.0                 # failback-hold of the primary
CT_MASK = 0x00ff0000       # the daemon's default conntrack-mark-mask
CT_SHIFT = 16
DEAD_TUNNEL_BOUND = 45.0   # blackhole -> guests on the stick, the tunnel's server dead (s)
CT_FIELD = re.compile(r'(\w+)=(\S+)')


def config():
    return lab_config(failback_hold=f'{HOLD:.0f}s') + TUNNEL_UPLINK


def tunnel_ct_mark(d):
    """The mark of flows leaving through the tunnel: (i + 1) << 16, i its index in the
    daemon's uplinks (primary first, then by priority: the tunnel before lte)."""
    return (list(d.prop('Uplinks')).index(d.uplink_path('tunnel')) + 1) << CT_SHIFT


def conntrack_entries(lab, mark):
    r = lab.conntrack('host', '-L', '--mark', f'{mark}/{CT_MASK}')
    return [line for line in r.stdout.splitlines() if line.strip()]


def modem_flows(lab):
    """The modem's conntrack entries: {'proto', 'src', 'dst', 'sport', 'dport', ...} of the
    original direction (the first occurrence of each field), 'line' the whole entry."""
    flows = []
    for line in lab.conntrack('modem', '-L').stdout.splitlines():
        if 'src=' not in line:
            continue
        flow = {'proto': line.split()[0], 'line': line.strip()}
        for key, value in CT_FIELD.findall(line):
            flow.setdefault(key, value)
        flows.append(flow)
    return flows


def modem_flow_expected(flow):
    """While on the tunnel the stick carries the tunnel, the daemon's probes and management."""
    if flow['dst'] == pflab.MODEM_MGMT:
        return True
    if flow['proto'] == 'udp' and flow['dst'] == pflab.TUNNEL_SERVER and flow.get('dport') == str(pflab.TUNNEL_PORT):
        return True
    return flow['proto'] == 'icmp' and flow['dst'] in pflab.TARGETS


def tunnel_device_exists(lab):
    return lab.run('host', 'ip', 'link', 'show', pflab.TUNNEL_IF, check=False).returncode == 0


def check_starts_on_primary_tunnel_down_lte_hot(lab, d):
    d.wait_health('primary', 'up', timeout=20)
    d.wait_health('lte', 'up', timeout=20)
    assert d.prop('ActiveUplink') == 'primary', d.prop('ActiveUplink')
    assert d.uplink_prop('lte', 'Standby') == 'hot', d.uplink_prop('lte', 'Standby')
    assert lab.nm_connection_state(pflab.LTE_CONNECTION) == 'activated'
    assert d.uplink_prop('tunnel', 'Standby') == 'cold', d.uplink_prop('tunnel', 'Standby')
    assert lab.tunnel_state() == '', f'"tunnel" is {lab.tunnel_state()!r} before any failover'
    assert not tunnel_device_exists(lab), f'{pflab.TUNNEL_IF} exists before any failover'
    print(f'# tunnel conntrack mark 0x{tunnel_ct_mark(d):08x}', flush=True)
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3) is not None


def check_blackhole_fails_over_to_tunnel(lab, d):
    ok = lab.udp_stream('guest-ok')
    no = lab.udp_stream('guest-no')
    ok.start()
    no.start()
    try:
        assert ok.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(True)
        d.wait_active('tunnel', timeout=20)
        assert lab.tunnel_state() == 'activated', lab.tunnel_state()
        first = ok.wait_arrival_via(pflab.SRC_TUNNEL, after=t0, timeout=10)
        assert first is not None, 'guest-ok never reached inet through the tunnel'
        print(f'# blackhole -> guest-ok via the tunnel: {first.recv - t0:.2f} s', flush=True)
        time.sleep(1.0)
        assert ok.count_via(pflab.SRC_BACKUP, after=t0) == 0, 'guest-ok went out through the stick itself'
        assert no.count_via(pflab.SRC_TUNNEL) == 0, 'guest-no leaked into the tunnel'
        assert no.count_via(pflab.SRC_BACKUP) == 0, 'guest-no leaked onto the stick'
        assert no.count_via(pflab.SRC_PRIMARY, after=t0 + 0.5) == 0
        # The server is routed through the stick.
        route = lab.run('host', 'ip', 'route', 'get', pflab.TUNNEL_SERVER).stdout
        assert f'dev {pflab.HOST_BACKUP_IF}' in route, route
        assert conntrack_entries(lab, tunnel_ct_mark(d)), 'no flow marked as leaving through the tunnel'
        flows = modem_flows(lab)
        assert any(f['proto'] == 'udp' and f['dst'] == pflab.TUNNEL_SERVER for f in flows), flows
        leaks = [f['line'] for f in flows if not modem_flow_expected(f)]
        assert not leaks, 'the modem carries more than the tunnel:\n' + '\n'.join(leaks)
        print(f'# modem: {len(flows)} conntrack entries, all tunnel, probes or management', flush=True)
    finally:
        ok.stop()
        no.stop()


def check_failback_deactivates_tunnel(lab, d):
    mark = tunnel_ct_mark(d)
    try:
        with lab.udp_stream('guest-ok') as s:
            assert s.wait_arrival_via(pflab.SRC_TUNNEL, timeout=3), 'guest-ok is not on the tunnel'
            assert conntrack_entries(lab, mark), 'no flow marked as leaving through the tunnel'
            t0 = time.monotonic()
            lab.blackhole(False)
            d.wait_active('primary', timeout=HOLD + 20)
            took = time.monotonic() - t0
            print(f'# recovery -> failback after {took:.1f} s (hold {HOLD:.0f} s)', flush=True)
            assert took >= HOLD, f'failed back after {took:.1f} s, before the {HOLD:.0f} s hold'
            back = s.wait_arrival_via(pflab.SRC_PRIMARY, after=t0 + took, timeout=3)
            assert back is not None, 'guest-ok did not come back to the primary'
            d.wait_for(lambda: lab.tunnel_state() == '', timeout=10, what='"tunnel" deactivated')
            time.sleep(0.5)
            late = s.count_via(pflab.SRC_TUNNEL, after=back.recv + 0.2)
            assert late == 0, f'{late} packets still through the tunnel after failback'
    finally:
        lab.blackhole(False)
    assert not conntrack_entries(lab, mark), conntrack_entries(lab, mark)
    assert not tunnel_device_exists(lab), f'{pflab.TUNNEL_IF} left after failback'
    # lte is a hot standby: it stays up.
    assert lab.nm_connection_state(pflab.LTE_CONNECTION) == 'activated'


def check_dead_server_ends_on_lte(lab, d):
    d.wait_active('primary', timeout=HOLD + 20)
    lab.tunnel_server(False)
    try:
        with lab.udp_stream('guest-ok') as s:
            assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
            t0 = time.monotonic()
            lab.blackhole(True)
            seen = set()
            first = None
            while first is None and time.monotonic() < t0 + DEAD_TUNNEL_BOUND:
                seen.add(lab.tunnel_state())
                first = s.first_arrival_via(pflab.SRC_BACKUP, after=t0)
                time.sleep(0.1)
            assert first is not None, (f'guest-ok not through lte {DEAD_TUNNEL_BOUND:.0f} s after the '
                                       f'blackhole (active {d.prop("ActiveUplink")!r}, "tunnel" states {seen})')
            print(f'# server dead: blackhole -> guest-ok via lte {first.recv - t0:.2f} s '
                  f'("tunnel" states seen: {sorted(seen)})', flush=True)
            assert seen & {'activating', 'activated'}, f'the daemon never tried the tunnel: {seen}'
            d.wait_active('lte', timeout=5)
            assert s.count_via(pflab.SRC_TUNNEL, after=t0) == 0
            print(f'# "tunnel" now {lab.tunnel_state() or "inactive"!r}', flush=True)
    finally:
        lab.blackhole(False)
        lab.tunnel_server(True)
    d.wait_active('primary', timeout=HOLD + 20)


def main():
    pftest.require_root()
    with pflab.Lab(tunnel=True) as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        polkit.set_allowed(ALL_ACTIONS)
        d = Daemon(lab, config())
        try:
            d.start()
        except DaemonError as e:
            print('Bail out! pvefailoverd did not start with a tunnel uplink', flush=True)
            for line in str(e).splitlines():
                print('# ' + line, flush=True)
            return 1
        rc = pftest.run([
            check_starts_on_primary_tunnel_down_lte_hot,
            check_blackhole_fails_over_to_tunnel,
            check_failback_deactivates_tunnel,
            check_dead_server_ends_on_lte,
        ], lab, d, log=d.log)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
