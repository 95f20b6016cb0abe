#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""org.pvefailover on a private system bus: reading is open to everyone, every change
goes through polkit (dbusmock's polkitd template) and is refused by default, errors
are org.pvefailover.Error.*, and a bad configuration changes nothing."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))
import pflab  # noqa: E402
import pftest  # noqa: E402
from gi.repository import GLib  # noqa: E402
from pfdaemon import ALL_ACTIONS, DAEMON, Daemon, lab_config  # noqa: E402


def dbus_error(func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except GLib.Error as e:
        from gi.repository import Gio
        name = Gio.DBusError.get_remote_error(e)
        Gio.DBusError.strip_remote_error(e)
        return name, e.message
    raise AssertionError('the call succeeded')


def busctl_as_nobody(lab, *args):
    return lab.run('host', 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                   'busctl', f'--address={lab.bus_address}', '--json=short', *args, check=False)


def check_properties_readable_by_anyone(lab, d, polkit):
    polkit.set_allowed([])
    r = busctl_as_nobody(lab, 'get-property', 'org.pvefailover', '/org/pvefailover',
                         'org.pvefailover.Manager1', 'ActiveUplink')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['data'] == 'primary', r.stdout
    r = busctl_as_nobody(lab, 'get-property', 'org.pvefailover', '/org/pvefailover/uplink/lte',
                         'org.pvefailover.Uplink1', 'Interface')
    assert json.loads(r.stdout)['data'] == pflab.HOST_BACKUP_IF, r.stdout
    r = busctl_as_nobody(lab, 'call', 'org.pvefailover', '/org/pvefailover',
                         'org.pvefailover.Manager1', 'GetStatus')
    assert r.returncode == 0, r.stderr
    status = json.loads(json.loads(r.stdout)['data'][0])
    assert status['active_uplink'] == 'primary'
    assert [u['name'] for u in status['uplinks']] == ['primary', 'lte']
    for key in ('version', 'state', 'mode', 'forced_uplink', 'last_change', 'last_reason', 'events'):
        assert key in status, key
    for key in ('role', 'priority', 'interface', 'health', 'loss', 'rtt_ms', 'active', 'standby', 'carrier'):
        assert key in status['uplinks'][0], key
    paths = d.prop('Uplinks')
    assert paths == ['/org/pvefailover/uplink/primary', '/org/pvefailover/uplink/lte'], paths
    assert d.uplink_prop('lte', 'Standby') == 'hot'
    assert d.uplink_prop('primary', 'Role') == 'primary'
    assert d.uplink_prop('primary', 'Targets') == ['icmp:' + t for t in pflab.TARGETS]


def check_set_mode_denied_changes_nothing(lab, d, polkit):
    polkit.set_allowed([])
    name, msg = dbus_error(d.call, 'SetMode', '(ss)', 'force', 'lte')
    assert name == 'org.pvefailover.Error.NotAuthorized', (name, msg)
    assert d.prop('Mode') == 'auto' and d.prop('ActiveUplink') == 'primary'
    name, _ = dbus_error(d.call, 'Reload')
    assert name == 'org.pvefailover.Error.NotAuthorized'
    name, _ = dbus_error(d.call, 'TestUplink', '(s)', 'lte')
    assert name == 'org.pvefailover.Error.NotAuthorized'
    used = d.uplink_prop('lte', 'UsageBytes')
    name, _ = dbus_error(d.call, 'SetUsage', '(st)', 'lte', 123456789)
    assert name == 'org.pvefailover.Error.NotAuthorized'
    name, _ = dbus_error(d.call, 'ResetUsage', '(s)', 'lte')
    assert name == 'org.pvefailover.Error.NotAuthorized'
    assert d.uplink_prop('lte', 'UsageBytes') < 123456789 and d.uplink_prop('lte', 'UsageBytes') >= used
    name, _ = dbus_error(d.call, 'NotifyTest')
    assert name == 'org.pvefailover.Error.NotAuthorized'


def check_usage_readable_and_corrected_when_allowed(lab, d, polkit):
    polkit.set_allowed([])
    r = busctl_as_nobody(lab, 'call', 'org.pvefailover', '/org/pvefailover',
                         'org.pvefailover.Manager1', 'GetUsage', 's', 'lte')
    assert r.returncode == 0, r.stderr
    usage = json.loads(json.loads(r.stdout)['data'][0])
    for key in ('plan', 'cycle_start', 'cycle_end', 'used', 'monitoring', 'percent', 'projected',
                'capped', 'cap_action', 'thresholds', 'reported', 'days', 'history'):
        assert key in usage, key
    assert usage['percent'] is None and usage['plan'] == 0, usage
    import math
    assert math.isnan(d.uplink_prop('lte', 'UsagePercent'))
    assert dbus_error(d.call, 'GetUsage', '(s)', 'primary')[0] == 'org.pvefailover.Error.NotFound'
    polkit.set_allowed(['org.pvefailover.usage'])
    d.call('SetUsage', '(st)', 'lte', 5_000_000)
    assert d.uplink_prop('lte', 'UsageBytes') == 5_000_000
    assert json.loads(d.call('GetUsage', '(s)', 'lte')[0])['used'] == 5_000_000
    d.call('ResetUsage', '(s)', 'lte')
    assert d.uplink_prop('lte', 'UsageBytes') < 5_000_000
    assert dbus_error(d.call, 'SetUsage', '(st)', 'nope', 1)[0] == 'org.pvefailover.Error.NotFound'


def check_set_mode_allowed_and_signals(lab, d, polkit):
    polkit.set_allowed(['org.pvefailover.set-mode'])
    mon_log = os.path.join(lab.workdir, 'monitor.log')
    with open(mon_log, 'w') as out:
        mon = subprocess.Popen(['gdbus', 'monitor', '--address', lab.bus_address, '--dest',
                                'org.pvefailover'], stdout=out, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            d.call('SetMode', '(ss)', 'force', 'lte')
            d.wait_active('lte', timeout=5)
            assert d.prop('Mode') == 'force'
            assert d.prop('State') == 'forced'
            assert d.uplink_prop('lte', 'Active') is True
            assert d.uplink_prop('primary', 'Active') is False
            d.call('SetMode', '(ss)', 'auto', '')
            d.wait_active('primary', timeout=5)
            time.sleep(0.5)
        finally:
            mon.terminate()
            mon.wait()
    with open(mon_log) as f:
        text = f.read()
    assert "'Mode': <'force'>" in text, text[-3000:]
    assert "'ActiveUplink': <'lte'>" in text, text[-3000:]
    assert 'org.pvefailover.Manager1.StateChanged' in text, text[-3000:]
    assert 'org.pvefailover.Manager1.Event' in text
    # One state change is one PropertiesChanged on Manager1, not one per property.
    batches = [line for line in text.splitlines()
               if "'ActiveUplink': <'lte'>" in line]
    assert len(batches) == 1, batches
    kinds = [e[1] for e in d.call('GetEvents', '(u)', 0)[0]]
    assert kinds[-4:] == ['mode', 'failover', 'mode', 'failback'], kinds


def check_bad_arguments(lab, d, polkit):
    polkit.set_allowed(ALL_ACTIONS)
    assert dbus_error(d.call, 'SetMode', '(ss)', 'warp', '')[0] == 'org.pvefailover.Error.InvalidArgs'
    assert dbus_error(d.call, 'SetMode', '(ss)', 'force', 'nope')[0] == 'org.pvefailover.Error.NotFound'
    assert dbus_error(d.call, 'SetMode', '(ss)', 'auto', 'lte')[0] == 'org.pvefailover.Error.InvalidArgs'
    assert dbus_error(d.call, 'TestUplink', '(s)', 'nope')[0] == 'org.pvefailover.Error.NotFound'
    assert d.prop('Mode') == 'auto'


def check_test_uplink_through_the_standby_block(lab, d, polkit):
    polkit.set_allowed(['org.pvefailover.test-uplink'])
    ok, summary = d.call('TestUplink', '(s)', 'lte')
    assert ok is True, summary
    assert 'answered' in summary, summary
    lab.backup_dead(True)
    try:
        ok, summary = d.call('TestUplink', '(s)', 'lte')
        assert ok is False, summary
    finally:
        lab.backup_dead(False)


def check_reload_refuses_a_bad_file_and_accepts_a_good_one(lab, d, polkit):
    polkit.set_allowed(ALL_ACTIONS)
    good = lab_config()
    table_before = d.nft_table()
    d.write_config(good.replace('standby=hot', 'standby=warm'))
    name, msg = dbus_error(d.call, 'Reload')
    assert name == 'org.pvefailover.Error.InvalidConfig', (name, msg)
    assert d.config_path in msg and 'standby' in msg and 'warm' in msg, msg
    line = [i for i, t in enumerate(good.splitlines(), 1) if t.startswith('standby=')][0]
    assert f':{line}:' in msg, msg
    assert d.nft_table() == table_before
    assert d.prop('Uplinks') == ['/org/pvefailover/uplink/primary', '/org/pvefailover/uplink/lte']

    d.write_config(good.replace('[uplink lte]', '[uplink lte-2]'))
    d.call('Reload')
    d.wait_for(lambda: '/org/pvefailover/uplink/lte_2' in d.prop('Uplinks'), 5, what='reloaded uplinks')
    assert d.uplink_prop('lte-2', 'Name') == 'lte-2'
    assert [e[1] for e in d.call('GetEvents', '(u)', 1)[0]] == ['reload']
    d.write_config(good)
    d.call('Reload')
    d.wait_for(lambda: '/org/pvefailover/uplink/lte' in d.prop('Uplinks'), 5, what='reloaded uplinks')


def check_bad_config_at_start_touches_nothing(lab, d, polkit):
    bad = os.path.join(lab.workdir, 'bad.conf')
    with open(bad, 'w') as f:
        f.write('[uplink primary]\nrole=primary\ninterface=vmbr0\ntargets=icmp:198.51.100.10\n'
                'colour=blue\n')
    # A separate namespace without any of our state, to see that nothing is created.
    ns = lab.prefix + '-empty'
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        r = subprocess.run(['ip', 'netns', 'exec', ns, DAEMON, '--config', bad],
                           capture_output=True, text=True, timeout=10,
                           env=lab.host_env({'STATE_DIRECTORY': os.path.join(lab.workdir, 'bad-state')}))
        assert r.returncode != 0
        assert f'{bad}:5:' in r.stderr and 'colour' in r.stderr, r.stderr
        nft = subprocess.run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'],
                             capture_output=True, text=True)
        assert nft.stdout.strip() == '', nft.stdout
        rules = subprocess.run(['ip', 'netns', 'exec', ns, 'ip', 'rule'], capture_output=True, text=True)
        assert '10000' not in rules.stdout
        r = subprocess.run([DAEMON, '--config', bad, '--check-config'], capture_output=True, text=True)
        assert r.returncode != 0 and 'colour' in r.stderr
    finally:
        subprocess.run(['ip', 'netns', 'del', ns])


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        d = Daemon(lab, lab_config())
        d.start()
        d.wait_health('lte', 'up', timeout=20)
        d.wait_health('primary', 'up', timeout=20)
        rc = pftest.run([
            check_properties_readable_by_anyone,
            check_set_mode_denied_changes_nothing,
            check_set_mode_allowed_and_signals,
            check_usage_readable_and_corrected_when_allowed,
            check_bad_arguments,
            check_test_uplink_through_the_standby_block,
            check_reload_refuses_a_bad_file_and_accepts_a_good_one,
            check_bad_config_at_start_touches_nothing,
        ], lab, d, polkit)
        if rc:
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
