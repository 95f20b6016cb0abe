#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Modems in the lab: telemetry of a HiLink stick (a fake stick API on the modem's
management address) and of a ModemManager modem (a fake ModemManager on the lab's bus),
read by the real daemon; a backup whose modem is broken is refused with an alert, a dead
modem fails its standby test, and the standby test costs one ICMP exchange."""

import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_hilink  # noqa: E402
import pflab  # noqa: E402
import pftest  # noqa: E402
from fake_mm import (FakeMM, LOCK_NONE, LOCK_SIM_PIN, REG_HOME, REG_SEARCHING,  # noqa: E402
                     STATE_LOCKED, STATE_REGISTERED)
from gi.repository import Gio, GLib  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ICCID = '8933010000000000042'


def events_since(d, n):
    return d.call('GetEvents', '(u)', 0)[0][n:]


def n_events(d):
    return len(d.call('GetEvents', '(u)', 0)[0])


def wait_event(d, since, kind, uplink, contains, timeout):
    def found():
        return any(e[1] == kind and uplink in (e[2], e[3]) and contains in e[4]
                   for e in events_since(d, since))
    d.wait_for(found, timeout, what=f'{kind} event about {uplink} with "{contains}"')


def dbus_error_name(func, *args):
    try:
        func(*args)
    except GLib.Error as e:
        return Gio.DBusError.get_remote_error(e)
    raise AssertionError('the call succeeded')


# ---- HiLink ------------------------------------------------------------------------

def check_hilink_telemetry_on_dbus(lab, d, ctl, polkit):
    d.wait_health('lte', 'up', timeout=30)
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemPresent') and d.uplink_prop('lte', 'Rsrp') == -95, 30,
               what='HiLink telemetry')
    assert d.uplink_prop('lte', 'Modem') == 'hilink'
    assert d.uplink_prop('lte', 'AccessTechnology') == 'lte'
    assert d.uplink_prop('lte', 'OperatorName') == 'Orange F'
    assert d.uplink_prop('lte', 'OperatorCode') == '20801'
    assert d.uplink_prop('lte', 'SimState') == 'ok'
    assert d.uplink_prop('lte', 'ModemHealth') == 'ok', d.uplink_prop('lte', 'ModemHealth')
    assert d.uplink_prop('lte', 'SignalQuality') == 80
    assert d.uplink_prop('primary', 'Modem') == ''
    status = d.status()
    modem = [u for u in status['uplinks'] if u['name'] == 'lte'][0]['modem']
    assert modem['rsrp'] == -95 and modem['source'] == 'hilink', modem
    # Personal data stays out of properties, status and the journal.
    assert ICCID not in json.dumps(status)
    assert ICCID not in d.log()
    polkit.set_allowed([])
    assert dbus_error_name(d.call, 'GetModemIdentity', '(s)', 'lte') == 'org.pvefailover.Error.NotAuthorized'
    polkit.set_allowed(ALL_ACTIONS)
    iccid, imsi = d.call('GetModemIdentity', '(s)', 'lte')
    assert iccid == ICCID and imsi == '208010000000042', (iccid, imsi)
    assert dbus_error_name(d.call, 'GetModemIdentity', '(s)', 'primary') == 'org.pvefailover.Error.NotFound'
    r = d.client('modem', 'lte')
    assert r.returncode == 0 and '-95' in r.stdout, r.stdout + r.stderr


def check_standby_test_costs_one_exchange(lab, d, ctl, polkit):
    d.wait_for(lambda: d.uplink_prop('lte', 'LastStandbyTest') > 0, 90, what='a standby test')
    assert d.uplink_prop('lte', 'StandbyTestBytes') == 72, d.uplink_prop('lte', 'StandbyTestBytes')
    duration = d.uplink_prop('lte', 'LastStandbyTestDuration')
    assert 0 < duration < 2_000_000, duration
    print(f'# standby test: 72 bytes, {duration / 1000:.1f} ms', flush=True)


def check_sim_missing_refuses_the_backup(lab, d, ctl, polkit):
    n = n_events(d)
    fake_hilink.write_control(ctl, sim='missing')
    d.wait_health('lte', 'down', timeout=30)
    assert d.uplink_prop('lte', 'HealthReason') == 'modem: SIM missing', d.uplink_prop('lte', 'HealthReason')
    wait_event(d, n, 'alert', 'lte', 'SIM missing', 5)
    # The primary dies: nothing to fail over to, and the event says why.
    lab.blackhole(True)
    try:
        wait_event(d, n, 'error', 'primary', 'lte: modem: SIM missing', 15)
        assert d.prop('ActiveUplink') == 'primary'
    finally:
        lab.blackhole(False)
    fake_hilink.write_control(ctl, sim='ok')
    wait_event(d, n, 'alert-cleared', 'lte', 'SIM missing', 30)
    d.wait_health('lte', 'up', timeout=10)
    d.wait_health('primary', 'up', timeout=20)


def check_dead_modem_fails_its_standby_test(lab, d, ctl, polkit):
    n = n_events(d)
    lab.backup_dead(True)
    try:
        wait_event(d, n, 'alert', 'lte', 'standby test failed', 90)
        assert d.uplink_prop('lte', 'Health') == 'down'
        assert d.uplink_prop('lte', 'LastStandbyTestResult').startswith('failed')
        lab.blackhole(True)
        try:
            wait_event(d, n, 'error', 'primary', 'standby test failed', 15)
            assert d.prop('ActiveUplink') == 'primary'
        finally:
            lab.blackhole(False)
    finally:
        lab.backup_dead(False)
    wait_event(d, n, 'alert-cleared', 'lte', 'standby test passed', 90)
    d.wait_health('lte', 'up', timeout=5)


def run_hilink():
    with pflab.Lab() as lab:
        # The stick's API on its management address; the fake re-reads its
        # control file on every request.
        ctl = os.path.join(lab.workdir, 'hilink.json')
        fake_hilink.write_control(ctl)
        lab.spawn('modem', '/usr/bin/python3', os.path.join(HERE, 'fake_hilink.py'), '--address',
                  pflab.MODEM_MGMT, '--port', '80', '--control', ctl)
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        polkit.set_allowed(ALL_ACTIONS)
        d = Daemon(lab, lab_config(standby_test_interval='1min', extra_backup='modem-poll-interval=10s\n'))
        d.start()
        rc = pftest.run([
            check_hilink_telemetry_on_dbus,
            check_standby_test_costs_one_exchange,
            check_sim_missing_refuses_the_backup,
            check_dead_modem_fails_its_standby_test,
        ], lab, d, ctl, polkit)
        if rc:
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
        d.stop()
    return rc


# ---- ModemManager --------------------------------------------------------------------

MM_MODEM = {
    'Manufacturer': 'Quectel', 'Model': 'EC25',
    'EquipmentIdentifier': '867000000000001',
    'Sim': {'OperatorName': 'Free', 'SimIdentifier': '8933150000000000077', 'Imsi': '208150000000077'},
    'Lte': {'rsrp': -101.0, 'rsrq': -11.0, 'rssi': -71.0, 'snr': 9.0},
}


def check_mm_telemetry(lab, d, mm):
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemPresent') and d.uplink_prop('lte', 'ModemState') == 'registered',
               20, what='ModemManager telemetry')
    assert d.uplink_prop('lte', 'Modem') == 'modemmanager'
    d.wait_for(lambda: d.uplink_prop('lte', 'Rsrp') == -101, 20, what='extended signal')
    assert d.uplink_prop('lte', 'Sinr') == 9
    assert d.uplink_prop('lte', 'SimOperator') == 'Free'
    assert d.uplink_prop('lte', 'ModemModel').startswith('Quectel'), d.uplink_prop('lte', 'ModemModel')
    assert d.uplink_prop('lte', 'ModemHealth') == 'ok'
    assert mm.signal_setup_rates(), 'Signal.Setup was never called'
    mm.set_lte(rsrp=-108, rsrq=-13, rssi=-77, snr=4)
    d.wait_for(lambda: d.uplink_prop('lte', 'Rsrp') == -108, 60, what='signal change')
    assert '8933150000000000077' not in json.dumps(d.status()) and '8933150000000000077' not in d.log()


def check_mm_unplug_and_replug(lab, d, mm):
    n = n_events(d)
    mm.remove_modem()
    d.wait_health('lte', 'down', timeout=10)
    assert 'modem gone' in d.uplink_prop('lte', 'HealthReason'), d.uplink_prop('lte', 'HealthReason')
    wait_event(d, n, 'alert', 'lte', 'modem gone', 5)
    mm.add_modem(**MM_MODEM)
    d.wait_health('lte', 'up', timeout=20)
    wait_event(d, n, 'alert-cleared', 'lte', 'modem gone', 5)


def check_mm_restart(lab, d, mm):
    n = n_events(d)
    mm.kill()
    d.wait_health('lte', 'down', timeout=10)
    assert 'ModemManager is not running' in d.uplink_prop('lte', 'HealthReason'), d.uplink_prop('lte', 'HealthReason')
    # Unknown levels are NaN on D-Bus and null in GetStatus, never a made-up 0.
    assert math.isnan(d.uplink_prop('lte', 'Rsrp')), d.uplink_prop('lte', 'Rsrp')
    modem = [u for u in d.status()['uplinks'] if u['name'] == 'lte'][0]['modem']
    assert modem['rsrp'] is None and modem['sinr'] is None, modem
    mm.start([MM_MODEM])
    d.wait_health('lte', 'up', timeout=20)
    d.wait_for(lambda: not math.isnan(d.uplink_prop('lte', 'Rsrp')), 20, what='extended signal after restart')
    wait_event(d, n, 'alert-cleared', 'lte', 'modem gone', 5)


def check_mm_pin_lock_and_registration(lab, d, mm):
    mm.set_unlock_required(LOCK_SIM_PIN)
    mm.set_state(STATE_LOCKED)
    d.wait_health('lte', 'down', timeout=10)
    assert d.uplink_prop('lte', 'HealthReason') == 'modem: SIM locked (PIN required)', \
        d.uplink_prop('lte', 'HealthReason')
    mm.set_unlock_required(LOCK_NONE)
    mm.set_state(STATE_REGISTERED)
    d.wait_health('lte', 'up', timeout=10)
    # Searching is tolerated for registration-grace (5 s here), then the backup is refused.
    mm.set_registration(REG_SEARCHING)
    time.sleep(2)
    assert d.uplink_prop('lte', 'Health') == 'up'
    d.wait_health('lte', 'down', timeout=10)
    assert 'not registered (searching)' in d.uplink_prop('lte', 'HealthReason')
    mm.set_registration(REG_HOME, '20815', 'Free')
    d.wait_health('lte', 'up', timeout=10)


def run_mm():
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        mm = FakeMM(lab.bus_address, os.path.join(lab.workdir, 'fake-mm.log'), modems=[MM_MODEM]).start()
        try:
            d = Daemon(lab, lab_config(extra_backup='modem=modemmanager\nsignal-rate=1s\n'
                                                    'registration-grace=5s\n'), name='mm')
            d.start()
            d.wait_health('lte', 'up', timeout=30)
            rc = pftest.run([
                check_mm_telemetry,
                check_mm_unplug_and_replug,
                check_mm_restart,
                check_mm_pin_lock_and_registration,
            ], lab, d, mm)
            if rc:
                for line in d.log().splitlines()[-60:]:
                    print('# ' + line)
            d.stop()
        finally:
            mm.kill()
    return rc


def main():
    pftest.require_root()
    rc = run_mm()
    return run_hilink() or rc


if __name__ == '__main__':
    sys.exit(main())
