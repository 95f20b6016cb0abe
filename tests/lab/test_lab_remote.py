#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-test of the lab's remote-access plumbing (pflab.py): the remote VPS link, a
WireGuard tunnel host ↔ remote and the path its packets take, an inside HTTP service
reached through a port forward, the fake ZeroTier service API, and their clean-up.

TAP on stdout; exit status 0 all checks passed, 1 a check failed, 77 not root.
"""

import json
import os
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pflab import (GUEST_OK, HOST_BACKUP_IF, MODEM_MGMT, REMOTE_ADDR, SRC_BACKUP,  # noqa: E402
                   SRC_PRIMARY, TARGETS, WG_REMOTE_ADDR)

FWMARK = 0x7100
TABLE = 7100


def note(text):
    print(f'# {text}', flush=True)


def remote_endpoint(lab, wg):
    return lab.wg_show('remote', wg.remote_if, 'endpoints').get(wg.host_pubkey)


def wait_endpoint_via(lab, wg, src, timeout=3):
    """Ping through the tunnel until the remote sees the host from src; returns the endpoint."""
    deadline = time.monotonic() + timeout
    while True:
        lab.ping('host', wg.remote_addr, timeout=0.5)
        ep = remote_endpoint(lab, wg) or ''
        if ep.startswith(src + ':') or time.monotonic() >= deadline:
            return ep


def remote_link(lab, st):
    assert lab.ping('host', REMOTE_ADDR), 'host → remote via the primary'
    assert lab.ping('host', REMOTE_ADDR, iface=HOST_BACKUP_IF), 'host → remote via the backup'
    assert lab.ping('remote', TARGETS[0]), 'remote → inet'
    assert not lab.ping('box', SRC_BACKUP), 'inet must not route box ↔ modem'


def wireguard_tunnel(lab, st):
    t0 = time.monotonic()
    wg = st.wg = lab.wireguard_up(fwmark=FWMARK, keepalive=25)
    note(f'wireguard_up in {time.monotonic() - t0:.2f} s: {wg.host_if} ↔ {wg.remote_if}')
    assert wg.host_if.startswith('wg') and wg.remote_if == 'wr' + wg.host_if[2:] and len(wg.host_if) == 6
    for ns, ifname in (('host', wg.host_if), ('remote', wg.remote_if)):
        assert os.path.exists(os.path.join(pflab.WG_SOCKET_DIR, ifname + '.sock')), ifname
        assert 'LOWER_UP' in lab.run(ns, 'ip', 'link', 'show', ifname).stdout, ifname
    assert lab.wg_show('host', wg.host_if, 'fwmark') == FWMARK
    assert lab.wg_show('remote', wg.remote_if, 'listen-port') == wg.port
    assert lab.wg_show('host', wg.host_if, 'persistent-keepalive') == {wg.remote_pubkey: 25}
    assert lab.ping('host', wg.remote_addr, count=3), 'no ping through the tunnel'
    assert lab.wg_show('remote', wg.remote_if, 'latest-handshakes')[wg.host_pubkey] > 0
    rx, tx = lab.wg_show('host', wg.host_if, 'transfer')[wg.remote_pubkey]
    assert rx > 0 and tx > 0, (rx, tx)
    try:
        lab.wireguard_up()
        raise AssertionError('a second wireguard_up() was accepted')
    except pflab.LabError as e:
        assert 'in use' in str(e), e


def endpoint_follows_fwmark_rule(lab, st):
    """What the daemon does for an out-of-band tunnel: its marked packets leave by the LTE."""
    wg = st.wg
    ep = wait_endpoint_via(lab, wg, SRC_PRIMARY)
    note(f'remote sees the host at {ep}')
    assert ep.startswith(SRC_PRIMARY + ':'), ep
    lab.run('host', 'ip', 'rule', 'add', 'fwmark', FWMARK, 'lookup', TABLE)
    lab.run('host', 'ip', 'route', 'add', 'default', 'via', MODEM_MGMT, 'dev', HOST_BACKUP_IF, 'table', TABLE)
    try:
        ep2 = wait_endpoint_via(lab, wg, SRC_BACKUP)
        note(f'with the fwmark rule: {ep2}')
        assert ep2.startswith(SRC_BACKUP + ':'), ep2
        assert ep2.rsplit(':', 1)[1] == ep.rsplit(':', 1)[1], 'both NATs keep the source port'
    finally:
        lab.run('host', 'ip', 'rule', 'del', 'fwmark', FWMARK, 'lookup', TABLE)
        lab.run('host', 'ip', 'route', 'flush', 'table', TABLE)
    ep3 = wait_endpoint_via(lab, wg, SRC_PRIMARY)
    assert ep3.startswith(SRC_PRIMARY + ':'), ep3


def port_forward(lab, st):
    lab.serve_http('guest-ok', 8123, 'home-assistant')
    assert lab.http_get('host', f'http://{GUEST_OK}:8123/') == (200, 'home-assistant')
    url = f'http://{st.wg.host_addr}:8123/'
    assert lab.http_get('remote', url, timeout=1) is None, 'reached without a port forward'
    lab.run('host', 'nft', '-f', '-', input=f"""table ip pflabtest {{
	chain prerouting {{
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wg*" tcp dport 8123 dnat to {GUEST_OK}:8123
	}}
}}""")
    try:
        assert lab.http_get('remote', url) == (200, 'home-assistant')
    finally:
        lab.run('host', 'nft', 'delete', 'table', 'ip', 'pflabtest')
    assert lab.http_clients('guest-ok', 8123) == ['10.10.0.1', WG_REMOTE_ADDR], lab.http_clients('guest-ok', 8123)
    assert lab.http_clients('guest-ok', 8124) == []


def zt_get(lab, path, token):
    code = f"""
import sys, urllib.error, urllib.request
r = urllib.request.Request('http://127.0.0.1:{pflab.ZT_API_PORT}' + sys.argv[1])
if sys.argv[2]:
    r.add_header('X-ZT1-Auth', sys.argv[2])
try:
    with urllib.request.urlopen(r, timeout=3) as f:
        print(f.status, f.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""
    status, _, body = lab.run('host', pflab.PYTHON, '-c', code, path, token or '').stdout.partition(' ')
    return int(status), json.loads(body)


def fake_zerotier(lab, st):
    zt = lab.start_zerotier(extra=['--device', 'ztlab0', '--assigned', '10.147.17.5/24'])
    assert os.stat(zt.token_file).st_mode & 0o777 == 0o600
    assert zt_get(lab, '/status', None) == (401, {})
    assert zt_get(lab, '/status', 'wrong')[0] == 401
    code, doc = zt_get(lab, '/status', zt.token)
    assert code == 200 and doc['online'] is True and doc['version'] == '1.12.2', doc
    code, nets = zt_get(lab, '/network', zt.token)
    assert code == 200 and [(n['nwid'], n['portDeviceName'], n['status'], n['assignedAddresses'])
                            for n in nets] == [(pflab.ZT_NETWORK, 'ztlab0', 'OK', ['10.147.17.5/24'])], nets
    zt.control(online=False)
    assert zt_get(lab, '/status', zt.token)[1]['online'] is False
    log = zt.requests()
    assert [(r['path'], r['authorized'], r['status']) for r in log] == [
        ('/status', False, 401), ('/status', False, 401), ('/status', True, 200), ('/network', True, 200),
        ('/status', True, 200)], log
    assert all(a['time'] <= b['time'] for a, b in zip(log, log[1:]))
    with open(zt.log_path) as f:
        assert zt.token not in f.read(), 'the token was logged'
    zt.stop()
    assert zt.proc.poll() is not None


def down_cleans_up(lab, st):
    lab.down()
    socks = [n for n in (st.wg.host_if, st.wg.remote_if)
             if os.path.exists(os.path.join(pflab.WG_SOCKET_DIR, n + '.sock'))]
    assert not socks, socks
    left = subprocess.run(['pgrep', '-f', f'wireguard-go -f (wg|wr){st.wg.host_if[2:]}'],
                          capture_output=True, text=True).stdout.split()
    assert not left, left


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        return pftest.run([remote_link, wireguard_tunnel, endpoint_follows_fwmark_rule, port_forward,
                           fake_zerotier, down_cleans_up], lab, types.SimpleNamespace(wg=None))


if __name__ == '__main__':
    sys.exit(main())
