#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Remote access through failover and failback, in the lab: a real WireGuard tunnel
(wireguard-go) from the host to a VPS in `remote`, port forwards from it to a guest's
services, re-pinning after each switch, an out-of-band tunnel that always rides the
backup, and ZeroTier's local API nudged (a fake of the API: ZeroTier is not packaged)."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from fake_zerotier import device_name  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 5.0
CT_MASK = 0x00ff0000
LTE_CT_MARK = 2 << 16
OOB_MARK = 0x5100
ZT_NETWORK = '8056c2e21c84a027'
HA_PORT = 8123      # always forwarded
PBS_PORT = 8007     # forwarded only while failed over
HOST_WG = pflab.WG_HOST_ADDR
REMOTE_WG = pflab.WG_REMOTE_ADDR


class Ctx:
    pass


def remote_access(d, name):
    for r in d.status()['remote_access']:
        if r['name'] == name:
            return r
    raise AssertionError(f'no remote access {name!r} in GetStatus')


def host_endpoint(lab, wg):
    """The address the VPS sees the host's tunnel packets come from."""
    endpoints = lab.wg_show('remote', wg.remote_if, 'endpoints')
    return endpoints.get(wg.host_pubkey, '').rsplit(':', 1)[0]


def wait_endpoint(lab, wg, address, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host_endpoint(lab, wg) == address:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f'the VPS still sees the host at {host_endpoint(lab, wg)!r}, not {address}')


def event_kinds(d, limit=30):
    return [(e[1], e[2], e[4]) for e in d.call('GetEvents', '(u)', limit)[0]]


def get(lab, port, timeout=3):
    r = lab.http_get('remote', f'http://{HOST_WG}:{port}/', timeout=timeout)
    return r[1] if r is not None else None


def config(ctx, out_of_band=False):
    wg = ctx.wg
    text = lab_config(failback_hold=f'{HOLD:.0f}s') + f"""
[forward home-assistant]
to={pflab.GUEST_OK}:{HA_PORT}

[forward pbs]
to={pflab.GUEST_OK}:{PBS_PORT}
when=failover

[remote-access vpn]
type=wireguard
interface={wg.host_if}
probe={REMOTE_WG}
interval=5s
"""
    if out_of_band:
        text += f'out-of-band=lte\nfwmark=0x{OOB_MARK:x}\n'
    else:
        text += f"""endpoint={pflab.REMOTE_ADDR}:{wg.port}
peer-key={wg.remote_pubkey}

[remote-access zerotier]
network={ZT_NETWORK}
probe=10.147.17.1
api=http://127.0.0.1:{ctx.zt.port}
token-file={ctx.zt.token_file}
interval=1h
"""
    return text


def zerotier_requests(ctx):
    return ctx.zt.requests()


# ---- the tunnel follows the active uplink -----------------------------------------


def check_vpn_up_and_forward_always(lab, ctx):
    d = ctx.d
    d.wait_health('primary', 'up', timeout=20)
    d.wait_for(lambda: remote_access(d, 'vpn')['state'] == 'up', timeout=15, what='vpn up')
    assert host_endpoint(lab, ctx.wg) == pflab.SRC_PRIMARY, host_endpoint(lab, ctx.wg)
    # Home Assistant from the VPS, through the tunnel, DNAT to the guest, masqueraded.
    assert get(lab, HA_PORT) == 'home-assistant'
    assert lab.http_clients('guest-ok', HA_PORT)[-1] == '10.10.0.1', lab.http_clients('guest-ok', HA_PORT)
    # PBS only while failed over.
    assert get(lab, PBS_PORT, timeout=1) is None
    # Only from the VPN interfaces: the LAN reaching the host's port gets nothing.
    assert lab.http_get('guest-no', f'http://10.10.0.1:{HA_PORT}/', timeout=1) is None
    table = d.nft_table()
    assert 'dnat ip to 10.10.0.29:8123' in table, table
    status = d.client('status').stdout
    assert 'Remote access:' in status and 'vpn: up' in status, status


def check_failover_repins_wireguard(lab, ctx):
    d = ctx.d
    t0 = time.monotonic()
    lab.blackhole(True)
    d.wait_active('lte', timeout=10)
    t_switch = time.monotonic()
    # The host keeps no keepalive of its own: only the daemon's probe moves it.
    t_new = wait_endpoint(lab, ctx.wg, pflab.SRC_BACKUP, timeout=10)
    print(f'# failover -> VPS sees the host via the backup: {t_new - t_switch:.2f} s '
          f'({t_new - t0:.2f} s after the blackhole)', flush=True)
    d.wait_for(lambda: any(k == 'remote-repinned' and f == 'vpn' for k, f, _ in event_kinds(d)),
               timeout=10, what='remote-repinned event')
    assert get(lab, HA_PORT) == 'home-assistant'
    assert get(lab, PBS_PORT) == 'pbs'
    r = remote_access(d, 'vpn')
    assert r['state'] == 'up' and r['last_repin_seconds'] is not None, r
    assert r['last_repin_seconds'] < 5, r
    ctx.repin_failover = t_new - t_switch


def check_zerotier_nudged_through_its_api(lab, ctx):
    d = ctx.d
    # Its probe never answers (no ZeroTier network here): 5 s after the
    # failover the daemon leaves and joins the network again.
    d.wait_for(lambda: [(q['method'], q['path']) for q in zerotier_requests(ctx)
                        if q['method'] in ('DELETE', 'POST')] ==
               [('DELETE', f'/network/{ZT_NETWORK}'), ('POST', f'/network/{ZT_NETWORK}')],
               timeout=15, what='ZeroTier left and joined again')
    reqs = zerotier_requests(ctx)
    assert all(q['authorized'] for q in reqs), reqs
    # First the interface was asked for, before any switch.
    assert reqs[0]['method'] == 'GET' and reqs[0]['path'] == f'/network/{ZT_NETWORK}', reqs[0]
    assert remote_access(d, 'zerotier')['interface'] == ctx.zt_device, remote_access(d, 'zerotier')


def check_failback_repins_and_closes_failover_forward(lab, ctx):
    d = ctx.d
    lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 20)
    t_switch = time.monotonic()
    t_new = wait_endpoint(lab, ctx.wg, pflab.SRC_PRIMARY, timeout=10)
    print(f'# failback -> VPS sees the host via the primary: {t_new - t_switch:.2f} s', flush=True)
    ctx.repin_failback = t_new - t_switch
    assert get(lab, HA_PORT) == 'home-assistant'
    assert get(lab, PBS_PORT, timeout=1) is None
    left = lab.conntrack('host', '-L', '--mark', f'{LTE_CT_MARK}/{CT_MASK}').stdout.strip()
    assert left == '', left


def check_remote_down_and_up_events(lab, ctx):
    d = ctx.d
    lab.run('remote', 'ip', 'link', 'set', ctx.wg.remote_if, 'down')
    d.wait_for(lambda: remote_access(d, 'vpn')['state'] == 'down', timeout=20, what='vpn down')
    lab.run('remote', 'ip', 'link', 'set', ctx.wg.remote_if, 'up')
    lab.run('remote', 'ip', 'addr', 'replace', f'{REMOTE_WG}/24', 'dev', ctx.wg.remote_if)
    d.wait_for(lambda: remote_access(d, 'vpn')['state'] == 'up', timeout=20, what='vpn up again')
    kinds = [(k, f) for k, f, _ in event_kinds(d)]
    assert ('remote-down', 'vpn') in kinds and ('remote-up', 'vpn') in kinds, kinds


# ---- out of band: the tunnel always rides the backup -------------------------------


def check_out_of_band_rides_backup_while_primary_healthy(lab, ctx):
    d = ctx.d
    d.wait_health('primary', 'up', timeout=20)
    assert d.prop('ActiveUplink') == 'primary'
    # No keepalive or handshake is due for 25 s and more: only the daemon moves it.
    wait_endpoint(lab, ctx.wg, pflab.SRC_BACKUP, timeout=5)
    rules = d.ip_rules()
    assert any(r.get('fwmark') == f'0x{OOB_MARK:x}' and r.get('table') == '7100' for r in rules), rules
    assert get(lab, HA_PORT) == 'home-assistant'
    # Nothing else leaks onto the backup: the guests and the host go through the primary...
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3) is not None
        time.sleep(1)
        assert s.count_via(pflab.SRC_BACKUP) == 0
    assert not lab.ping('host', pflab.TARGETS[0], count=1, timeout=1, iface=pflab.HOST_BACKUP_IF)
    # ...and what the carrier side saw is the tunnel and the daemon's own probes.
    flows = lab.conntrack('modem', '-L').stdout.splitlines()
    other = [f for f in flows if f.strip() and f'dst={pflab.REMOTE_ADDR}' not in f
             and not any(f'dst={t}' in f for t in pflab.TARGETS)
             and f'dst={pflab.MODEM_MGMT}' not in f]
    assert other == [], other
    assert any(f'dport={ctx.wg.port}' in f for f in flows), flows


def check_out_of_band_survives_failover_and_failback(lab, ctx):
    d = ctx.d
    result = {}
    count, interval = 120, 0.2
    pinger = threading.Thread(target=lambda: result.update(
        loss=lab.ping_loss('remote', HOST_WG, count=count, interval=interval, timeout=1)))
    pinger.start()
    try:
        time.sleep(1)
        lab.blackhole(True)
        d.wait_active('lte', timeout=10)
        assert host_endpoint(lab, ctx.wg) == pflab.SRC_BACKUP
        time.sleep(2)
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        assert host_endpoint(lab, ctx.wg) == pflab.SRC_BACKUP
    finally:
        pinger.join(timeout=count * interval + 30)
    print(f'# out-of-band tunnel through failover and failback: {result.get("loss")} % of {count} '
          f'pings lost over {count * interval:.0f} s', flush=True)
    assert result.get('loss') is not None and result['loss'] <= 2.0, result
    # Its flow was never flushed: the host's conntrack entry is still the first one.
    flows = lab.conntrack('host', '-L', '-p', 'udp', '--dport', str(ctx.wg.port)).stdout
    assert pflab.REMOTE_ADDR in flows, flows


def check_out_of_band_daemon_starts(lab, ctx):
    """The same tunnel, its packets now marked (as wg-quick's FwMark= would have them from
    boot), running on the primary before the daemon routes the mark: once it does, the
    tunnel must leave that path although WireGuard had pinned it."""
    ctx.d.stop()
    lab.run('host', 'wg', 'set', ctx.wg.host_if, 'fwmark', f'0x{OOB_MARK:x}',
            'peer', ctx.wg.remote_pubkey, 'persistent-keepalive', '25')
    assert lab.ping('host', REMOTE_WG, count=2, timeout=1)
    assert host_endpoint(lab, ctx.wg) == pflab.SRC_PRIMARY, host_endpoint(lab, ctx.wg)
    ctx.d = Daemon(lab, config(ctx, out_of_band=True), name='pvefailoverd-oob')
    ctx.d.start()


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        polkit.set_allowed(ALL_ACTIONS)
        lab.serve_http('guest-ok', HA_PORT, 'home-assistant')
        lab.serve_http('guest-ok', PBS_PORT, 'pbs')
        ctx = Ctx()
        ctx.zt = lab.start_zerotier(network=ZT_NETWORK)
        ctx.zt_device = device_name(ZT_NETWORK)
        # No keepalive on the host: only the daemon moves the tunnel after a switch.
        ctx.wg = lab.wireguard_up(keepalive=0)
        ctx.d = Daemon(lab, config(ctx))
        ctx.d.start()
        rc = pftest.run([
            check_vpn_up_and_forward_always,
            check_failover_repins_wireguard,
            check_zerotier_nudged_through_its_api,
            check_failback_repins_and_closes_failover_forward,
            check_remote_down_and_up_events,
            check_out_of_band_daemon_starts,
            check_out_of_band_rides_backup_while_primary_healthy,
            check_out_of_band_survives_failover_and_failback,
        ], lab, ctx, log=lambda: ctx.d.log())
        ctx.d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
