#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-test of the network lab (pflab.py): topology, NetworkManager, faults, clean-up.

Exit status: 0 all checks passed, 1 a check failed, 77 not root.
"""

import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
from pflab import (Lab, TARGETS, SRC_PRIMARY, SRC_BACKUP, HOST_BACKUP_IF,  # noqa: E402
                   HOST_PRIMARY_IF, HTTP_ADDR, LTE_ADDR)

failures = []


def check(ok, what, detail=''):
    print(f'{"ok  " if ok else "FAIL"} {what}' + (f' ({detail})' if detail else ''), flush=True)
    if not ok:
        failures.append(what)
    return ok


def wait_for(pred, timeout=3.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def resolv_fingerprint():
    try:
        st = os.stat('/etc/resolv.conf')
        with open('/etc/resolv.conf', 'rb') as f:
            return (hashlib.sha256(f.read()).hexdigest(), st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return None


def pids_mentioning(*needles):
    found = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f'/proc/{d}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.append((int(d), cmd.strip()))
    return found


def link_flags(lab, ns, dev):
    return lab.run(ns, 'ip', 'link', 'show', dev).stdout


def test_topology(lab):
    for ns in ('host', 'guest-ok', 'guest-no'):
        check(lab.ping(ns, TARGETS[0]), f'{ns} pings {TARGETS[0]}')
    for ns in ('host', 'guest-ok', 'guest-no'):
        with lab.udp_stream(ns) as s:
            r = s.wait_arrival_via(SRC_PRIMARY, timeout=3)
        check(r is not None, f'{ns} UDP stream arrives via the primary (src {SRC_PRIMARY})')
        check(all(x.src == SRC_PRIMARY for x in s.records()), f'{ns} UDP stream uses only the primary')
    check(lab.dns_query('host', 'anything.example') == HTTP_ADDR, f'DNS A query answers {HTTP_ADDR}')
    check(lab.http_get('guest-ok', f'http://{HTTP_ADDR}/health') == (204, ''), 'HTTP /health → 204')
    check(lab.http_get('host', f'http://{HTTP_ADDR}/') == (200, 'ok'), 'HTTP / → 200 "ok"')
    check(lab.ns('remote') in pflab._netns_list(), 'namespace remote exists')
    check(lab.tcp_connect('host', TARGETS[0], 443), f'TCP connect to {TARGETS[0]}:443')
    check(not lab.tcp_connect('host', TARGETS[0], 444), f'TCP connect to {TARGETS[0]}:444 refused')
    check(lab.ping('guest-ok', '10.10.0.39'), 'guests reach each other over vmbr1')
    v6 = [ns for ns in pflab.NAMESPACES if lab.run(ns, 'ip', '-6', 'addr').stdout.strip()]
    check(not v6, 'no IPv6 address in any namespace', ' '.join(v6))
    dis = lab.run('host', 'sysctl', '-n', f'net.ipv6.conf.{HOST_PRIMARY_IF}.disable_ipv6').stdout.strip()
    check(dis == '1', f'IPv6 disabled on host {HOST_PRIMARY_IF}')
    ct = lab.conntrack('box', '-L', '-p', 'udp', '--dport', '9999').stdout
    check(SRC_PRIMARY in ct, 'box conntrack shows the masqueraded UDP flow')


def test_nm(lab):
    try:
        lab.nm_wait_activated('lte', 20)
        ok = True
    except pflab.LabError as e:
        ok = False
        print(e)
    check(ok, 'NetworkManager activates "lte"')
    check(lab.nm_device_state(HOST_BACKUP_IF) == 'connected', f'NM manages {HOST_BACKUP_IF}',
          lab.nm_device_state(HOST_BACKUP_IF))
    check(lab.nm_device_state(HOST_PRIMARY_IF) == 'unmanaged', f'NM leaves {HOST_PRIMARY_IF} alone')
    addr = lab.run('host', 'ip', '-4', 'addr', 'show', HOST_BACKUP_IF).stdout
    check(f'{LTE_ADDR}/24' in addr, f'{LTE_ADDR}/24 on {HOST_BACKUP_IF}')
    routes = lab.run('host', 'ip', 'route', 'show', 'default').stdout
    check(f'dev {HOST_BACKUP_IF} proto static metric 700' in routes and f'dev {HOST_PRIMARY_IF}' in routes,
          'host has primary default route and lte default route with metric 700', routes.replace('\n', '; '))
    check(lab.ping('host', TARGETS[0], iface=HOST_BACKUP_IF), f'host pings {TARGETS[0]} with -I {HOST_BACKUP_IF}')
    with lab.udp_stream('host', iface=HOST_BACKUP_IF) as s:
        r = s.wait_arrival_via(SRC_BACKUP, timeout=3)
    check(r is not None, f'UDP stream bound to {HOST_BACKUP_IF} arrives via the modem (src {SRC_BACKUP})')
    before = lab.iface_bytes('host', HOST_BACKUP_IF)
    lab.ping('host', TARGETS[1], count=3, iface=HOST_BACKUP_IF)
    check(lab.iface_bytes('host', HOST_BACKUP_IF) > before, 'iface_bytes grows with traffic on the backup')
    mode = oct(os.stat(os.path.join(lab.workdir, 'nm', 'system-connections', 'lte.nmconnection')).st_mode & 0o777)
    check(mode == '0o600', 'keyfile lte.nmconnection is 0600', mode)


def test_faults(lab):
    s = lab.udp_stream('guest-ok').start()
    try:
        check(s.wait_arrival_via(SRC_PRIMARY, timeout=3) is not None, 'stream flows before the blackhole')
        lab.blackhole(True)
        lab.blackhole(True)  # idempotent
        t = time.monotonic() + 0.1
        time.sleep(1.0)
        n = s.count_via(SRC_PRIMARY, after=t)
        check(n == 0, 'blackhole: the primary path is silent', f'{n} arrivals')
        check(not lab.ping('host', TARGETS[0]), 'blackhole: host ping fails')
        check(lab.ping('host', TARGETS[0], iface=HOST_BACKUP_IF), 'blackhole: backup still works')
        check(lab.faults()['blackhole'], 'faults() reports the blackhole')
        lab.blackhole(False)
        lab.blackhole(False)
        t = time.monotonic()
        check(s.wait_arrival_via(SRC_PRIMARY, after=t, timeout=3) is not None, 'blackhole off: the stream resumes')
        check(lab.ping('host', TARGETS[0]), 'blackhole off: host ping works')
    finally:
        s.stop()

    lab.primary_link(False)
    lab.primary_link(False)
    check(wait_for(lambda: 'NO-CARRIER' in link_flags(lab, 'host', HOST_PRIMARY_IF)),
          f'primary_link(False): host {HOST_PRIMARY_IF} NO-CARRIER')
    check(not lab.ping('host', TARGETS[0]), 'primary link down: host ping fails')
    lab.primary_link(True)
    lab.primary_link(True)
    check(wait_for(lambda: 'NO-CARRIER' not in link_flags(lab, 'host', HOST_PRIMARY_IF)),
          f'primary_link(True): host {HOST_PRIMARY_IF} has carrier')
    check(wait_for(lambda: lab.ping('guest-ok', TARGETS[0])), 'primary link up: guest ping works again')

    lab.loss(25)
    lab.loss(25)
    pct = lab.ping_loss('host', TARGETS[0], count=200, interval=0.01)
    check(10 <= pct <= 40, 'loss(25): measured ping loss within 10..40 %', f'{pct:.1f} %')
    pct_b = lab.ping_loss('host', TARGETS[0], count=50, interval=0.01, iface=HOST_BACKUP_IF)
    check(pct_b == 0, 'loss(25) leaves the backup alone', f'{pct_b:.1f} %')
    check(lab.faults()['loss'] == 25, 'faults() reports loss 25')
    lab.loss(0)
    lab.loss(0)
    pct = lab.ping_loss('host', TARGETS[0], count=100, interval=0.01)
    check(pct == 0, 'loss(0): no loss', f'{pct:.1f} %')

    lab.backup_dead(True)
    lab.backup_dead(True)
    check(not lab.ping('host', TARGETS[0], iface=HOST_BACKUP_IF), 'backup_dead: ping via the backup fails')
    check(lab.ping('host', TARGETS[0]), 'backup_dead: primary unaffected')
    check(lab.ping('host', pflab.MODEM_MGMT, iface=HOST_BACKUP_IF), 'backup_dead: modem management address answers')
    lab.backup_dead(False)
    lab.backup_dead(False)
    check(lab.ping('host', TARGETS[0], iface=HOST_BACKUP_IF), 'backup_dead off: ping via the backup works')

    lab.backup_link(False)
    lab.backup_link(False)
    check(wait_for(lambda: 'NO-CARRIER' in link_flags(lab, 'host', HOST_BACKUP_IF)),
          f'backup_link(False): host {HOST_BACKUP_IF} NO-CARRIER')
    lab.backup_link(True)
    lab.backup_link(True)
    try:
        ok = wait_for(lambda: 'NO-CARRIER' not in link_flags(lab, 'host', HOST_BACKUP_IF)) and \
            lab.nm_wait_activated('lte', 20) and \
            wait_for(lambda: lab.ping('host', TARGETS[0], iface=HOST_BACKUP_IF), timeout=5)
    except pflab.LabError as e:
        ok = False
        print(e)
    check(ok, 'backup_link(True): carrier back, lte activated, backup works')

    lab.dns_down(True)
    lab.dns_down(True)
    t = time.monotonic()
    ans = lab.dns_query('guest-ok', 'x.example', timeout=1)
    check(ans is None and time.monotonic() - t >= 0.9, 'dns_down: the DNS query times out')
    check(lab.ping('host', pflab.DNS_ADDR), 'dns_down: the DNS server address still answers ping')
    check(lab.http_get('host', f'http://{HTTP_ADDR}/') == (200, 'ok'), 'dns_down: HTTP unaffected')
    lab.dns_down(False)
    lab.dns_down(False)
    check(lab.dns_query('guest-ok', 'x.example') == HTTP_ADDR, 'dns_down off: DNS answers again')
    f = lab.faults()
    check(f == {'blackhole': False, 'loss': 0, 'primary_link': True, 'backup_dead': False,
                'backup_link': True, 'dns_down': False}, 'all faults cleared', str(f))


def test_polkit(lab):
    pk = lab.start_polkit_mock()
    try:
        pk.set_allowed(['org.pvefailover.set-mode'])
        pk.set_allowed([])
        pk.allow_unknown(False)
        out = subprocess.run(['gdbus', 'call', '--system', '--dest', 'org.freedesktop.PolicyKit1',
                              '--object-path', '/org/freedesktop/PolicyKit1/Authority', '--method',
                              'org.freedesktop.PolicyKit1.Authority.CheckAuthorization',
                              "('unix-process', {'pid': <uint32 1>, 'start-time': <uint64 0>})",
                              'org.pvefailover.set-mode', '{}', '0', "''"],
                             capture_output=True, text=True, env=lab.host_env(), timeout=10)
        check(out.returncode == 0 and out.stdout.startswith('((false,'), 'polkit mock denies after SetAllowed([])',
              out.stdout.strip() or out.stderr.strip())
        pk.set_allowed(['org.pvefailover.set-mode'])
        out = subprocess.run(out.args, capture_output=True, text=True, env=lab.host_env(), timeout=10)
        check(out.stdout.startswith('((true,'), 'polkit mock allows after SetAllowed([action])', out.stdout.strip())
    finally:
        pk.stop()
    check(pk.proc.poll() is not None, 'polkit mock stopped')


def test_second_lab(lab):
    t = time.monotonic()
    with Lab() as lab2:
        check(lab2.ping('host', TARGETS[0]) and lab2.ping('guest-no', TARGETS[0]),
              f'a second lab ({lab2.prefix}) works alongside the first', f'up in {time.monotonic() - t:.1f} s')
        try:
            ok = lab2.nm_wait_activated('lte', 20) and lab.nm_connection_state('lte') == 'activated'
        except pflab.LabError as e:
            ok = False
            print(e)
        check(ok, 'both labs have their own NetworkManager with "lte" activated')
        lab2.blackhole(True)
        check(not lab2.ping('host', TARGETS[0]) and lab.ping('host', TARGETS[0]),
              'a fault in the second lab leaves the first alone')
        prefix2 = lab2.prefix
    try:
        Lab(prefix=lab.prefix).up()
        clash = False
    except pflab.LabError:
        clash = True
    check(clash and lab.ping('host', TARGETS[0]), 'a lab with a prefix in use is refused, the first one untouched')
    left = [n for n in pflab._netns_list() if n.startswith(prefix2 + '-')]
    check(not left, 'second lab cleaned up')
    check(lab.ping('guest-ok', TARGETS[0]), 'first lab still works after the second is gone')


def test_cli():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pflab.py')
    prefix = 'pfcli%02d' % (os.getpid() % 100)
    up = subprocess.run([sys.executable, here, 'up', '--prefix', prefix, '--wait-lte'],
                        capture_output=True, text=True, timeout=60)
    try:
        check(up.returncode == 0, 'CLI up', up.stderr.strip())
        st = subprocess.run([sys.executable, here, 'status', '--prefix', prefix], capture_output=True, text=True,
                            timeout=60)
        check(st.returncode == 0 and 'host→primary=ok' in st.stdout and 'lte: activated' in st.stdout,
              'CLI status', st.stdout.strip().splitlines()[-1] if st.stdout else st.stderr.strip())
        fa = subprocess.run([sys.executable, here, 'fault', '--prefix', prefix, 'blackhole', 'on'],
                            capture_output=True, text=True, timeout=30)
        st = subprocess.run([sys.executable, here, 'status', '--prefix', prefix], capture_output=True, text=True,
                            timeout=60)
        check(fa.returncode == 0 and 'blackhole=True' in st.stdout and 'host→primary=FAIL' in st.stdout,
              'CLI fault blackhole on')
    finally:
        dn = subprocess.run([sys.executable, here, 'down', '--prefix', prefix], capture_output=True, text=True,
                            timeout=60)
    check(dn.returncode == 0, 'CLI down', dn.stderr.strip())
    check(not [n for n in pflab._netns_list() if n.startswith(prefix + '-')], 'CLI down removed the namespaces')
    check(not pids_mentioning(f'/tmp/pflab-{prefix}'), 'CLI down left no process')


def main():
    if os.geteuid() != 0:
        print('SKIP: the lab needs root')
        return 77
    resolv = resolv_fingerprint()
    t0 = time.monotonic()
    lab = Lab()
    pids = []
    try:
        lab.up()
        check(True, f'lab {lab.prefix} up', f'{lab.up_seconds:.2f} s')
        test_topology(lab)
        test_nm(lab)
        test_faults(lab)
        test_polkit(lab)
        test_second_lab(lab)
        pids = [p.pid for p in lab._procs]
    finally:
        lab.down(keep_workdir=bool(failures))
    left = [n for n in pflab._netns_list() if n.startswith(lab.prefix + '-')]
    check(not left, 'no namespace with the prefix left', ' '.join(left))
    alive = [p for p in pids if os.path.exists(f'/proc/{p}')]
    check(not alive, 'no lab process left', str(alive))
    stray = pids_mentioning(lab.workdir, f'{lab.prefix}-')
    check(not stray, 'no process mentions the lab', str(stray))
    test_cli()
    check(resolv_fingerprint() == resolv, 'the machine /etc/resolv.conf is unchanged')
    print(f'{len(failures)} failure(s) in {time.monotonic() - t0:.1f} s')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
