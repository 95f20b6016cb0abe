#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A ModemManager modem as a cold-standby backup, through the real NetworkManager: the
backup is only a NetworkManager gsm profile (no interface=, no management=). In standby
the daemon reads the modem's telemetry without a bearer, its standby test connects and
disconnects the bearer (Simple.Connect / Simple.Disconnect) and then nothing flows on
wwan0; on failover the daemon activates the profile and routes the guests through wwan0;
after failback the bearer is disconnected again.

Then two cold backups in priority order, the modem first and the Ethernet stick second:
when the modem's network refuses the bearer at failover, the daemon says why in an event
and fails over to the stick instead."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from fake_mm import FakeMM  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon  # noqa: E402

HOLD = 5.0
MOCK_IFACE = 'org.freedesktop.DBus.Mock'

MODEM = {
    'Manufacturer': 'Quectel', 'Model': 'EC25',
    'EquipmentIdentifier': '867000000000002',
    'Sim': {'OperatorName': 'Free', 'SimIdentifier': '8933150000000000088', 'Imsi': '208150000000088'},
    'Lte': {'rsrp': -97.0, 'rsrq': -10.0, 'rssi': -67.0, 'snr': 11.0},
    'Connect': {'interface': pflab.WWAN_IF, 'address': pflab.WWAN_HOST_ADDR, 'prefix': 30,
                'gateway': pflab.WWAN_MODEM_ADDR, 'dns': [pflab.DNS_ADDR]},
}


def config():
    targets = ';'.join('icmp:' + t for t in pflab.TARGETS)
    return f"""# pvefailover lab configuration: a ModemManager modem as a cold backup
[daemon]
on-stop=restore

[uplink primary]
role=primary
interface={pflab.HOST_PRIMARY_IF}
targets={targets}
failback-hold={HOLD:.0f}s

[uplink lte]
role=backup
connection={pflab.MM_CONNECTION}
standby=cold
standby-test-interval=30min

[guests]
allow={pflab.GUEST_OK}
"""


class Ctx:
    def __init__(self, lab, d, mm, modem):
        self.lab, self.d, self.mm, self.modem = lab, d, mm, modem

    def calls(self, method):
        """Timestamps of the modem's Simple.<method> calls, from dbusmock's call log."""
        return [c[0] for c in self.mm.call('GetMethodCalls', 's', method, iface=MOCK_IFACE, path=self.modem)]

    def bearer_connected(self):
        bearers = self.mm.call('Get', 'ss', 'org.freedesktop.ModemManager1.Modem', 'Bearers',
                               iface='org.freedesktop.DBus.Properties', path=self.modem)
        return any(self.mm.call('Get', 'ss', 'org.freedesktop.ModemManager1.Bearer', 'Connected',
                                iface='org.freedesktop.DBus.Properties', path=b) for b in bearers)

    def mm_inactive(self):
        return self.lab.nm_connection_state(pflab.MM_CONNECTION) in ('', 'deactivated')


def check_standby_telemetry_and_first_test(c):
    lab, d = c.lab, c.d
    # The first standby test starts about a second after the daemon: the modem may already be
    # 'connected' (the test's bearer); 'registered' (no bearer) is checked once the test is over.
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemPresent') and
               d.uplink_prop('lte', 'ModemState') in ('registered', 'connected'), 20,
               what='ModemManager telemetry')
    d.wait_health('primary', 'up', timeout=20)
    assert d.uplink_prop('lte', 'Modem') == 'modemmanager', d.uplink_prop('lte', 'Modem')
    assert d.uplink_prop('lte', 'Standby') == 'cold'
    d.wait_for(lambda: d.uplink_prop('lte', 'LastStandbyTestResult') != '', 60, what='the first standby test')
    result = d.uplink_prop('lte', 'LastStandbyTestResult')
    assert result.startswith('passed'), (result, d.uplink_prop('lte', 'HealthReason'))
    d.wait_health('lte', 'up', timeout=10)
    # The test went through NM: Simple.Connect, then Simple.Disconnect.
    d.wait_for(lambda: c.calls('Disconnect'), 15, what='Simple.Disconnect after the standby test')
    connects, disconnects = c.calls('Connect'), c.calls('Disconnect')
    assert len(connects) == 1 and connects[0] <= disconnects[-1], (connects, disconnects)
    print(f'# standby test: Simple.Connect x{len(connects)}, then Simple.Disconnect x{len(disconnects)}', flush=True)
    print(f'# standby test: {result}, {d.uplink_prop("lte", "StandbyTestBytes")} bytes, '
          f'{d.uplink_prop("lte", "LastStandbyTestDuration") / 1e6:.3f} s with bring-up', flush=True)
    d.wait_for(c.mm_inactive, 15, what=f'{pflab.MM_CONNECTION} deactivated')
    d.wait_for(lambda: not c.bearer_connected(), 5, what='no bearer connected')
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemState') == 'registered', 10,
               what='ModemState registered (no bearer)')
    assert d.uplink_prop('lte', 'ModemPresent')
    time.sleep(1)
    before = lab.iface_bytes('host', pflab.WWAN_IF)
    time.sleep(5)
    spent = lab.iface_bytes('host', pflab.WWAN_IF) - before
    assert spent == 0, f'{spent} bytes on {pflab.WWAN_IF} in cold standby'
    assert d.uplink_prop('lte', 'Health') == 'up', d.uplink_prop('lte', 'HealthReason')
    # Not connected: no data interface ('' as documented, or the control port cdc-wdm0).
    assert d.uplink_prop('lte', 'Interface') in ('', pflab.MM_PORT), d.uplink_prop('lte', 'Interface')


def check_failover_connects_the_bearer(c):
    lab, d = c.lab, c.d
    n_connect = len(c.calls('Connect'))
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(True)
        first = s.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=40)
        assert first is not None, 'never reached inet through the modem\n' + d.log()[-4000:]
        print(f'# cold modem: blackhole -> via backup {first.recv - t0:.2f} s (bring-up included)', flush=True)
        assert len(c.calls('Connect')) == n_connect + 1, c.calls('Connect')
        assert lab.nm_connection_state(pflab.MM_CONNECTION) == 'activated'
        assert d.prop('ActiveUplink') == 'lte', d.prop('ActiveUplink')
        assert d.uplink_prop('lte', 'Interface') == pflab.WWAN_IF, d.uplink_prop('lte', 'Interface')
        assert d.uplink_prop('lte', 'ModemState') == 'connected', d.uplink_prop('lte', 'ModemState')
        time.sleep(1)
        assert s.count_via(pflab.SRC_PRIMARY, after=first.recv) == 0


def check_failback_disconnects_the_bearer(c):
    lab, d = c.lab, c.d
    n_disconnect = len(c.calls('Disconnect'))
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(False)
        d.wait_active('primary', timeout=HOLD + 20)
        back = s.wait_arrival_via(pflab.SRC_PRIMARY, after=t0, timeout=5)
        assert back is not None, 'guest not back on the primary'
        print(f'# failback: blackhole off -> via primary {back.recv - t0:.2f} s (hold {HOLD:.0f} s)', flush=True)
        assert back.recv - t0 >= HOLD - 0.5, f'failback after {back.recv - t0:.2f} s, before the hold'
    d.wait_for(c.mm_inactive, 15, what=f'{pflab.MM_CONNECTION} deactivated after failback')
    d.wait_for(lambda: len(c.calls('Disconnect')) > n_disconnect, 10, what='Simple.Disconnect after failback')
    d.wait_for(lambda: not c.bearer_connected(), 5, what='no bearer connected')
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemState') == 'registered', 10, what='modem registered again')


def two_backups_config():
    """The modem first (the default priority, 100), the Ethernet stick second (200), both cold."""
    return config() + f"""
[uplink stick]
role=backup
priority=200
interface={pflab.HOST_BACKUP_IF}
connection={pflab.LTE_CONNECTION}
management={pflab.MODEM_MGMT}
standby=cold
standby-test-interval=30min
"""


def check_both_cold_backups_proven(c):
    d = c.d
    d.wait_health('primary', 'up', timeout=20)
    for name in ('lte', 'stick'):
        d.wait_for(lambda: d.uplink_prop(name, 'LastStandbyTestResult').startswith('passed'), 60,
                   what=f'the first standby test of {name}')
    d.wait_for(lambda: c.mm_inactive() and
               c.lab.nm_connection_state(pflab.LTE_CONNECTION) in ('', 'deactivated'), 15,
               what='both backups down again')
    assert d.prop('ActiveUplink') == 'primary'


def check_refused_bearer_fails_over_to_the_next_backup(c):
    lab, d = c.lab, c.d
    c.mm.set_connect_error('org.freedesktop.ModemManager1.Error.MobileEquipment.GprsServiceOptionNotSubscribed',
                           'Service option not subscribed')
    since = len(d.call('GetEvents', '(u)', 0)[0])
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
        t0 = time.monotonic()
        lab.blackhole(True)
        first = s.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=60)
        assert first is not None, 'never reached inet through a backup\n' + d.log()[-4000:]
        print(f'# modem refused, stick: blackhole -> via backup {first.recv - t0:.2f} s', flush=True)
        d.wait_active('stick', timeout=5)
        assert lab.nm_connection_state(pflab.LTE_CONNECTION) == 'activated'
        assert c.mm_inactive(), lab.nm_connection_state(pflab.MM_CONNECTION)
        events = d.call('GetEvents', '(u)', 0)[0][since:]
        for e in events:
            print(f'#   event {e[1]} {e[2]} -> {e[3]}: {e[4]}', flush=True)
        refused = [e for e in events if e[1] == 'error' and e[3] == 'lte']
        assert refused, events
        # NetworkManager's words for it, not bare reason numbers
        assert pflab.MM_CONNECTION in refused[0][4] and 'reason' not in refused[0][4], refused[0]
        switched = [e for e in events if e[1] == 'failover' and e[3] == 'stick']
        assert switched and switched[0][0] >= refused[0][0], events
        assert not [e for e in events if e[1] == 'failover' and e[3] == 'lte'], events
    c.mm.set_connect_error()
    lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 30)
    d.wait_for(lambda: lab.nm_connection_state(pflab.LTE_CONNECTION) in ('', 'deactivated'), 15,
               what='the stick deactivated after failback')


def wait_nm_modem_device(lab, timeout=20):
    deadline = time.monotonic() + timeout
    state = ''
    while time.monotonic() < deadline:
        state = lab.nm_device_state(pflab.MM_PORT)
        if state == 'disconnected':
            return
        time.sleep(0.2)
    raise pflab.LabError(f'NM device {pflab.MM_PORT} is {state!r}, not disconnected')


def main():
    pftest.require_root()
    with pflab.Lab(wwan=True, lte_autoconnect=False) as lab:
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        mm = FakeMM(lab.bus_address, os.path.join(lab.workdir, 'fake-mm.log'), modems=[MODEM]).start()
        try:
            modem = mm.list_modems()[0]
            wait_nm_modem_device(lab)
            d = Daemon(lab, config(), name='modem-cold')
            d.start()
            rc = pftest.run([
                check_standby_telemetry_and_first_test,
                check_failover_connects_the_bearer,
                check_failback_disconnects_the_bearer,
            ], Ctx(lab, d, mm, modem))
            if rc:
                for line in d.log().splitlines()[-80:]:
                    print('# ' + line)
            d.stop()
            d2 = Daemon(lab, two_backups_config(), name='modem-cold-two-backups')
            d2.start()
            rc2 = pftest.run([
                check_both_cold_backups_proven,
                check_refused_bearer_fails_over_to_the_next_backup,
            ], Ctx(lab, d2, mm, modem))
            if rc2:
                for line in d2.log().splitlines()[-80:]:
                    print('# ' + line)
            d2.stop()
        finally:
            mm.kill()
    return rc or rc2


if __name__ == '__main__':
    sys.exit(main())
