# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake ModemManager 1.20 for tests: a python3-dbusmock template, plus a small client.

The D-Bus side follows ModemManager 1.20's introspection data exactly (names and
types of /usr/share/dbus-1/interfaces/org.freedesktop.ModemManager1*.xml), so that
libmm-glib and mmcli read it as the real thing:

  org.freedesktop.ModemManager1 at /org/freedesktop/ModemManager1 (Version), with
    org.freedesktop.DBus.ObjectManager listing the modems only (as ModemManager does);
  /org/freedesktop/ModemManager1/Modem/N: .Modem, .Modem.Modem3gpp, .Modem.Signal and
    .Modem.Simple (with an empty property dict: libmm-glib ignores it otherwise);
  /org/freedesktop/ModemManager1/SIM/N: .Sim (not in the object manager);
  /org/freedesktop/ModemManager1/Bearer/N: .Bearer with Stats a{sv} (not in the object manager).

Like ModemManager, a fresh process numbers modems, SIMs and bearers from 0, extended
signal values (Signal.Lte/Nr5g) are published only while Signal.Rate > 0 (after
Signal.Setup(rate)), and the rate is forgotten when the process restarts. The fake
changes state by itself only on Simple.Connect/Disconnect (refused unless the modem was
given 'Connect' options; the telemetry never calls them): tests drive it. PropertiesChanged and StateChanged are emitted by the fake itself.
NetworkManager 1.42's WWAN plugin accepts the fake: it makes a "gsm" device named after
PrimaryPort (cdc-wdm0) whose udi is the modem's path (managed only when the NM
configuration says so), and activating a gsm profile on it calls Simple.Connect.

Run it (the bus is taken from DBUS_SYSTEM_BUS_ADDRESS):

  /usr/bin/python3 -m dbusmock --system --template tests/lab/fake_mm.py \\
      [-l LOG] [-p '{"modems": [{"EquipmentIdentifier": "…", …}]}']

Control interface org.pvefailover.FakeMM on /org/freedesktop/ModemManager1. MODEM is an
object path, or '' for the first modem:

  AddModem(a{sv} options) -> o       options: any of MODEM_DEFAULTS' keys (types are
                                     coerced by name, so JSON or loose D-Bus ints do);
                                     'Sim': a{sv} of SIM properties, or {} for no SIM;
                                     'Bearer': a{sv} of bearer options ({} = no bearer);
                                     'Lte'/'Nr5g': measured values (a{sv} of d)
                                     'Connect': {'interface': 'wwan0', 'address': '10.64.0.2',
                                       'prefix': 30, 'gateway': '10.64.0.1', 'dns': ['…']}
                                       makes Simple.Connect succeed (else it is refused):
                                       the first bearer (made if needed) connects on that
                                       interface with that static IPv4 configuration and
                                       the modem goes 'connected'; Simple.Disconnect undoes it
  RemoveModem(s MODEM)               unplug: InterfacesRemoved, SIM and bearers go too
  ListModems() -> ao
  SetModemProperties(s MODEM, a{sv}) any Modem/Modem3gpp property by name
  SetState(s MODEM, i state, u failed_reason)   also emits Modem.StateChanged
  SetSignalQuality(s MODEM, u percent)
  SetAccessTechnologies(s MODEM, u mask)
  SetRegistration(s MODEM, u state, s operator_code, s operator_name)
  SetUnlockRequired(s MODEM, u lock)
  SetLte(s MODEM, a{sv} values) / SetNr5g(s MODEM, a{sv} values)
                                     measured values; published while Rate > 0
  SetSim(s MODEM, a{sv} sim)         a new SIM object with these properties; {} = no SIM
  AddBearer(s MODEM, a{sv} options) -> o   options: Interface, Connected, RxBytes, TxBytes
  RemoveBearer(s MODEM, o bearer)
  SetBearerStats(s MODEM, t rx, t tx)  on the first bearer (made when there is none)
  GetSignalSetupRates(s MODEM) -> au   every Signal.Setup(rate) received, in order
  SetConnectError(s MODEM, s name, s message)
                                     Simple.Connect fails with that D-Bus error (as a real
                                     modem whose network rejects the APN: name
                                     org.freedesktop.ModemManager1.Error.MobileEquipment.*);
                                     '' = connect again as the 'Connect' options say

Every object also has dbusmock's org.freedesktop.DBus.Mock interface (GetMethodCalls…).

From Python tests, FakeMM (below) starts and stops the process and wraps the control
interface: FakeMM(bus_address, log_path, modems=[{…}]).start(); fake.set_state(…);
fake.kill(); fake.start() (a ModemManager restart).
"""

import json
import os
import signal
import subprocess
import time

import dbus
import dbus.service

BUS_NAME = 'org.freedesktop.ModemManager1'
MAIN_OBJ = '/org/freedesktop/ModemManager1'
MAIN_IFACE = 'org.freedesktop.ModemManager1'
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

CONTROL_IFACE = 'org.pvefailover.FakeMM'
OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties'
MODEM_IFACE = 'org.freedesktop.ModemManager1.Modem'
MODEM_3GPP_IFACE = 'org.freedesktop.ModemManager1.Modem.Modem3gpp'
SIGNAL_IFACE = 'org.freedesktop.ModemManager1.Modem.Signal'
SIMPLE_IFACE = 'org.freedesktop.ModemManager1.Modem.Simple'
SIM_IFACE = 'org.freedesktop.ModemManager1.Sim'
BEARER_IFACE = 'org.freedesktop.ModemManager1.Bearer'
MODEM_PREFIX = MAIN_OBJ + '/Modem/'

# ModemManager's enums (ModemManager-enums.h), for tests.
STATE_FAILED, STATE_UNKNOWN, STATE_INITIALIZING, STATE_LOCKED, STATE_DISABLED = -1, 0, 1, 2, 3
STATE_DISABLING, STATE_ENABLING, STATE_ENABLED, STATE_SEARCHING, STATE_REGISTERED = 4, 5, 6, 7, 8
STATE_DISCONNECTING, STATE_CONNECTING, STATE_CONNECTED = 9, 10, 11
FAILED_NONE, FAILED_UNKNOWN, FAILED_SIM_MISSING, FAILED_SIM_ERROR = 0, 1, 2, 3
LOCK_UNKNOWN, LOCK_NONE, LOCK_SIM_PIN, LOCK_SIM_PIN2, LOCK_SIM_PUK = 0, 1, 2, 3, 4
REG_IDLE, REG_HOME, REG_SEARCHING, REG_DENIED, REG_UNKNOWN, REG_ROAMING = 0, 1, 2, 3, 4, 5
ACCESS_UMTS, ACCESS_LTE, ACCESS_5GNR = 1 << 5, 1 << 14, 1 << 15
PORT_NET, PORT_AT, PORT_QMI, PORT_MBIM = 2, 3, 6, 7
CAP_GSM_UMTS, CAP_LTE = 4, 8
MODE_2G, MODE_3G, MODE_4G = 2, 4, 8

# --------------------------------------------------------------------- types


def _u(v):
    return dbus.UInt32(int(v))


def _i(v):
    return dbus.Int32(int(v))


def _t(v):
    return dbus.UInt64(int(v))


def _d(v):
    return dbus.Double(float(v))


def _b(v):
    return dbus.Boolean(bool(v))


def _s(v):
    return dbus.String(str(v))


def _o(v):
    return dbus.ObjectPath(str(v))


def _as(v):
    return dbus.Array([str(x) for x in v], signature='s')


def _ao(v):
    return dbus.Array([dbus.ObjectPath(x) for x in v], signature='o')


def _au(v):
    return dbus.Array([dbus.UInt32(x) for x in v], signature='u')


def _ay(v):
    return dbus.ByteArray(bytes(v))


def _asu(v):
    return dbus.Array([dbus.Struct((str(a), dbus.UInt32(b)), signature='su') for a, b in v],
                      signature='(su)')


def _auu(v):
    return dbus.Array([dbus.Struct((dbus.UInt32(a), dbus.UInt32(b)), signature='uu') for a, b in v],
                      signature='(uu)')


def _uu(v):
    return dbus.Struct((dbus.UInt32(v[0]), dbus.UInt32(v[1])), signature='uu')


def _ub(v):
    return dbus.Struct((dbus.UInt32(v[0]), dbus.Boolean(v[1])), signature='ub')


def _ss(v):
    return dbus.Struct((str(v[0]), str(v[1])), signature='ss')


def _a_uu(v):
    return dbus.Dictionary({dbus.UInt32(k): dbus.UInt32(x) for k, x in dict(v).items()}, signature='uu')


def _a_sv_d(v):
    """A signal dictionary: every value a double."""
    return dbus.Dictionary({str(k): dbus.Double(float(x)) for k, x in dict(v).items()}, signature='sv')


def _a_sv(v):
    return dbus.Dictionary(dict(v), signature='sv')


def _aubay(v):
    return dbus.Array([], signature='(ubay)')


# Every property with its 1.20 type and the fake's default.
MODEM_PROPS = {
    'Sim': (_o, '/'),
    'SimSlots': (_ao, []),
    'PrimarySimSlot': (_u, 0),
    'Bearers': (_ao, []),
    'SupportedCapabilities': (_au, [CAP_GSM_UMTS | CAP_LTE]),
    'CurrentCapabilities': (_u, CAP_GSM_UMTS | CAP_LTE),
    'MaxBearers': (_u, 1),
    'MaxActiveBearers': (_u, 1),
    'MaxActiveMultiplexedBearers': (_u, 0),
    'Manufacturer': (_s, 'Quectel'),
    'Model': (_s, 'EC25'),
    'Revision': (_s, 'EC25EFAR06A11M4G'),
    'CarrierConfiguration': (_s, ''),
    'CarrierConfigurationRevision': (_s, ''),
    'HardwareRevision': (_s, '10000'),
    'DeviceIdentifier': (_s, '8f5b1a0c2d3e4f5061728394a5b6c7d8e9f00112'),
    'Device': (_s, '/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2'),
    'Drivers': (_as, ['qmi_wwan', 'option']),
    'Plugin': (_s, 'quectel'),
    'PrimaryPort': (_s, 'cdc-wdm0'),
    'Ports': (_asu, [('cdc-wdm0', PORT_QMI), ('ttyUSB2', PORT_AT), ('wwan0', PORT_NET)]),
    'EquipmentIdentifier': (_s, '866834040000001'),
    'UnlockRequired': (_u, LOCK_NONE),
    'UnlockRetries': (_a_uu, {LOCK_SIM_PIN: 3, LOCK_SIM_PUK: 10}),
    'State': (_i, STATE_REGISTERED),
    'StateFailedReason': (_u, FAILED_NONE),
    'AccessTechnologies': (_u, ACCESS_LTE),
    'SignalQuality': (_ub, (70, True)),
    'OwnNumbers': (_as, []),
    'PowerState': (_u, 3),
    'SupportedModes': (_auu, [(MODE_2G | MODE_3G | MODE_4G, MODE_4G)]),
    'CurrentModes': (_uu, (MODE_2G | MODE_3G | MODE_4G, MODE_4G)),
    'SupportedBands': (_au, [31, 33, 37, 38, 68, 70]),
    'CurrentBands': (_au, [31, 33, 37, 38, 68, 70]),
    'SupportedIpFamilies': (_u, 7),
}

MODEM_3GPP_PROPS = {
    'Imei': (_s, None),  # the EquipmentIdentifier
    'RegistrationState': (_u, REG_HOME),
    'OperatorCode': (_s, '20801'),
    'OperatorName': (_s, 'Orange F'),
    'EnabledFacilityLocks': (_u, 0),
    'SubscriptionState': (_u, 0),
    'EpsUeModeOperation': (_u, 0),
    'Pco': (_aubay, []),
    'InitialEpsBearer': (_o, '/'),
    'InitialEpsBearerSettings': (_a_sv, {}),
    'PacketServiceState': (_u, 0),
    'Nr5gRegistrationSettings': (_a_sv, {}),
}

SIGNAL_PROPS = {
    'Rate': (_u, 0),
    'RssiThreshold': (_u, 0),
    'ErrorRateThreshold': (_b, False),
    'Cdma': (_a_sv_d, {}),
    'Evdo': (_a_sv_d, {}),
    'Gsm': (_a_sv_d, {}),
    'Umts': (_a_sv_d, {}),
    'Lte': (_a_sv_d, {}),
    'Nr5g': (_a_sv_d, {}),
}

SIM_PROPS = {
    'Active': (_b, True),
    'SimIdentifier': (_s, '89330123456789012345'),
    'Imsi': (_s, '208011234567890'),
    'Eid': (_s, ''),
    'OperatorIdentifier': (_s, '20801'),
    'OperatorName': (_s, 'Orange'),
    'EmergencyNumbers': (_as, ['112']),
    'PreferredNetworks': (_asu, []),
    'Gid1': (_ay, b''),
    'Gid2': (_ay, b''),
    'SimType': (_u, 1),
    'EsimStatus': (_u, 0),
    'Removability': (_u, 1),
}

BEARER_PROPS = {
    'Interface': (_s, 'wwan0'),
    'Connected': (_b, True),
    'ConnectionError': (_ss, ('', '')),
    'Suspended': (_b, False),
    'Multiplexed': (_b, False),
    'Ip4Config': (_a_sv, {'method': dbus.UInt32(3)}),  # dhcp on Interface
    'Ip6Config': (_a_sv, {'method': dbus.UInt32(0)}),
    'Stats': (_a_sv, {}),
    'ReloadStatsSupported': (_b, True),
    'IpTimeout': (_u, 20),
    'BearerType': (_u, 1),
    'ProfileId': (_i, -1),
    'Properties': (_a_sv, {}),
}

# Measured extended signal (published while Signal.Rate > 0).
DEFAULT_LTE = {'rssi': -65.0, 'rsrq': -9.0, 'rsrp': -95.0, 'snr': 12.5}


def _props(table, overrides):
    out = {}
    for name, (conv, default) in table.items():
        value = overrides.get(name, default)
        if value is not None:
            out[name] = conv(value)
    return out


def _stats(rx, tx, duration=0):
    """Bearer Stats with the exact 1.20 types."""
    return dbus.Dictionary({
        'rx-bytes': dbus.UInt64(rx), 'tx-bytes': dbus.UInt64(tx),
        'duration': dbus.UInt32(duration), 'start-date': dbus.UInt64(int(time.time()) - duration),
        'attempts': dbus.UInt32(1), 'failed-attempts': dbus.UInt32(0),
        'total-rx-bytes': dbus.UInt64(rx), 'total-tx-bytes': dbus.UInt64(tx),
        'total-duration': dbus.UInt32(duration),
        'uplink-speed': dbus.UInt64(0), 'downlink-speed': dbus.UInt64(0),
    }, signature='sv')


# --------------------------------------------------------------------- the template

def _objects():
    import dbusmock.mockobject  # pylint: disable=import-outside-toplevel
    return dbusmock.mockobject.objects


def _emit_changed(obj, iface, changes):
    obj.EmitSignal(PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                   [iface, dbus.Dictionary(changes, signature='sv'), dbus.Array([], signature='s')])


def _set(obj, iface, changes):
    obj.props[iface].update(changes)
    _emit_changed(obj, iface, changes)


def _modem(self, path):
    modems = sorted((p for p in _objects() if p.startswith(MODEM_PREFIX)),
                    key=lambda p: int(p.rsplit('/', 1)[1]))
    if not path:
        if not modems:
            raise dbus.exceptions.DBusException('no modem', name='org.pvefailover.FakeMM.NoModem')
        path = modems[0]
    if path not in modems:
        raise dbus.exceptions.DBusException(f'no modem {path}', name='org.pvefailover.FakeMM.NoModem')
    return _objects()[path]


def _publish_signal(modem):
    rate = int(modem.props[SIGNAL_IFACE]['Rate'])
    _set(modem, SIGNAL_IFACE, {
        'Lte': _a_sv_d(modem.fake_lte if rate > 0 else {}),
        'Nr5g': _a_sv_d(modem.fake_nr5g if rate > 0 else {}),
    })


def _signal_setup(modem, rate):
    modem.fake_setup_rates.append(int(rate))
    _set(modem, SIGNAL_IFACE, {'Rate': _u(rate)})
    _publish_signal(modem)


def _simple_connect(modem, properties):
    """Simple.Connect: refused unless the modem was given 'Connect' options; then the
    first bearer (made if needed) is connected on DataInterface with a static IPv4
    configuration, as a QMI/MBIM modem reports it, and the modem is 'connected'."""
    if modem.fake_connect_error:
        raise dbus.exceptions.DBusException(modem.fake_connect_error[1], name=modem.fake_connect_error[0])
    if not modem.fake_connect:
        raise dbus.exceptions.DBusException('the fake modem does not connect',
                                            name='org.freedesktop.ModemManager1.Error.Core.Unsupported')
    main = _objects()[MAIN_OBJ]
    bearers = modem.props[MODEM_IFACE]['Bearers']
    path = str(bearers[0]) if bearers else _new_bearer(main, modem, {'Connected': False})
    c = modem.fake_connect
    ip4 = {'method': dbus.UInt32(2), 'address': _s(c['address']), 'prefix': _u(c.get('prefix', 24)),
           'gateway': _s(c['gateway']), 'mtu': _u(c.get('mtu', 1500))}
    for i, dns in enumerate(c.get('dns', []), 1):
        ip4[f'dns{i}'] = _s(dns)
    _set(_objects()[path], BEARER_IFACE, {
        'Interface': _s(c.get('interface', 'wwan0')), 'Connected': _b(True),
        'Ip4Config': _a_sv(ip4), 'Properties': _a_sv({'apn': _s(properties.get('apn', ''))}),
    })
    _set_state(modem, STATE_CONNECTED, FAILED_NONE)
    return _o(path)


def _simple_disconnect(modem, bearer):
    for path in modem.props[MODEM_IFACE]['Bearers']:
        if str(bearer) in ('/', str(path)):
            _set(_objects()[str(path)], BEARER_IFACE, {
                'Connected': _b(False), 'Ip4Config': _a_sv({'method': dbus.UInt32(0)}),
            })
    if int(modem.props[MODEM_IFACE]['State']) == STATE_CONNECTED:
        _set_state(modem, STATE_REGISTERED, FAILED_NONE)


def _set_state(modem, state, reason):
    old = int(modem.props[MODEM_IFACE]['State'])
    _set(modem, MODEM_IFACE, {'State': _i(state), 'StateFailedReason': _u(reason)})
    modem.EmitSignal(MODEM_IFACE, 'StateChanged', 'iiu', [_i(old), _i(state), _u(0)])


def _list_bearers(modem):
    return modem.props[MODEM_IFACE]['Bearers']


def _managed_objects(main):
    return dbus.Dictionary({dbus.ObjectPath(p): o.props for p, o in _objects().items()
                            if p.startswith(MODEM_PREFIX)}, signature='oa{sa{sv}}')


def _new_sim(self, sim):
    path = f'{MAIN_OBJ}/SIM/{self.fake_next["sim"]}'
    self.fake_next['sim'] += 1
    self.AddObject(path, SIM_IFACE, _props(SIM_PROPS, sim), [])
    _objects()[path].AddMethods(SIM_IFACE, [
        ('SendPin', 's', '', ''), ('SendPuk', 'ss', '', ''),
        ('EnablePin', 'sb', '', ''), ('ChangePin', 'ss', '', ''),
        ('SetPreferredNetworks', 'a(su)', '', ''),
    ])
    return path


def _remove_object(self, path):
    if path and path != '/' and path in _objects():
        self.RemoveObject(path)


def _new_bearer(self, modem, options):
    path = f'{MAIN_OBJ}/Bearer/{self.fake_next["bearer"]}'
    self.fake_next['bearer'] += 1
    props = _props(BEARER_PROPS, options)
    props['Stats'] = _stats(options.get('RxBytes', 0), options.get('TxBytes', 0))
    self.AddObject(path, BEARER_IFACE, props, [('Connect', '', '', ''), ('Disconnect', '', '', '')])
    bearers = list(modem.props[MODEM_IFACE]['Bearers']) + [path]
    _set(modem, MODEM_IFACE, {'Bearers': _ao(bearers)})
    return path


def load(mock, parameters):
    mock.fake_next = {'modem': 0, 'sim': 0, 'bearer': 0}
    mock.props[MAIN_IFACE] = {'Version': dbus.String('1.20.4')}
    mock.AddMethods(MAIN_IFACE, [
        ('ScanDevices', '', '', ''),
        ('SetLogging', 's', '', ''),
        ('ReportKernelEvent', 'a{sv}', '', ''),
        ('InhibitDevice', 'sb', '', ''),
    ])
    # Only modems are in ModemManager's object manager.
    mock.AddMethod(OBJECT_MANAGER_IFACE, 'GetManagedObjects', '', 'a{oa{sa{sv}}}', _managed_objects)
    # Present from the start: in GetManagedObjects, no InterfacesAdded (a client
    # that got both would see the modem twice).
    mock.fake_loading = True
    for options in (parameters or {}).get('modems', []):
        AddModem(mock, options)
    mock.fake_loading = False


@dbus.service.method(CONTROL_IFACE, in_signature='a{sv}', out_signature='o')
def AddModem(self, options):
    options = dict(options)
    path = f'{MODEM_PREFIX}{self.fake_next["modem"]}'
    self.fake_next['modem'] += 1

    sim = options.pop('Sim', None)
    bearer = options.pop('Bearer', {})
    lte = options.pop('Lte', DEFAULT_LTE)
    nr5g = options.pop('Nr5g', {})
    connect = options.pop('Connect', {})
    modem_props = _props(MODEM_PROPS, options)
    if options.get('State') == STATE_LOCKED and 'UnlockRequired' not in options:
        modem_props['UnlockRequired'] = _u(LOCK_SIM_PIN)
    gpp_props = _props(MODEM_3GPP_PROPS, options)
    gpp_props['Imei'] = modem_props['EquipmentIdentifier']

    self.AddObject(path, MODEM_IFACE, modem_props, [])
    modem = _objects()[path]
    modem.fake_lte = dict(lte)
    modem.fake_nr5g = dict(nr5g)
    modem.fake_setup_rates = []
    modem.fake_connect = dict(connect) if connect else None
    modem.fake_connect_error = None
    modem.props[MODEM_3GPP_IFACE] = gpp_props
    modem.props[SIGNAL_IFACE] = _props(SIGNAL_PROPS, {})
    modem.props[SIMPLE_IFACE] = dbus.Dictionary({}, signature='sv')
    modem.AddMethods(MODEM_IFACE, [
        ('Enable', 'b', '', ''),
        ('ListBearers', '', 'ao', _list_bearers),
        ('CreateBearer', 'a{sv}', 'o', _simple_connect),
        ('DeleteBearer', 'o', '', ''),
        ('Reset', '', '', ''),
        ('SetPowerState', 'u', '', ''),
    ])
    modem.AddMethods(MODEM_3GPP_IFACE, [('Register', 's', '', ''), ('Scan', '', 'aa{sv}', 'ret = []')])
    modem.AddMethods(SIGNAL_IFACE, [('Setup', 'u', '', _signal_setup), ('SetupThresholds', 'a{sv}', '', '')])
    modem.AddMethods(SIMPLE_IFACE, [
        ('Connect', 'a{sv}', 'o', _simple_connect),
        ('Disconnect', 'o', '', _simple_disconnect),
        ('GetStatus', '', 'a{sv}', 'ret = {}'),
    ])

    if sim is None or sim:
        modem.props[MODEM_IFACE]['Sim'] = _o(_new_sim(self, dict(sim or {})))
    elif 'StateFailedReason' not in options and 'State' not in options:
        modem.props[MODEM_IFACE]['State'] = _i(STATE_FAILED)
        modem.props[MODEM_IFACE]['StateFailedReason'] = _u(FAILED_SIM_MISSING)
    if bearer:
        _new_bearer(self, modem, dict(bearer))

    if not getattr(self, 'fake_loading', False):
        self.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                        [dbus.ObjectPath(path), modem.props])
    return dbus.ObjectPath(path)


@dbus.service.method(CONTROL_IFACE, in_signature='s', out_signature='')
def RemoveModem(self, path):
    modem = _modem(self, path)
    path = modem.path
    ifaces = [i for i in modem.props if i.startswith(MAIN_IFACE)]
    _remove_object(self, str(modem.props[MODEM_IFACE]['Sim']))
    for bearer in modem.props[MODEM_IFACE]['Bearers']:
        _remove_object(self, str(bearer))
    self.RemoveObject(path)
    self.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesRemoved', 'oas',
                    [dbus.ObjectPath(path), dbus.Array(ifaces, signature='s')])


@dbus.service.method(CONTROL_IFACE, in_signature='', out_signature='ao')
def ListModems(self):
    return _ao(sorted((p for p in _objects() if p.startswith(MODEM_PREFIX)),
                      key=lambda p: int(p.rsplit('/', 1)[1])))


@dbus.service.method(CONTROL_IFACE, in_signature='sa{sv}', out_signature='')
def SetModemProperties(self, path, props):
    modem = _modem(self, path)
    for iface, table in ((MODEM_IFACE, MODEM_PROPS), (MODEM_3GPP_IFACE, MODEM_3GPP_PROPS)):
        changes = {k: table[k][0](v) for k, v in props.items() if k in table}
        if changes:
            _set(modem, iface, changes)
    unknown = [k for k in props if k not in MODEM_PROPS and k not in MODEM_3GPP_PROPS]
    if unknown:
        raise dbus.exceptions.DBusException(f'unknown properties {unknown}',
                                            name='org.freedesktop.DBus.Error.InvalidArgs')


@dbus.service.method(CONTROL_IFACE, in_signature='siu', out_signature='')
def SetState(self, path, state, reason):
    _set_state(_modem(self, path), state, reason)


@dbus.service.method(CONTROL_IFACE, in_signature='su', out_signature='')
def SetSignalQuality(self, path, quality):
    _set(_modem(self, path), MODEM_IFACE, {'SignalQuality': _ub((quality, True))})


@dbus.service.method(CONTROL_IFACE, in_signature='su', out_signature='')
def SetAccessTechnologies(self, path, mask):
    _set(_modem(self, path), MODEM_IFACE, {'AccessTechnologies': _u(mask)})


@dbus.service.method(CONTROL_IFACE, in_signature='suss', out_signature='')
def SetRegistration(self, path, state, code, name):
    _set(_modem(self, path), MODEM_3GPP_IFACE,
         {'RegistrationState': _u(state), 'OperatorCode': _s(code), 'OperatorName': _s(name)})


@dbus.service.method(CONTROL_IFACE, in_signature='su', out_signature='')
def SetUnlockRequired(self, path, lock):
    _set(_modem(self, path), MODEM_IFACE, {'UnlockRequired': _u(lock)})


@dbus.service.method(CONTROL_IFACE, in_signature='sa{sv}', out_signature='')
def SetLte(self, path, values):
    modem = _modem(self, path)
    modem.fake_lte = {str(k): float(v) for k, v in values.items()}
    _publish_signal(modem)


@dbus.service.method(CONTROL_IFACE, in_signature='sa{sv}', out_signature='')
def SetNr5g(self, path, values):
    modem = _modem(self, path)
    modem.fake_nr5g = {str(k): float(v) for k, v in values.items()}
    _publish_signal(modem)


@dbus.service.method(CONTROL_IFACE, in_signature='sa{sv}', out_signature='')
def SetSim(self, path, sim):
    modem = _modem(self, path)
    old = str(modem.props[MODEM_IFACE]['Sim'])
    new = _new_sim(self, dict(sim)) if sim else '/'
    _set(modem, MODEM_IFACE, {'Sim': _o(new)})
    _remove_object(self, old)


@dbus.service.method(CONTROL_IFACE, in_signature='sa{sv}', out_signature='o')
def AddBearer(self, path, options):
    return _o(_new_bearer(self, _modem(self, path), dict(options)))


@dbus.service.method(CONTROL_IFACE, in_signature='so', out_signature='')
def RemoveBearer(self, path, bearer):
    modem = _modem(self, path)
    bearers = [str(b) for b in modem.props[MODEM_IFACE]['Bearers'] if str(b) != str(bearer)]
    _set(modem, MODEM_IFACE, {'Bearers': _ao(bearers)})
    _remove_object(self, str(bearer))


@dbus.service.method(CONTROL_IFACE, in_signature='stt', out_signature='')
def SetBearerStats(self, path, rx, tx):
    modem = _modem(self, path)
    bearers = modem.props[MODEM_IFACE]['Bearers']
    if not bearers:
        _new_bearer(self, modem, {'RxBytes': rx, 'TxBytes': tx})
        return
    _set(_objects()[str(bearers[0])], BEARER_IFACE, {'Stats': _stats(rx, tx, 60)})


@dbus.service.method(CONTROL_IFACE, in_signature='s', out_signature='au')
def GetSignalSetupRates(self, path):
    return _au(_modem(self, path).fake_setup_rates)


@dbus.service.method(CONTROL_IFACE, in_signature='sss', out_signature='')
def SetConnectError(self, path, name, message):
    _modem(self, path).fake_connect_error = (str(name), str(message)) if name else None


# --------------------------------------------------------------------- client for tests

class FakeMM:
    """Runs the fake as its own process on a bus and drives it; for Python tests.

    modems: AddModem options for the modems present at start (each start, so that
    kill() + start() looks like a ModemManager restart with the modem still plugged)."""

    def __init__(self, bus_address, log_path, modems=None, python='/usr/bin/python3'):
        self.bus_address = bus_address
        self.log_path = log_path
        self.modems = modems if modems is not None else [{}]
        self.python = python
        self.proc = None
        self._conn = None

    def _bus(self):
        from gi.repository import Gio  # pylint: disable=import-outside-toplevel
        if self._conn is None or self._conn.is_closed():
            self._conn = Gio.DBusConnection.new_for_address_sync(
                self.bus_address,
                Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
                None, None)
        return self._conn

    def has_owner(self):
        from gi.repository import GLib  # pylint: disable=import-outside-toplevel
        r = self._bus().call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                  'NameHasOwner', GLib.Variant('(s)', (BUS_NAME,)), None, 0, 5000, None)
        return r.unpack()[0]

    def start(self, modems=None, timeout=10):
        if modems is not None:
            self.modems = modems
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address)
        log = open(self.log_path, 'ab')  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [self.python, '-m', 'dbusmock', '--system', '--template', os.path.abspath(__file__),
             '-p', json.dumps({'modems': self.modems})],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'fake ModemManager exited with {self.proc.returncode}, see {self.log_path}')
            if self.has_owner():
                return self
            time.sleep(0.05)
        raise RuntimeError('fake ModemManager did not appear on the bus')

    def kill(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    stop = kill

    def call(self, method, signature, *args, iface=CONTROL_IFACE, path=MAIN_OBJ):
        from gi.repository import GLib  # pylint: disable=import-outside-toplevel
        params = GLib.Variant(f'({signature})', args) if signature else None
        r = self._bus().call_sync(BUS_NAME, path, iface, method, params, None, 0, 10000, None)
        out = r.unpack() if r is not None else ()
        return out[0] if len(out) == 1 else out

    @staticmethod
    def _vardict(d):
        from gi.repository import GLib  # pylint: disable=import-outside-toplevel

        def var(v):
            if isinstance(v, GLib.Variant):
                return v
            if isinstance(v, bool):
                return GLib.Variant('b', v)
            if isinstance(v, int):
                return GLib.Variant('x', v)
            if isinstance(v, float):
                return GLib.Variant('d', v)
            if isinstance(v, str):
                return GLib.Variant('s', v)
            if isinstance(v, dict):
                return GLib.Variant('a{sv}', {k: var(x) for k, x in v.items()})
            if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
                return GLib.Variant('as', list(v))
            raise TypeError(f'cannot send {v!r}')
        return {k: var(v) for k, v in d.items()}

    # The control interface, '' = the first modem.
    def add_modem(self, **options):
        return self.call('AddModem', 'a{sv}', self._vardict(options))

    def remove_modem(self, modem=''):
        self.call('RemoveModem', 's', modem)

    def list_modems(self):
        return self.call('ListModems', '')

    def set_modem_properties(self, modem='', **props):
        self.call('SetModemProperties', 'sa{sv}', modem, self._vardict(props))

    def set_state(self, state, reason=FAILED_NONE, modem=''):
        self.call('SetState', 'siu', modem, state, reason)

    def set_signal_quality(self, quality, modem=''):
        self.call('SetSignalQuality', 'su', modem, quality)

    def set_access_technologies(self, mask, modem=''):
        self.call('SetAccessTechnologies', 'su', modem, mask)

    def set_registration(self, state, code='', name='', modem=''):
        self.call('SetRegistration', 'suss', modem, state, code, name)

    def set_unlock_required(self, lock, modem=''):
        self.call('SetUnlockRequired', 'su', modem, lock)

    def set_lte(self, modem='', **values):
        self.call('SetLte', 'sa{sv}', modem, self._vardict({k: float(v) for k, v in values.items()}))

    def set_nr5g(self, modem='', **values):
        self.call('SetNr5g', 'sa{sv}', modem, self._vardict({k: float(v) for k, v in values.items()}))

    def set_sim(self, sim, modem=''):
        self.call('SetSim', 'sa{sv}', modem, self._vardict(sim or {}))

    def add_bearer(self, modem='', **options):
        return self.call('AddBearer', 'sa{sv}', modem, self._vardict(options))

    def remove_bearer(self, bearer, modem=''):
        self.call('RemoveBearer', 'so', modem, bearer)

    def set_bearer_stats(self, rx, tx, modem=''):
        self.call('SetBearerStats', 'stt', modem, rx, tx)

    def signal_setup_rates(self, modem=''):
        return list(self.call('GetSignalSetupRates', 's', modem))

    def set_connect_error(self, name='', message='', modem=''):
        self.call('SetConnectError', 'sss', modem, name, message)
