#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pvefailoverctl as a black box against the real daemon in the lab, with dbusmock's
polkitd template: its exact output where it is stable, and the exit codes documented in
pvefailoverctl(1): 0 success, 1 failed, 2 usage, 3 not running, 4 not authorized."""

import json
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))
import fake_hilink  # noqa: E402
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, CLIENT, Daemon, lab_config  # noqa: E402

FAKE_HILINK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab', 'fake_hilink.py')
# Modem telemetry is polled every 10 s (the least allowed), so that alerts come quickly.
CONFIG = lab_config(extra_backup='modem-poll-interval=10s')
IDENTITY_ACTION = 'org.pvefailover.modem-identity'
HILINK = {}         # 'control': the control file of the fake HiLink API

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_NOT_AUTHORIZED = range(5)
NOT_RUNNING = 'pvefailoverd is not running\n'
USAGE_HINT = 'Run “pvefailoverctl help” for usage.\n'
ESC = '\033'
READY_LINE = 'watching pvefailoverd, press Ctrl+C to stop'
STAMP = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'


def show(r):
    return f'exit {r.returncode}\n--- stdout ---\n{r.stdout}--- stderr ---\n{r.stderr}'


def expect(r, code, stdout=None, stderr=None):
    """Assert the exit code, and the exact stdout/stderr when given."""
    assert r.returncode == code, f'expected exit {code}\n' + show(r)
    if stdout is not None:
        assert r.stdout == stdout, f'stdout differs, expected {stdout!r}\n' + show(r)
    if stderr is not None:
        assert r.stderr == stderr, f'stderr differs, expected {stderr!r}\n' + show(r)
    return r


def client_as(d, user, *args):
    """pvefailoverctl as an unprivileged user, with that user's own group."""
    return d.client(*args, user=user)


def client_on_tty(d, *args, env=None, timeout=15):
    """pvefailoverctl with its stdout on a pseudo-terminal: (exit code, output)."""
    e = d.lab.host_env({'LC_ALL': 'C.UTF-8'})
    e.pop('NO_COLOR', None)
    e.update(env or {})
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(['ip', 'netns', 'exec', d.lab.ns('host'), CLIENT, *args], env=e,
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        slave = None
        out = b''
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:        # EIO: the other side is closed
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        code = p.wait(timeout=5)
        return code, out.decode(errors='replace')
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)


def status_lines(d, *args, client=None):
    r = expect((client or d.client)('status', *args), EXIT_OK, stderr='')
    return r.stdout.splitlines()


def signal_bars(quality, utf8=True):
    """SignalQuality as pvefailoverctl draws it: 4 bars, 20 % each, "-" when unknown."""
    if quality < 0:
        return '-'
    lit = min(max(quality, 0) // 20, 4)
    if utf8:
        return ''.join('▂▄▆█'[i] if i < lit else '▁' for i in range(4))
    return '[' + '#' * lit + '.' * (4 - lit) + ']'


STANDBY_LINE = (r'lte: last standby test (\d+ (s|min) ago: (passed|failed): .+ '
                r'\([\d.]+[ \xa0](bytes?|kB), \d+(\.\d)? (ms|s)\)|: never)')


def assert_status_text(d, lines, state, mode, active, utf8=True):
    """The stable part of "status": every field but the times, the table but the measures."""
    assert len(lines) == 11, lines
    assert lines[0] == f'State:         {state}', lines
    assert lines[1] == f'Mode:          {mode}', lines
    assert lines[2] == f'Active uplink: {active}', lines
    assert re.fullmatch(rf'Last change:   ({STAMP} \(\d+ (s|min) ago\)|never)', lines[3]), lines
    assert lines[4].startswith('Last reason:   ') and len(lines[4]) > len('Last reason:   '), lines
    assert lines[5] == '', lines
    header, primary, lte = lines[6:9]
    # Column widths: the longest of each column plus two spaces; the marker column is one
    # character plus a space. Name, role and interface are stable; so is the header.
    ifw = len(pflab.HOST_BACKUP_IF)
    # lte has modem telemetry (the fake HiLink API): a SIGNAL column.
    assert re.fullmatch(r'  UPLINK   ROLE     ' + 'INTERFACE'.ljust(ifw) + r'  HEALTH +LOSS +RTT +STANDBY +SIGNAL',
                        header), lines
    mark = {'primary': '* ' if active == 'primary' else '  ', 'lte': '* ' if active == 'lte' else '  '}
    assert primary.startswith(mark['primary'] + 'primary  primary  ' + pflab.HOST_PRIMARY_IF.ljust(ifw) + '  '), lines
    assert lte.startswith(mark['lte'] + 'lte      backup   ' + pflab.HOST_BACKUP_IF + '  '), lines
    health_col = header.index('HEALTH')
    loss_col = header.index('LOSS')
    rtt_col = header.index('RTT')
    standby_col = header.index('STANDBY')
    signal_col = header.index('SIGNAL')
    for row, name in ((primary, 'primary'), (lte, 'lte')):
        assert row[health_col:loss_col].rstrip() == d.uplink_prop(name, 'Health'), (name, lines)
        assert re.fullmatch(r'(\d+%|-) *', row[loss_col:rtt_col]), (name, lines)
        assert re.fullmatch(r'(\d+\.\d ms|-) *', row[rtt_col:standby_col]), (name, lines)
    # The primary has no standby kind: no trailing spaces either.
    assert len(primary) <= standby_col and not primary.endswith(' '), lines
    assert lte[standby_col:signal_col] == 'hot'.ljust(signal_col - standby_col), lines
    assert lte[signal_col:] == signal_bars(d.uplink_prop('lte', 'SignalQuality'), utf8), lines
    # Under the table, the last standby test of each backup.
    assert lines[9] == '', lines
    assert re.fullmatch(STANDBY_LINE, lines[10]), lines


MODEM_PROPS = ('Modem', 'ModemModel', 'ModemPresent', 'ModemState', 'ModemFailedReason', 'AccessTechnology',
               'SignalQuality', 'Rssi', 'Rsrp', 'Rsrq', 'Sinr', 'Registration', 'OperatorName', 'OperatorCode',
               'SimOperator', 'SimState', 'ModemRxBytes', 'ModemTxBytes', 'ModemHealth', 'ModemError')


def modem_props(d, uplink):
    return {name: d.uplink_prop(uplink, name) for name in MODEM_PROPS}


def same_props(a, b):
    """Equal, NaN included."""
    return all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def format_size(n, utf8=True):
    """g_format_size(): SI units, one decimal, a no-break space before the unit (a plain
    one when the locale is not UTF-8)."""
    space = '\xa0' if utf8 else ' '
    if n < 1000:
        return f'{n} byte' + ('' if n == 1 else 's')
    for unit, factor in (('kB', 1e3), ('MB', 1e6), ('GB', 1e9), ('TB', 1e12)):
        if n < factor * 1000:
            return f'{n / factor:.1f}{space}{unit}'
    return f'{n / 1e15:.1f}{space}PB'


def format_level(value, unit):
    if not math.isfinite(value) or abs(value) > 1e300:
        return '-'
    return f'{value:.0f} {unit}' if value == round(value) else f'{value:.1f} {unit}'


def expected_modem_block(name, p, identity=None, utf8=True):
    """What "modem NAME" prints for the Uplink1 properties @p: the block of labels and values."""
    def dash(text):
        return text if text else '-'
    state = f"{p['ModemState']} ({p['ModemFailedReason']})" if p['ModemFailedReason'] else dash(p['ModemState'])
    q = p['SignalQuality']
    signal = '-' if q < 0 else f'{q}% {signal_bars(q, utf8)}'
    if p['OperatorName'] and p['OperatorCode']:
        operator = f"{p['OperatorName']} ({p['OperatorCode']})"
    else:
        operator = dash(p['OperatorName'] or p['OperatorCode'])
    rx, tx = p['ModemRxBytes'], p['ModemTxBytes']
    session = '-' if rx == 0 and tx == 0 else f'{format_size(rx, utf8)} received, {format_size(tx, utf8)} sent'
    fields = [
        ('Source:', dash(p['Modem'])),
        ('Model:', dash(p['ModemModel'])),
        ('Present:', 'yes' if p['ModemPresent'] else 'no'),
        ('State:', state),
        ('Access technology:', dash(p['AccessTechnology'])),
        ('Signal quality:', signal),
        ('RSSI:', format_level(p['Rssi'], 'dBm')),
        ('RSRP:', format_level(p['Rsrp'], 'dBm')),
        ('RSRQ:', format_level(p['Rsrq'], 'dB')),
        ('SINR:', format_level(p['Sinr'], 'dB')),
        ('Registration:', dash(p['Registration'])),
        ('Operator:', operator),
        ('SIM operator:', dash(p['SimOperator'])),
        ('SIM state:', dash(p['SimState'])),
        ('Session data:', session),
        ('Health:', dash(p['ModemHealth'])),
    ]
    if p['ModemError']:
        fields.append(('Error:', p['ModemError']))
    if identity is not None:
        fields += [('ICCID:', dash(identity[0])), ('IMSI:', dash(identity[1]))]
    width = max(len(label) for label, _ in fields) + 1
    return f'{name}:\n' + ''.join(f'  {label.ljust(width)}{value}\n' for label, value in fields)


def modem_output(d, uplink, *args, identity=None, env=None, utf8=True):
    """Run "modem UPLINK ARGS" and check its stdout against the properties read around it."""
    for _ in range(5):
        before = modem_props(d, uplink)
        r = expect(d.client('modem', uplink, *args, env=env), EXIT_OK, stderr='')
        after = modem_props(d, uplink)
        if same_props(before, after):
            break
    else:
        raise AssertionError(f'the modem properties of {uplink} keep changing')
    assert r.stdout == expected_modem_block(uplink, after, identity, utf8), (after, show(r))
    return r.stdout, after


def start_fake_hilink(lab):
    """The stick's API on its management address: at first a stick without a HiLink or ZTE
    API (404 everywhere), until the control file says otherwise. With nothing listening
    there, the daemon takes the stick for gone and the backup for down."""
    control = os.path.join(lab.workdir, 'hilink.json')
    fake_hilink.write_control(control)
    proc = lab.spawn('modem', '/usr/bin/python3', FAKE_HILINK, '--address', pflab.MODEM_MGMT, '--port', '80',
                     '--flavour', 'none', '--control', control)
    wait_file(proc.log_path, lambda t: 'listening on' in t, 10, 'the fake HiLink API to listen')
    return control


def wait_file(path, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        with open(path, errors='replace') as f:
            text = f.read()
        if predicate(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}; output:\n{text}')
        time.sleep(0.05)


def start_watch(lab, name):
    path = os.path.join(lab.workdir, name)
    out = open(path, 'w')
    try:
        proc = lab.spawn('host', CLIENT, 'watch', stdout=out, stderr=subprocess.STDOUT,
                         env=lab.host_env({'LC_ALL': 'C.UTF-8', 'NO_COLOR': '1'}))
    finally:
        out.close()
    wait_file(path, lambda t: READY_LINE in t, 10, 'the ready line of watch')
    return proc, path


def stop_watch(proc):
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError('watch did not stop on SIGINT')


# --------------------------------------------------------------------- checks

def check_not_running_before_start(lab, d, polkit):
    for args in (('status',), ('status', '--json'), ('failover',), ('failover', 'lte'), ('auto',),
                 ('maintenance',), ('test', 'lte'), ('reload',), ('events',), ('events', '--json'),
                 ('watch',), ('modem',), ('modem', 'lte', '--json'), ('modem', '--identity')):
        expect(d.client(*args, timeout=10), EXIT_NOT_RUNNING, stdout='', stderr=NOT_RUNNING)
    # An unreachable bus is "not running" too, with the reason.
    r = d.client('status', env={'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=' + os.path.join(lab.workdir, 'nobus')})
    expect(r, EXIT_NOT_RUNNING, stdout='', stderr='pvefailoverd is not running (no system bus)\n')


def check_version_without_daemon(lab, d, polkit):
    for args in (('--version',), ('version',)):
        r = expect(d.client(*args), EXIT_OK, stderr='')
        assert re.fullmatch(r'pvefailoverctl \d+\.\d+(\.\d+)?\S*\n', r.stdout), show(r)


def check_usage_errors(lab, d, polkit):
    """Usage errors exit 2 with a message and a hint, whether the daemon runs or not."""
    cases = [
        ((), 'No command given\n'),
        (('bogus',), 'Unknown command “bogus”\n'),
        (('help', 'bogus'), 'Unknown command “bogus”\n'),
        (('test',), 'Missing argument for “test”: UPLINK\n'),
        (('status', 'extra'), 'Too many arguments for “status”\n'),
        (('failover', 'lte', 'primary'), 'Too many arguments for “failover”\n'),
        (('auto', 'now'), 'Too many arguments for “auto”\n'),
        (('version', 'x'), 'Too many arguments for “version”\n'),
        (('status', '--bogus'), 'Unknown option --bogus\n'),
        (('events', '--limit', 'x'), 'Invalid value “x” for --limit: expected a number, 0 or more\n'),
        (('events', '--limit', '-1'), 'Invalid value “-1” for --limit: expected a number, 0 or more\n'),
        (('events', '-n', '99999999999'), 'Invalid value “99999999999” for -n: expected a number, 0 or more\n'),
        (('events', '--limit'), 'Missing argument for --limit\n'),
        (('watch', '--json'), 'Unknown option --json\n'),
        (('modem', 'lte', 'primary'), 'Too many arguments for “modem”\n'),
        (('modem', '--bogus'), 'Unknown option --bogus\n'),
    ]
    for args, message in cases:
        expect(d.client(*args), EXIT_USAGE, stdout='', stderr=message + USAGE_HINT)


def check_help(lab, d, polkit):
    r = expect(d.client('help'), EXIT_OK, stderr='')
    assert r.stdout.startswith('Usage:\n  pvefailoverctl COMMAND [OPTION…]\n'), show(r)
    for name in ('status', 'watch', 'events', 'modem', 'failover', 'auto', 'maintenance', 'test', 'reload',
                 'version', 'help'):
        assert re.search(rf'^  {name} +\S', r.stdout, re.M), (name, show(r))
    assert '  4  not authorized\n' in r.stdout, show(r)
    assert expect(d.client('--help'), EXIT_OK).stdout == r.stdout
    r = expect(d.client('test', '--help'), EXIT_OK, stderr='')
    assert r.stdout.startswith('Usage:\n  pvefailoverctl test [OPTION…] UPLINK\n'), show(r)
    r = expect(d.client('help', 'events'), EXIT_OK, stderr='')
    assert '--limit=N' in r.stdout and '--json' in r.stdout, show(r)
    r = expect(d.client('modem', '--help'), EXIT_OK, stderr='')
    assert r.stdout.startswith('Usage:\n  pvefailoverctl modem [OPTION…] [UPLINK]\n'), show(r)
    assert '--json' in r.stdout and '--identity' in r.stdout and '  4  not authorized\n' in r.stdout, show(r)


def check_daemon_starts(lab, d, polkit):
    d.start()
    d.wait_health('lte', 'up', timeout=20)
    d.wait_health('primary', 'up', timeout=20)
    r = expect(d.client('version'), EXIT_OK, stderr='')
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == 'pvefailoverd ' + d.prop('Version'), show(r)
    assert lines[0] == 'pvefailoverctl ' + d.prop('Version'), show(r)


def check_status_human(lab, d, polkit):
    lines = status_lines(d)
    assert_status_text(d, lines, 'normal', 'auto', 'primary')


def check_status_json_matches_get_status(lab, d, polkit):
    r = expect(d.client('status', '--json'), EXIT_OK, stderr='')
    assert r.stdout.startswith('{\n  "'), show(r)     # indented for humans
    ours = json.loads(r.stdout)
    theirs = d.status()

    def stable(doc):
        doc = dict(doc)
        doc['uplinks'] = [{k: v for k, v in u.items() if k not in ('loss', 'rtt_ms', 'jitter_ms')
                           and not k.startswith('last_') and 'bytes' not in k}
                          for u in doc['uplinks']]
        return doc
    assert stable(ours) == stable(theirs), (ours, theirs)
    assert ours['active_uplink'] == 'primary' and ours['mode'] == 'auto' and ours['state'] == 'normal'
    assert [u['name'] for u in ours['uplinks']] == ['primary', 'lte']


def check_no_colour_unless_a_terminal(lab, d, polkit):
    # Not a terminal (a pipe), even without NO_COLOR: no escape codes.
    for args in (('status',), ('events',), ('help',)):
        r = expect(d.client(*args, env={'NO_COLOR': ''}), EXIT_OK)
        assert ESC not in r.stdout and ESC not in r.stderr, show(r)
    # A terminal: colour, unless NO_COLOR is set to something.
    code, out = client_on_tty(d, 'status')
    assert code == EXIT_OK and ESC + '[1;32mnormal' + ESC + '[0m' in out, repr(out)
    code, out = client_on_tty(d, 'status', env={'NO_COLOR': '1'})
    assert code == EXIT_OK and ESC not in out and 'State:         normal' in out, repr(out)


def check_failover_denied_changes_nothing(lab, d, polkit):
    polkit.set_allowed([])
    for args in (('failover',), ('failover', 'lte'), ('auto',), ('maintenance',)):
        r = expect(d.client(*args), EXIT_NOT_AUTHORIZED, stdout='',
                   stderr='Not authorized: Not authorized to perform org.pvefailover.set-mode\n')
    assert 'org.pvefailover.Error' not in r.stderr and 'GDBus' not in r.stderr
    time.sleep(0.3)
    assert d.prop('ActiveUplink') == 'primary' and d.prop('Mode') == 'auto'


def check_failover_allowed(lab, d, polkit):
    polkit.set_allowed(['org.pvefailover.set-mode'])
    expect(d.client('failover'), EXIT_OK, stdout='Traffic forced to uplink lte\n', stderr='')
    d.wait_active('lte', timeout=5)
    assert d.prop('Mode') == 'force' and d.prop('State') == 'forced'
    assert_status_text(d, status_lines(d), 'forced', 'force (lte)', 'lte')
    expect(d.client('auto'), EXIT_OK, stdout='Automatic failover enabled\n', stderr='')
    d.wait_active('primary', timeout=10)
    assert d.prop('Mode') == 'auto'

    expect(d.client('failover', 'lte'), EXIT_OK, stdout='Traffic forced to uplink lte\n', stderr='')
    d.wait_active('lte', timeout=5)
    expect(d.client('failover', 'nope'), EXIT_FAILED, stdout='', stderr='No uplink named "nope"\n')
    assert d.prop('ActiveUplink') == 'lte' and d.prop('Mode') == 'force'
    expect(d.client('auto'), EXIT_OK, stdout='Automatic failover enabled\n', stderr='')
    d.wait_active('primary', timeout=10)

    expect(d.client('maintenance'), EXIT_OK,
           stdout='Maintenance mode: routes and firewall are frozen\n', stderr='')
    d.wait_for(lambda: d.prop('Mode') == 'maintenance', 5, what='maintenance mode')
    assert d.prop('ActiveUplink') == 'primary'
    assert_status_text(d, status_lines(d), 'maintenance', 'maintenance', 'primary')
    expect(d.client('auto'), EXIT_OK, stdout='Automatic failover enabled\n', stderr='')
    d.wait_for(lambda: d.prop('Mode') == 'auto' and d.prop('State') == 'normal', 5, what='auto mode')
    assert_status_text(d, status_lines(d), 'normal', 'auto', 'primary')


def check_test_uplink(lab, d, polkit):
    polkit.set_allowed(['org.pvefailover.test-uplink'])
    r = expect(d.client('test', 'lte'), EXIT_OK, stderr='')
    assert 'answered' in r.stdout and len(r.stdout.splitlines()) == 1, show(r)
    lab.backup_dead(True)
    try:
        r = expect(d.client('test', 'lte'), EXIT_FAILED)
        assert r.stdout.strip(), show(r)
        assert 'GDBus' not in r.stderr, show(r)
    finally:
        lab.backup_dead(False)
    expect(d.client('test', 'nope'), EXIT_FAILED, stdout='', stderr='No uplink named "nope"\n')
    polkit.set_allowed([])
    expect(d.client('test', 'lte'), EXIT_NOT_AUTHORIZED, stdout='',
           stderr='Not authorized: Not authorized to perform org.pvefailover.test-uplink\n')


def check_reload(lab, d, polkit):
    good = CONFIG
    line = [i for i, t in enumerate(good.splitlines(), 1) if t.startswith('standby=')][0]
    polkit.set_allowed([])
    expect(d.client('reload'), EXIT_NOT_AUTHORIZED, stdout='',
           stderr='Not authorized: Not authorized to perform org.pvefailover.reload\n')
    polkit.set_allowed(ALL_ACTIONS)
    d.write_config(good.replace('standby=hot', 'standby=warm'))
    try:
        r = expect(d.client('reload'), EXIT_FAILED, stdout='')
        assert r.stderr.startswith(f'{d.config_path}:{line}:'), show(r)
        assert 'standby' in r.stderr and 'warm' in r.stderr and r.stderr.count('\n') == 1, show(r)
        assert 'org.pvefailover.Error' not in r.stderr and 'GDBus' not in r.stderr, show(r)
        assert d.uplink_prop('lte', 'Standby') == 'hot'
    finally:
        d.write_config(good)
    expect(d.client('reload'), EXIT_OK, stdout='Configuration reloaded\n', stderr='')
    d.wait_for(lambda: d.prop('Uplinks') == ['/org/pvefailover/uplink/primary', '/org/pvefailover/uplink/lte'],
               5, what='uplinks after reload')
    d.wait_health('lte', 'up', timeout=20)
    d.wait_health('primary', 'up', timeout=20)


def check_events(lab, d, polkit):
    events = d.call('GetEvents', '(u)', 0)[0]
    r = expect(d.client('events', '--limit', '0'), EXIT_OK, stderr='')
    lines = r.stdout.splitlines()
    assert len(lines) == len(events), (events, show(r))
    for line, (t, kind, frm, to, reason) in zip(lines, events):
        ft = ' -> '.join(x for x in (frm, to) if x)
        expected = f' {kind} {ft}: {reason}' if ft else f' {kind}: {reason}'
        assert re.fullmatch(STAMP + ' ' + re.escape(expected), line), (line, expected)
    assert any(re.fullmatch(STAMP + r'  failover primary -> lte: .+', x) for x in lines), show(r)
    assert any(re.fullmatch(STAMP + r'  failback lte -> primary: .+', x) for x in lines), show(r)
    assert any(re.fullmatch(STAMP + r'  reload: .+', x) for x in lines), show(r)

    default = expect(d.client('events'), EXIT_OK, stderr='').stdout.splitlines()
    assert default == lines[-20:], (default, lines)

    r = expect(d.client('events', '--json', '--limit', '0'), EXIT_OK, stderr='')
    doc = json.loads(r.stdout)
    assert doc == [{'time': t, 'kind': k, 'from': f, 'to': to, 'reason': why}
                   for t, k, f, to, why in events], (doc, events)

    r = expect(d.client('events', '--limit', '1'), EXIT_OK, stderr='')
    assert r.stdout.splitlines() == lines[-1:], show(r)
    r = expect(d.client('events', '-n', '1', '--json'), EXIT_OK, stderr='')
    assert json.loads(r.stdout) == doc[-1:], show(r)


def check_watch(lab, d, polkit):
    polkit.set_allowed(['org.pvefailover.set-mode'])
    proc, path = start_watch(lab, 'watch.out')
    try:
        expect(d.client('failover', 'lte'), EXIT_OK, stderr='')
        text = wait_file(path, lambda t: re.search(
            STAMP + r'  state forced, active uplink lte: ', t) and re.search(
            STAMP + r'  event failover primary -> lte: ', t), 5, 'watch to show the failover')
        assert re.search(STAMP + r"  property ActiveUplink = 'lte'", text), text
        expect(d.client('auto'), EXIT_OK, stderr='')
        wait_file(path, lambda t: re.search(STAMP + r'  event failback lte -> primary: ', t), 10,
                  'watch to show the failback')
    finally:
        code = stop_watch(proc)
    assert code == EXIT_OK, code
    d.wait_active('primary', timeout=10)
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()
    assert lines[0] == lines[0][:19] + '  ' + READY_LINE, lines
    for line in lines:
        assert re.match(STAMP + '  (state|event|property) ', line) or line.endswith(READY_LINE), line
    assert ESC not in text


def check_modem_without_api(lab, d, polkit):
    """The lab's stick has no HiLink API: telemetry from "hilink" that says so."""
    d.wait_for(lambda: d.uplink_prop('lte', 'ModemError') != '', 15, what='the first poll of the HiLink API')
    p = modem_props(d, 'lte')
    assert p['Modem'] == 'hilink' and p['ModemPresent'] and p['ModemState'] == 'unavailable', p
    assert p['SignalQuality'] == -1 and p['ModemError'].startswith('no HiLink or ZTE API at http://192.168.8.1'), p
    assert d.uplink_prop('primary', 'Modem') == ''
    out, p = modem_output(d, 'lte')
    lines = out.splitlines()
    assert lines[0] == 'lte:' and lines[1] == '  Source:            hilink', out
    assert '  Signal quality:    -' in lines and '  Error:             ' + p['ModemError'] in lines, out
    # Without UPLINK: every backup, here lte alone; the primary has no modem telemetry.
    expect(d.client('modem'), EXIT_OK, stdout=out, stderr='')
    expect(d.client('modem', 'primary'), EXIT_OK, stdout='primary: no modem telemetry\n', stderr='')
    for args in (('modem', 'nope'), ('modem', 'nope', '--json'), ('modem', '--identity', 'nope')):
        expect(d.client(*args), EXIT_FAILED, stdout='', stderr='No uplink named "nope"\n')

    # --json: the "modem" members of GetStatus, by uplink name.
    r = expect(d.client('modem', '--json'), EXIT_OK, stderr='')
    assert r.stdout.startswith('{\n  "lte"'), show(r)
    doc = json.loads(r.stdout)
    status = d.status()
    assert doc == {'lte': status['uplinks'][1]['modem']}, (doc, status)
    assert doc['lte']['source'] == 'hilink' and doc['lte']['present'] is True, doc
    assert doc['lte']['signal_quality'] == -1 and doc['lte']['error'] == p['ModemError'], doc
    assert json.loads(expect(d.client('modem', 'lte', '-j'), EXIT_OK, stderr='').stdout) == doc
    assert json.loads(expect(d.client('modem', 'primary', '--json'), EXIT_OK, stderr='').stdout) == {'primary': None}
    # The standby test in GetStatus is the one "status" shows under its table.
    lte = status['uplinks'][1]
    assert lte['last_standby_test'] > 0 and lte['last_standby_test_result'].startswith('passed: '), lte
    line = status_lines(d)[-1]
    assert line.startswith('lte: last standby test ') and lte['last_standby_test_result'] in line, line


def check_modem_identity(lab, d, polkit):
    polkit.set_allowed([])
    for args in (('modem', '--identity'), ('modem', 'lte', '-i'), ('modem', 'lte', '--identity', '--json')):
        expect(d.client(*args), EXIT_NOT_AUTHORIZED, stdout='',
               stderr=f'Not authorized: Not authorized to perform {IDENTITY_ACTION}\n')
    expect(client_as(d, 'nobody', 'modem', '--identity'), EXIT_NOT_AUTHORIZED, stdout='',
           stderr=f'Not authorized: Not authorized to perform {IDENTITY_ACTION}\n')
    # No modem behind the primary: nothing to ask for.
    expect(d.client('modem', 'primary', '--identity'), EXIT_OK, stdout='primary: no modem telemetry\n', stderr='')
    polkit.set_allowed([IDENTITY_ACTION])
    # A stick without an API gives no identity.
    modem_output(d, 'lte', '--identity', identity=('', ''))
    doc = json.loads(expect(d.client('modem', '--identity', '--json'), EXIT_OK, stderr='').stdout)
    assert doc['lte']['iccid'] == '' and doc['lte']['imsi'] == '', doc
    # Never in the other outputs.
    assert 'iccid' not in json.dumps(d.status())


def check_modem_with_api(lab, d, polkit):
    """The stick's API comes up (a Huawei HiLink): the whole block, the bars, the identity."""
    fake_hilink.write_control(HILINK['control'], flavour='huawei')
    polkit.set_allowed(ALL_ACTIONS)
    expect(d.client('reload'), EXIT_OK, stdout='Configuration reloaded\n', stderr='')
    d.wait_for(lambda: d.uplink_prop('lte', 'SignalQuality') >= 0, 20, what='telemetry from the HiLink API')
    d.wait_health('lte', 'up', timeout=20)
    d.wait_health('primary', 'up', timeout=20)
    d.wait_for(lambda: d.uplink_prop('lte', 'LastStandbyTest') > 0, 10, what='a standby test')
    out, p = modem_output(d, 'lte')
    v = fake_hilink.DEFAULTS
    quality = p['SignalQuality']
    assert quality == v['signal_icon'] * 20, p
    for line in ('  Source:            hilink',
                 '  Present:           yes',
                 '  Access technology: lte',
                 f'  Signal quality:    {quality}% ▂▄▆█',
                 f"  RSRP:              {v['rsrp']} dBm",
                 f"  Operator:          {v['operator']} ({v['numeric']})",
                 '  SIM state:         ok',
                 '  Registration:      home',
                 f"  Session data:      {format_size(v['download'])} received, {format_size(v['upload'])} sent",
                 '  Health:            ok'):
        assert line in out.splitlines(), (line, out)
    assert 'Error:' not in out and 'ICCID' not in out, out
    # Not a UTF-8 locale: ASCII bars.
    out, _ = modem_output(d, 'lte', env={'LC_ALL': 'C'}, utf8=False)
    assert f'  Signal quality:    {quality}% [####]' in out.splitlines(), out
    assert_status_text(d, status_lines(d), 'normal', 'auto', 'primary')
    assert_status_text(d, status_lines(d, client=lambda *a: d.client(*a, env={'LC_ALL': 'C'})),
                       'normal', 'auto', 'primary', utf8=False)
    assert status_lines(d)[8].endswith(' hot      ▂▄▆█'), status_lines(d)

    polkit.set_allowed([IDENTITY_ACTION])
    modem_output(d, 'lte', '-i', identity=(v['iccid'], v['imsi']))
    doc = json.loads(expect(d.client('modem', '--identity', '--json'), EXIT_OK, stderr='').stdout)
    assert doc['lte']['iccid'] == v['iccid'] and doc['lte']['imsi'] == v['imsi'], doc
    assert doc['lte']['rsrp'] == v['rsrp'] and doc['lte']['signal_quality'] == quality, doc
    assert doc['lte']['operator_code'] == v['numeric'] and doc['lte']['sim_state'] == 'ok', doc
    doc = json.loads(expect(d.client('modem', '--json'), EXIT_OK, stderr='').stdout)
    assert 'iccid' not in doc['lte'] and 'imsi' not in doc['lte'], doc


def check_alert_events(lab, d, polkit):
    """An alert and its end, in "watch", "events" and "modem"."""
    proc, path = start_watch(lab, 'watch-alert.out')
    try:
        fake_hilink.write_control(HILINK['control'], flavour='huawei', sim='missing')
        wait_file(path, lambda t: re.search(STAMP + r'  event alert lte: SIM missing$', t, re.M), 25,
                  'watch to show the alert')
        d.wait_for(lambda: d.uplink_prop('lte', 'SimState') == 'missing', 5, what='SimState missing')
        out, p = modem_output(d, 'lte')
        assert '  SIM state:         missing' in out.splitlines(), out
        # The fake reports the modem failed too; Health names the first problem.
        assert p['ModemHealth'] not in ('', 'ok') and '  Health:            ok' not in out.splitlines(), out
        fake_hilink.write_control(HILINK['control'], flavour='huawei')
        wait_file(path, lambda t: re.search(STAMP + r'  event alert-cleared lte: cleared: SIM missing$', t, re.M),
                  25, 'watch to show the end of the alert')
    finally:
        code = stop_watch(proc)
    assert code == EXIT_OK, code
    with open(path) as f:
        text = f.read()
    assert ESC not in text, text
    r = expect(d.client('events', '-n', '0'), EXIT_OK, stderr='')
    lines = r.stdout.splitlines()
    alert = [x for x in lines if re.fullmatch(STAMP + r'  alert lte: SIM missing', x)]
    cleared = [x for x in lines if re.fullmatch(STAMP + r'  alert-cleared lte: cleared: SIM missing', x)]
    assert len(alert) == 1 and len(cleared) == 1 and lines.index(alert[0]) < lines.index(cleared[0]), show(r)
    doc = json.loads(expect(d.client('events', '--json', '-n', '0'), EXIT_OK, stderr='').stdout)
    assert {'kind': 'alert', 'from': 'lte', 'to': '', 'reason': 'SIM missing'} in \
        [{k: e[k] for k in ('kind', 'from', 'to', 'reason')} for e in doc], doc
    # On a terminal, alerts stand out.
    code, out = client_on_tty(d, 'events', '-n', '0')
    assert code == EXIT_OK, out
    assert ESC + '[1;31malert' + ESC + '[0m lte: SIM missing' in out, repr(out)
    assert ESC + '[1;32malert-cleared' + ESC + '[0m lte: cleared: SIM missing' in out, repr(out)
    d.wait_health('lte', 'up', timeout=30)

def check_unprivileged_user_reads(lab, d, polkit):
    lines = status_lines(d, client=lambda *a: client_as(d, 'nobody', *a))
    assert_status_text(d, lines, 'normal', 'auto', 'primary')
    r = expect(client_as(d, 'nobody', 'status', '--json'), EXIT_OK, stderr='')
    assert json.loads(r.stdout)['active_uplink'] == 'primary'
    expect(client_as(d, 'nobody', 'events', '-n', '1'), EXIT_OK, stderr='')
    expect(client_as(d, 'nobody', 'version'), EXIT_OK, stderr='')
    polkit.set_allowed([])
    expect(client_as(d, 'nobody', 'failover'), EXIT_NOT_AUTHORIZED, stdout='',
           stderr='Not authorized: Not authorized to perform org.pvefailover.set-mode\n')
    assert d.prop('ActiveUplink') == 'primary'


def check_not_running_after_stop(lab, d, polkit):
    proc, path = start_watch(lab, 'watch-stop.out')
    try:
        assert d.stop() == 0, d.log()[-3000:]
        wait_file(path, lambda t: re.search(STAMP + '  pvefailoverd stopped$', t, re.M), 5,
                  'watch to see the daemon stop')
    finally:
        code = stop_watch(proc)
    assert code == EXIT_OK, code
    for args in (('status',), ('status', '--json'), ('failover',), ('failover', 'lte'), ('auto',),
                 ('test', 'lte'), ('reload',), ('events',), ('watch',), ('modem',), ('modem', 'lte', '-i')):
        expect(d.client(*args, timeout=10), EXIT_NOT_RUNNING, stdout='', stderr=NOT_RUNNING)
    expect(client_as(d, 'nobody', 'status'), EXIT_NOT_RUNNING, stdout='', stderr=NOT_RUNNING)
    r = expect(d.client('version'), EXIT_OK, stderr='')
    assert len(r.stdout.splitlines()) == 1 and r.stdout.startswith('pvefailoverctl '), show(r)


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        polkit = lab.start_polkit_mock()
        HILINK['control'] = start_fake_hilink(lab)
        d = Daemon(lab, CONFIG)
        rc = pftest.run([
            check_not_running_before_start,
            check_version_without_daemon,
            check_usage_errors,
            check_help,
            check_daemon_starts,
            check_usage_errors,
            check_status_human,
            check_status_json_matches_get_status,
            check_modem_without_api,
            check_modem_identity,
            check_no_colour_unless_a_terminal,
            check_failover_denied_changes_nothing,
            check_failover_allowed,
            check_test_uplink,
            check_reload,
            check_events,
            check_watch,
            check_modem_with_api,
            check_alert_events,
            check_unprivileged_user_reads,
            check_not_running_after_stop,
        ], lab, d, polkit)
        if rc and d.proc is not None:
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
