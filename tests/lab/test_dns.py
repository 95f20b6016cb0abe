#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""DNS continuity during failover, both ways, with the real daemon in the lab.

The host's resolver is the ISP box (192.168.2.254, reachable only through the primary):
box.example resolves to 192.0.2.1 there. The public resolver 198.51.100.53 answers every
name with 198.51.100.80, so the address tells which resolver answered.

- resolv.conf way (NetworkManager with dns=none, as on a Proxmox host): the host namespace
  has its own /etc/resolv.conf (bind-mounted by `ip netns exec`, so the daemon writes it in
  place); the backup's resolver is learned from NetworkManager (ipv4.dns of "lte").
- NetworkManager way (dns=default, rc-manager=file): the daemon sets NetworkManager's global
  DNS (dns= on the lte uplink) and puts back exactly what was there.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 3.0
PUBLIC_DNS = pflab.DNS_ADDR
BOX_NAME_ADDR = pflab.BOX_DNS_NAMES['box.example']
HOST_RESOLV = ('# the admin\'s resolv.conf\n'
               'search lab.example\n'
               f'nameserver {pflab.BOX_LAN_ADDR}\n'
               'options timeout:1 attempts:1\n')
ADMIN_GLOBAL_DNS = ("{'searches': <['lab.example']>, 'options': <['timeout:1', 'attempts:1']>, "
                    f"'domains': <{{'*': <{{'servers': <['{pflab.BOX_LAN_ADDR}']>}}>}}>}}")
RULE_PRIORITY = 10002   # the daemon's failover rule (lab_config keeps the default 10000)


def wait_until(predicate, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(interval)


def failover_event_time(d):
    """Wall-clock time of the latest failover event."""
    times = [e[0] for e in d.call('GetEvents', '(u)', 50)[0] if e[1] == 'failover']
    assert times, 'no failover event'
    return times[-1] / 1e6


def fail_over_and_measure(lab, d, swapped, resolves, label):
    """Take the primary's link down; once the daemon swapped the resolvers, resolve box.example.
    Prints the times from the failover event; returns the address resolved."""
    t0 = time.time()
    lab.primary_link(False)
    d.wait_active('lte', timeout=10)
    wait_until(swapped, 5, f'the backup\'s resolver in place ({label})')
    t_swapped = time.time()
    got = resolves()
    t_ok = time.time()
    t_event = failover_event_time(d)
    print(f'# {label}: primary down -> failover {t_event - t0:.3f} s, failover -> resolvers swapped '
          f'{t_swapped - t_event:.3f} s, -> getent answered {t_ok - t_event:.3f} s', flush=True)
    # The box's resolver is out of reach now: what answers is the backup's.
    assert lab.dns_query('host', 'box.example', server=pflab.BOX_LAN_ADDR) is None
    return got


def drop_failover_rule(lab):
    """What a reboot does to the kernel's state (the files stay as they were)."""
    for family in ('-4', '-6'):
        lab.run('host', 'ip', family, 'rule', 'del', 'priority', str(RULE_PRIORITY), check=False)


# -------------------------------------------------------------------- the resolv.conf way

class ResolvConf:
    def __init__(self, lab, d):
        self.lab = lab
        self.d = d
        self.path = lab.host_resolv_conf_path()
        self.mode = os.stat(self.path).st_mode & 0o7777

    def text(self):
        with open(self.path, 'rb') as f:
            return f.read()

    def swapped(self):
        return PUBLIC_DNS.encode() in self.text()

    def resolves(self, name='box.example'):
        return self.lab.getent_hosts('host', name)

    def kill_while_swapped(self):
        """Fail over, SIGKILL the daemon, bring the primary back."""
        self.lab.primary_link(False)
        self.d.wait_active('lte', timeout=10)
        wait_until(self.swapped, 5, 'the swapped resolv.conf')
        self.d.kill()
        self.lab.primary_link(True)

    def assert_original(self):
        assert self.text() == HOST_RESOLV.encode(), self.text()
        assert os.stat(self.path).st_mode & 0o7777 == self.mode
        assert not os.path.exists(os.path.join(self.d.state_dir, 'dns.json'))
        assert self.d.status()['dns']['servers'] is None, self.d.status()['dns']


def check_rc_primary_resolves_through_the_box(lab, rc):
    rc.d.wait_health('primary', 'up', timeout=20)
    assert rc.resolves() == BOX_NAME_ADDR, rc.resolves()
    dns = rc.d.status()['dns']
    assert dns == {'mode': 'auto', 'way': None, 'uplink': None, 'servers': None}, dns
    rc.assert_original()


def check_rc_failover_keeps_resolution(lab, rc):
    got = fail_over_and_measure(lab, rc.d, rc.swapped, rc.resolves, 'resolv.conf way')
    # Through the public resolver now (it answers every name with HTTP_ADDR).
    assert got == pflab.HTTP_ADDR, got
    assert rc.resolves('www.example.org') == pflab.HTTP_ADDR
    text = rc.text().decode()
    assert text.startswith('# Generated by pvefailoverd: uplink lte'), text
    assert '\nsearch lab.example\n' in text and '\noptions timeout:1 attempts:1\n' in text, text
    assert f'\nnameserver {PUBLIC_DNS}\n' in text and pflab.BOX_LAN_ADDR not in text, text
    assert os.stat(rc.path).st_mode & 0o7777 == rc.mode
    with open(os.path.join(rc.d.state_dir, 'resolv.conf.orig'), 'rb') as f:
        assert f.read() == HOST_RESOLV.encode()
    dns = rc.d.status()['dns']
    assert dns == {'mode': 'auto', 'way': 'resolv.conf', 'uplink': 'lte', 'servers': [PUBLIC_DNS]}, dns
    assert 'dns: lte carries traffic: resolving through 198.51.100.53' in rc.d.log()


def check_rc_failback_restores_the_bytes(lab, rc):
    lab.primary_link(True)
    rc.d.wait_active('primary', timeout=HOLD + 20)
    rc.assert_original()
    assert rc.resolves() == BOX_NAME_ADDR


def check_rc_sigkill_then_failback_restores(lab, rc):
    rc.kill_while_swapped()
    time.sleep(0.5)
    assert rc.swapped(), 'nobody should have touched resolv.conf while the daemon was dead'
    rc.d.start()
    # The kernel still routes through lte: the daemon keeps it there, then fails back.
    assert rc.d.prop('ActiveUplink') == 'lte'
    rc.d.wait_active('primary', timeout=HOLD + 20)
    rc.assert_original()


def check_rc_crash_and_reboot_restores_at_start(lab, rc):
    rc.kill_while_swapped()
    drop_failover_rule(lab)
    assert rc.swapped()
    rc.d.start()
    assert rc.d.prop('ActiveUplink') == 'primary'
    # Repaired by the start itself, not by a failback.
    rc.assert_original()
    assert 'still carries the resolvers of lte' in rc.d.log()
    assert rc.resolves() == BOX_NAME_ADDR


def check_rc_clean_stop_restores(lab, rc):
    lab.primary_link(False)
    try:
        rc.d.wait_active('lte', timeout=10)
        wait_until(rc.swapped, 5, 'the swapped resolv.conf')
        assert rc.d.stop() == 0
        assert rc.text() == HOST_RESOLV.encode(), rc.text()
    finally:
        lab.primary_link(True)


def resolv_conf_way():
    with pflab.Lab(host_resolv_conf=HOST_RESOLV) as lab:
        lab.nm_wait_activated('lte', timeout=30)
        # NetworkManager learns the backup's resolver from its profile.
        lab.nmcli('connection', 'modify', pflab.LTE_CONNECTION, 'ipv4.dns', PUBLIC_DNS)
        lab.nmcli('connection', 'up', pflab.LTE_CONNECTION)
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        d = Daemon(lab, lab_config(failback_hold=f'{HOLD:.0f}s'))
        d.start()
        rc = pftest.run([
            check_rc_primary_resolves_through_the_box,
            check_rc_failover_keeps_resolution,
            check_rc_failback_restores_the_bytes,
            check_rc_sigkill_then_failback_restores,
            check_rc_crash_and_reboot_restores_at_start,
            check_rc_clean_stop_restores,
        ], lab, ResolvConf(lab, d))
        if rc:
            print('# --- daemon log (tail) ---')
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
        d.stop()
    return rc


# -------------------------------------------------------------------- the NetworkManager way

class NmDns:
    def __init__(self, lab, d):
        self.lab = lab
        self.d = d
        self.before = None

    def swapped(self):
        return f'nameserver {PUBLIC_DNS}' in self.lab.nm_resolv_conf()

    def resolves(self, name='box.example'):
        return self.lab.nm_getent_hosts(name)

    def set_before(self, value):
        self.lab.nm_set_global_dns(value)
        self.before = self.lab.nm_global_dns()

    def fail_over(self, label):
        got = fail_over_and_measure(self.lab, self.d, self.swapped, self.resolves,
                                    f'NetworkManager way, {label}')
        assert got == pflab.HTTP_ADDR, got
        dns = self.d.status()['dns']
        assert dns == {'mode': 'auto', 'way': 'networkmanager', 'uplink': 'lte',
                       'servers': [PUBLIC_DNS]}, dns

    def fail_back(self):
        self.lab.primary_link(True)
        self.d.wait_active('primary', timeout=HOLD + 20)
        wait_until(lambda: self.lab.nm_global_dns() == self.before, 5, 'the previous global DNS')
        assert not self.swapped(), self.lab.nm_resolv_conf()
        assert not os.path.exists(os.path.join(self.d.state_dir, 'dns.json'))


def check_nm_primary_resolves_through_the_box(lab, nm):
    nm.d.wait_health('primary', 'up', timeout=20)
    assert nm.resolves() == BOX_NAME_ADDR, (nm.resolves(), lab.nm_resolv_conf())
    assert nm.d.status()['dns']['way'] is None


def check_nm_failover_and_back_restore_the_admin_global_dns(lab, nm):
    nm.fail_over('previous global DNS set')
    value = lab.nm_global_dns()
    # Only the default domain's servers changed.
    assert f"'servers': <['{PUBLIC_DNS}']>" in value and "'searches': <['lab.example']>" in value, value
    assert "'options': <['timeout:1', 'attempts:1']>" in value, value
    text = lab.nm_resolv_conf()
    assert 'search lab.example' in text and pflab.BOX_LAN_ADDR not in text, text
    nm.fail_back()
    assert lab.nm_global_dns() == nm.before
    assert nm.resolves() == BOX_NAME_ADDR


def check_nm_empty_global_dns_comes_back_empty(lab, nm):
    nm.set_before('@a{sv} {}')
    assert nm.before == '(<@a{sv} {}>,)', nm.before
    nm.fail_over('no previous global DNS')
    assert PUBLIC_DNS in lab.nm_global_dns()
    nm.fail_back()
    assert lab.nm_global_dns() == '(<@a{sv} {}>,)'
    with open(os.path.join(lab.workdir, 'nm', 'NetworkManager-intern.conf')) as f:
        assert 'global-dns' not in f.read()


def check_nm_sigkill_then_restart_restores(lab, nm):
    nm.set_before(ADMIN_GLOBAL_DNS)
    nm.fail_over('before SIGKILL')
    nm.d.kill()
    # NetworkManager keeps (and persists) what the daemon set.
    with open(os.path.join(lab.workdir, 'nm', 'NetworkManager-intern.conf')) as f:
        assert PUBLIC_DNS in f.read()
    lab.primary_link(True)
    drop_failover_rule(lab)
    nm.d.start()
    assert nm.d.prop('ActiveUplink') == 'primary'
    wait_until(lambda: lab.nm_global_dns() == nm.before, 5, 'the previous global DNS after the restart')
    assert nm.resolves() == BOX_NAME_ADDR


def networkmanager_way():
    with pflab.Lab(nm_dns=True) as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        d = Daemon(lab, lab_config(failback_hold=f'{HOLD:.0f}s', extra_backup=f'dns={PUBLIC_DNS}'))
        nm = NmDns(lab, d)
        nm.set_before(ADMIN_GLOBAL_DNS)
        d.start()
        rc = pftest.run([
            check_nm_primary_resolves_through_the_box,
            check_nm_failover_and_back_restore_the_admin_global_dns,
            check_nm_empty_global_dns_comes_back_empty,
            check_nm_sigkill_then_restart_restores,
        ], lab, nm)
        if rc:
            print('# --- daemon log (tail) ---')
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
            print('# --- status ---\n# ' + json.dumps(d.status().get('dns')))
        d.stop()
    return rc


def main():
    pftest.require_root()
    rc = resolv_conf_way()
    return networkmanager_way() or rc


if __name__ == '__main__':
    sys.exit(main())
