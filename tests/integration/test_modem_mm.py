#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ModemManager telemetry source (PfModemMm) against a fake ModemManager 1.20
(tests/lab/fake_mm.py) on a private system bus, through pf-modem-tool: the first
snapshot, state, signal, bearer and registration changes, unplug and replug, a
ModemManager restart, a missing SIM, a PIN-locked SIM, a modem that is not registered;
ICCID and IMSI never shown without --private and never logged.

Usage: test_modem_mm.py [PF_MODEM_TOOL]  (default $PF_MODEM_TOOL, else
$PF_BUILD_DIR/tests/pf-modem-tool)."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))
import fake_mm  # noqa: E402
import pflab  # noqa: E402
import pftest  # noqa: E402
from fake_mm import FakeMM  # noqa: E402

SIGNAL_RATE = 5
ICCID = '89330123456789012345'
IMSI = '208011234567890'
IMEI = '866834040000001'
MODEM = {
    'EquipmentIdentifier': IMEI,
    'Manufacturer': 'Quectel',
    'Model': 'EC25',
    'Sim': {'SimIdentifier': ICCID, 'Imsi': IMSI, 'OperatorName': 'Orange', 'OperatorIdentifier': '20801'},
    'Bearer': {'Interface': 'wwan0', 'RxBytes': 123456, 'TxBytes': 7890},
    'Lte': {'rssi': -65.0, 'rsrq': -9.0, 'rsrp': -95.0, 'snr': 12.5},
}
SIM = MODEM['Sim']
TIMEOUT = 10


def find_tool():
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get('PF_MODEM_TOOL'):
        return os.environ['PF_MODEM_TOOL']
    return os.path.join(os.environ.get('PF_BUILD_DIR', 'build'), 'tests', 'pf-modem-tool')


class Bus:
    """A private dbus-daemon of the system type with a permissive policy."""

    def __init__(self, workdir):
        conf = pflab.write_bus_config(workdir)
        with open(os.path.join(workdir, 'dbus-daemon.log'), 'wb') as log:
            self.proc = subprocess.Popen(['dbus-daemon', f'--config-file={conf}', '--nofork', '--nopidfile',
                                          '--print-address=1'], stdout=subprocess.PIPE, stderr=log, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError('dbus-daemon did not start')

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


class Tool:
    """pf-modem-tool running in the background; its JSON lines are collected."""

    def __init__(self, ctx, *args, name='tool'):
        self.stderr_path = os.path.join(ctx.workdir, name + '.stderr')
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=ctx.bus.address, G_MESSAGES_DEBUG='all',
                   G_DEBUG='fatal-criticals')
        with open(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen([ctx.tool, '--modemmanager', *args], env=env, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait(self, pred, since=0, timeout=TIMEOUT, what='a snapshot'):
        """The first snapshot after line @since for which pred() holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.lines):
                    snap = json.loads(self.lines[i])
                    i += 1
                    if pred(snap):
                        return snap
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    last = self.lines[-1] if self.lines else '(nothing)'
                    raise AssertionError(f'no {what} within {timeout} s; last: {last}')
                self.cond.wait(left)

    def last(self):
        with self.cond:
            return json.loads(self.lines[-1]) if self.lines else None

    def stderr(self):
        with open(self.stderr_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(2)
        return self.proc.returncode


class Context:
    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix='pf-modem-mm-')
        self.tool = find_tool()
        self.bus = Bus(self.workdir)
        self.fake = FakeMM(self.bus.address, os.path.join(self.workdir, 'fake_mm.log'), modems=[MODEM])
        self.fake.start()
        self.main = Tool(self, '--signal-rate', str(SIGNAL_RATE), name='main')

    def close(self, ok):
        self.main.stop()
        self.fake.kill()
        self.bus.stop()
        if ok and not os.environ.get('PF_TEST_KEEP'):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f'# logs kept in {self.workdir}', flush=True)


def restore_modem(ctx):
    """Back to a registered modem with its SIM, as at the start."""
    f = ctx.fake
    since = ctx.main.mark()
    f.set_sim(SIM)
    f.set_unlock_required(fake_mm.LOCK_NONE)
    f.set_registration(fake_mm.REG_HOME, '20801', 'Orange F')
    f.set_state(fake_mm.STATE_REGISTERED)
    return ctx.main.wait(lambda s: s['present'] and s['state'] == 'registered' and s['sim_state'] == 'ok'
                         and s['registration'] == 'home' and s['sim_operator'] == 'Orange',
                         since, what='a restored modem')


# ------------------------------------------------------------------------ checks

def check_initial_snapshot(ctx):
    s = ctx.main.wait(lambda s: s['present'], what='a present modem')
    # The first present snapshot is complete: SIM and bearers included.
    assert s['source'] == 'modemmanager', s
    assert s['model'] == 'Quectel EC25', s
    assert s['state'] == 'registered' and s['failed_reason'] == '', s
    assert s['access_technology'] == 'lte', s
    assert s['signal_quality'] == 70, s
    assert s['registration'] == 'home', s
    assert s['operator_name'] == 'Orange F' and s['operator_code'] == '20801', s
    assert s['sim_operator'] == 'Orange' and s['sim_state'] == 'ok', s
    assert s['rx_bytes'] == 123456 and s['tx_bytes'] == 7890, s
    assert s['error'] == '', s
    assert 'iccid' not in s and 'imsi' not in s, s
    # Extended signal: asked for at the configured rate, then published by the modem.
    s = ctx.main.wait(lambda s: s['rsrp'] is not None, what='extended signal values')
    assert (s['rsrp'], s['rsrq'], s['rssi'], s['sinr']) == (-95.0, -9.0, -65.0, 12.5), s
    assert ctx.fake.signal_setup_rates() == [SIGNAL_RATE]


def check_state_change(ctx):
    since = ctx.main.mark()
    ctx.fake.set_state(fake_mm.STATE_CONNECTED)
    s = ctx.main.wait(lambda s: s['state'] == 'connected', since)
    assert s['present'] and s['error'] == '', s


def check_signal_change(ctx):
    since = ctx.main.mark()
    ctx.fake.set_signal_quality(35)
    ctx.fake.set_lte(rssi=-81, rsrq=-15, rsrp=-112, snr=-1.5)
    s = ctx.main.wait(lambda s: s['signal_quality'] == 35 and s['rsrp'] == -112.0, since)
    assert (s['rsrq'], s['rssi'], s['sinr']) == (-15.0, -81.0, -1.5), s
    # 5G standalone: LTE empty, values from Nr5g, no RSSI there.
    since = ctx.main.mark()
    ctx.fake.set_access_technologies(fake_mm.ACCESS_5GNR)
    ctx.fake.set_lte()
    ctx.fake.set_nr5g(rsrq=-11, rsrp=-100, snr=8)
    s = ctx.main.wait(lambda s: s['access_technology'] == '5gnr' and s['rsrp'] == -100.0, since)
    assert s['rssi'] is None and s['rsrq'] == -11.0 and s['sinr'] == 8.0, s
    since = ctx.main.mark()
    ctx.fake.set_access_technologies(fake_mm.ACCESS_LTE | fake_mm.ACCESS_5GNR)
    ctx.fake.set_nr5g()
    ctx.fake.set_lte(rssi=-65, rsrq=-9, rsrp=-95, snr=12.5)
    s = ctx.main.wait(lambda s: s['rsrp'] == -95.0, since)
    assert s['access_technology'] == '5gnr', s  # NSA: the best one in use
    since = ctx.main.mark()
    ctx.fake.set_access_technologies(fake_mm.ACCESS_LTE)
    ctx.main.wait(lambda s: s['access_technology'] == 'lte', since)


def check_bearer_stats(ctx):
    since = ctx.main.mark()
    ctx.fake.set_bearer_stats(10_000_000_000, 2_500_000)
    s = ctx.main.wait(lambda s: s['rx_bytes'] == 10_000_000_000, since)
    assert s['tx_bytes'] == 2_500_000, s
    # A second bearer appears: both are counted.
    since = ctx.main.mark()
    bearer = ctx.fake.add_bearer(RxBytes=1000, TxBytes=10)
    s = ctx.main.wait(lambda s: s['rx_bytes'] == 10_000_001_000, since)
    assert s['tx_bytes'] == 2_500_010, s
    since = ctx.main.mark()
    ctx.fake.remove_bearer(bearer)
    ctx.main.wait(lambda s: s['rx_bytes'] == 10_000_000_000, since)


def check_registration_loss(ctx):
    since = ctx.main.mark()
    ctx.fake.set_registration(fake_mm.REG_SEARCHING, '', '')
    ctx.fake.set_state(fake_mm.STATE_SEARCHING)
    s = ctx.main.wait(lambda s: s['registration'] == 'searching' and s['state'] == 'searching', since)
    assert s['present'] and s['operator_name'] == '' and s['operator_code'] == '', s
    s = restore_modem(ctx)
    assert s['operator_name'] == 'Orange F', s


def check_not_registered(ctx):
    since = ctx.main.mark()
    ctx.fake.set_registration(fake_mm.REG_IDLE, '', '')
    ctx.fake.set_state(fake_mm.STATE_ENABLED)
    s = ctx.main.wait(lambda s: s['registration'] == 'idle' and s['state'] == 'enabled', since)
    assert s['present'] and s['sim_state'] == 'ok', s
    since = ctx.main.mark()
    ctx.fake.set_registration(fake_mm.REG_DENIED, '', '')
    ctx.main.wait(lambda s: s['registration'] == 'denied', since)
    since = ctx.main.mark()
    ctx.fake.set_registration(fake_mm.REG_ROAMING, '22210', 'TIM')
    ctx.fake.set_state(fake_mm.STATE_REGISTERED)
    s = ctx.main.wait(lambda s: s['registration'] == 'roaming', since)
    assert s['operator_name'] == 'TIM' and s['operator_code'] == '22210', s
    restore_modem(ctx)


def check_missing_sim(ctx):
    since = ctx.main.mark()
    ctx.fake.set_sim({})
    ctx.fake.set_registration(fake_mm.REG_UNKNOWN, '', '')
    ctx.fake.set_state(fake_mm.STATE_FAILED, fake_mm.FAILED_SIM_MISSING)
    s = ctx.main.wait(lambda s: s['state'] == 'failed', since)
    assert s['present'], s
    assert s['failed_reason'] == 'sim-missing' and s['sim_state'] == 'missing', s
    assert s['sim_operator'] == '' and s['error'] == 'SIM missing', s
    assert s['signal_quality'] == -1, s
    restore_modem(ctx)


def check_sim_error(ctx):
    since = ctx.main.mark()
    ctx.fake.set_state(fake_mm.STATE_FAILED, fake_mm.FAILED_SIM_ERROR)
    s = ctx.main.wait(lambda s: s['state'] == 'failed', since)
    assert s['failed_reason'] == 'sim-error' and s['sim_state'] == 'error' and s['error'] == 'SIM error', s
    restore_modem(ctx)


def check_pin_locked(ctx):
    since = ctx.main.mark()
    ctx.fake.set_unlock_required(fake_mm.LOCK_SIM_PIN)
    ctx.fake.set_registration(fake_mm.REG_UNKNOWN, '', '')
    ctx.fake.set_state(fake_mm.STATE_LOCKED)
    s = ctx.main.wait(lambda s: s['state'] == 'locked', since)
    assert s['present'] and s['sim_state'] == 'locked', s
    assert s['error'] == 'SIM locked: sim-pin required', s
    assert s['signal_quality'] == -1 and s['registration'] == 'unknown', s
    restore_modem(ctx)


def check_unplug_and_replug(ctx):
    since = ctx.main.mark()
    ctx.fake.remove_modem()
    s = ctx.main.wait(lambda s: not s['present'], since, what='the modem gone')
    assert s['error'] == 'modem unplugged', s
    assert s['state'] == '' and s['rsrp'] is None and s['signal_quality'] == -1, s
    # Plugged back: a new path, the same modem (equipment identifier).
    since = ctx.main.mark()
    path = ctx.fake.add_modem(**MODEM)
    assert path == '/org/freedesktop/ModemManager1/Modem/1', path
    s = ctx.main.wait(lambda s: s['present'] and s['rsrp'] is not None, since, what='the modem back')
    assert s['state'] == 'registered' and s['error'] == '' and s['sim_operator'] == 'Orange', s
    assert ctx.fake.signal_setup_rates(path) == [SIGNAL_RATE]
    # Flapping faster than the calls about it complete.
    since = ctx.main.mark()
    for _ in range(5):
        ctx.fake.remove_modem()
        path = ctx.fake.add_modem(**MODEM)
    s = ctx.main.wait(lambda s: s['present'] and s['rsrp'] is not None and s['rx_bytes'] == 123456, since,
                      what='the modem back after flapping')
    assert s['sim_operator'] == 'Orange' and s['sim_state'] == 'ok', s
    assert ctx.fake.list_modems() == [path]
    assert ctx.fake.signal_setup_rates(path) == [SIGNAL_RATE]


def check_modemmanager_restart(ctx):
    since = start = ctx.main.mark()
    ctx.fake.kill()
    s = ctx.main.wait(lambda s: not s['present'], since, what='ModemManager gone')
    assert s['error'] == 'ModemManager is not running', s
    # Nothing else said while it is away (no "unplugged" on the way).
    time.sleep(0.5)
    assert ctx.main.last()['error'] == 'ModemManager is not running', ctx.main.last()
    since = ctx.main.mark()
    ctx.fake.start()
    s = ctx.main.wait(lambda s: s['present'] and s['rsrp'] is not None, since, what='ModemManager back')
    assert s['state'] == 'registered' and s['error'] == '', s
    # The rate is forgotten on restart: asked again.
    assert ctx.fake.signal_setup_rates() == [SIGNAL_RATE]
    with ctx.main.cond:
        errors = {json.loads(line)['error'] for line in ctx.main.lines[start:]}
    assert 'modem unplugged' not in errors, errors


def check_started_before_modemmanager(ctx):
    since = ctx.main.mark()
    ctx.fake.kill()
    late = Tool(ctx, '/org/freedesktop/ModemManager1/Modem/0', name='late')
    try:
        s = late.wait(lambda s: True, what='a first snapshot')
        assert not s['present'] and s['error'] == 'ModemManager is not running', s
        ctx.fake.start()
        s = late.wait(lambda s: s['present'], what='the modem')
        assert s['state'] == 'registered', s
    finally:
        late.stop()
        ctx.fake.set_state(fake_mm.STATE_REGISTERED)  # wait for the fake to answer
    ctx.main.wait(lambda s: s['present'] and s['rsrp'] is not None, since, what='the main tool back')
    # Asked by the main tool only: without --signal-rate it is left alone.
    assert ctx.fake.signal_setup_rates() == [SIGNAL_RATE], ctx.fake.signal_setup_rates()


def check_path_selection(ctx):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=ctx.bus.address, G_DEBUG='fatal-criticals')
    other = ctx.fake.add_modem(EquipmentIdentifier='359072060000002', Manufacturer='Huawei', Model='ME909s-120',
                               Sim={'OperatorName': 'SFR'})
    r = subprocess.run([ctx.tool, '--modemmanager', other, '--once', '--timeout', '10'], env=env,
                       capture_output=True, text=True, timeout=20, check=False)
    assert r.returncode == 0, r
    s = json.loads(r.stdout)
    assert s['model'] == 'Huawei ME909s-120' and s['sim_operator'] == 'SFR', s
    r = subprocess.run([ctx.tool, '--modemmanager', '/org/freedesktop/ModemManager1/Modem/42', '--once',
                        '--timeout', '2'], env=env, capture_output=True, text=True, timeout=20, check=False)
    assert r.returncode == 1, r
    s = json.loads(r.stdout)
    assert not s['present'] and s['error'] == 'modem /org/freedesktop/ModemManager1/Modem/42 not found', s
    ctx.fake.remove_modem(other)
    # The main tool follows its own modem only.
    assert ctx.main.last()['model'] == 'Quectel EC25'


def check_private_fields(ctx):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=ctx.bus.address, G_MESSAGES_DEBUG='all',
               G_DEBUG='fatal-criticals')
    r = subprocess.run([ctx.tool, '--modemmanager', '--once', '--private', '--timeout', '10'], env=env,
                       capture_output=True, text=True, timeout=20, check=False)
    assert r.returncode == 0, r
    s = json.loads(r.stdout)
    assert s['iccid'] == ICCID and s['imsi'] == IMSI, s
    assert ICCID not in r.stderr and IMSI not in r.stderr, r.stderr
    assert 'pvefailover-mm' in r.stderr, r.stderr  # the debug log was on
    r = subprocess.run([ctx.tool, '--modemmanager', '--once', '--timeout', '10'], env=env,
                       capture_output=True, text=True, timeout=20, check=False)
    assert r.returncode == 0 and ICCID not in r.stdout and IMSI not in r.stdout, r


def check_never_logged(ctx):
    with ctx.main.cond:
        out = ''.join(ctx.main.lines)
    err = ctx.main.stderr()
    assert out and err, (out, err)
    for secret in (ICCID, IMSI):
        assert secret not in out, 'in stdout'
        assert secret not in err, 'in the debug log'
    assert 'CRITICAL' not in err and 'WARNING' not in err, err


CHECKS = [
    check_initial_snapshot,
    check_state_change,
    check_signal_change,
    check_bearer_stats,
    check_registration_loss,
    check_not_registered,
    check_missing_sim,
    check_sim_error,
    check_pin_locked,
    check_unplug_and_replug,
    check_modemmanager_restart,
    check_started_before_modemmanager,
    check_path_selection,
    check_private_fields,
    check_never_logged,
]


def main():
    tool = find_tool()
    if not os.access(tool, os.X_OK):
        print(f'1..0 # SKIP {tool} not built')
        return 77
    if importlib.util.find_spec('dbusmock') is None:
        print('1..0 # SKIP python3-dbusmock missing')
        return 77
    if shutil.which('dbus-daemon') is None:
        print('1..0 # SKIP dbus-daemon missing')
        return 77
    ctx = Context()
    rc = 1
    try:
        rc = pftest.run(CHECKS, ctx)
    finally:
        ctx.close(rc == 0)
    return rc


if __name__ == '__main__':
    sys.exit(main())
