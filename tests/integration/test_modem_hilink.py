#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The HiLink telemetry source against tests/lab/fake_hilink.py, through pf-modem-tool
(--hilink URL --poll 1, one JSON line per snapshot) as a black box: values parsed for both
flavours; each fault gives its reason while the tool keeps running, and it recovers when the
fault is removed; a hung API times out; a stick without an API backs off instead of polling;
three failed polls make the modem absent; ICCID and IMSI never show in the output or the logs.

Fake and tool run in a private network namespace (loopback only), made and removed here.
The tool is $PF_MODEM_TOOL, else $PF_BUILD_DIR/tests/pf-modem-tool."""

import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))
import fake_hilink  # noqa: E402
import pftest  # noqa: E402

PYTHON = '/usr/bin/python3'
FAKE = os.path.join(os.path.dirname(HERE), 'lab', 'fake_hilink.py')
ICCID = fake_hilink.DEFAULTS['iccid']
IMSI = fake_hilink.DEFAULTS['imsi']
TIMEOUT = 5          # the source's request timeout
NO_API_PREFIX = 'no HiLink or ZTE API at '


def find_tool():
    tool = os.environ.get('PF_MODEM_TOOL')
    if not tool and os.environ.get('PF_BUILD_DIR'):
        tool = os.path.join(os.environ['PF_BUILD_DIR'], 'tests', 'pf-modem-tool')
    if not tool or not os.access(tool, os.X_OK):
        print(f'1..0 # SKIP pf-modem-tool not found ({tool!r}): build it or set PF_MODEM_TOOL')
        sys.exit(77)
    return tool


class Netns:
    """A private network namespace with loopback up."""

    def __init__(self):
        self.name = 'pfhl-' + uuid.uuid4().hex[:6]
        subprocess.run(['ip', 'netns', 'add', self.name], check=True)
        subprocess.run(['ip', '-n', self.name, 'link', 'set', 'lo', 'up'], check=True)

    def argv(self, *argv):
        return ['ip', 'netns', 'exec', self.name, *argv]

    def remove(self):
        subprocess.run(['ip', 'netns', 'del', self.name], check=False)


class Fake:
    """fake_hilink.py on 127.0.0.1, a free port, with a control file and a request log."""

    def __init__(self, env, flavour='huawei', **control):
        self.dir = tempfile.mkdtemp(prefix='pf-hilink-', dir=env.workdir)
        self.control_path = os.path.join(self.dir, 'control.json')
        self.log_path = os.path.join(self.dir, 'requests.log')
        self.values = dict(control)
        self.set(**control)
        self.proc = subprocess.Popen(
            env.ns.argv(PYTHON, FAKE, '--address', '127.0.0.1', '--port', '0', '--flavour', flavour,
                        '--control', self.control_path, '--log', self.log_path),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        assert line.startswith('listening on '), f'fake did not start: {line!r}'
        self.port = int(line.rsplit(':', 1)[1])
        self.url = f'http://127.0.0.1:{self.port}'
        threading.Thread(target=self._drain, daemon=True).start()
        env.cleanups.append(self.stop)

    def _drain(self):
        for _ in self.proc.stdout:
            pass

    def set(self, **values):
        self.values.update(values)
        fake_hilink.write_control(self.control_path, **self.values)

    def requests(self):
        try:
            with open(self.log_path) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def count(self, path=None):
        return sum(1 for r in self.requests() if path is None or r[1] == path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Tool:
    """pf-modem-tool --hilink URL --poll 1: its JSON lines, its stderr (debug logs on)."""

    def __init__(self, env, url, poll=1, extra=()):
        self.env = env
        self.private = '--private' in extra
        self.lines = queue.Queue()
        self.snapshots = []
        self.stdout = []
        self.stderr = []
        e = dict(os.environ, G_MESSAGES_DEBUG='all', LC_ALL='C.UTF-8', G_DEBUG='fatal-criticals')
        self.proc = subprocess.Popen(
            env.ns.argv(env.tool, '--hilink', url, '--poll', str(poll), *extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
            start_new_session=True)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        env.cleanups.append(self.stop)
        env.tools.append(self)

    def _read_out(self):
        for line in self.proc.stdout:
            self.stdout.append(line)
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and 'present' in doc:
                self.snapshots.append(doc)
                self.lines.put(doc)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait(self, pred, timeout, what):
        """The first new snapshot for which pred holds; fails with the last ones seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert self.proc.poll() is None, f'the tool exited ({self.proc.returncode}) waiting for {what}\n' \
                + ''.join(self.stderr[-20:])
            if left <= 0:
                raise AssertionError(f'no snapshot with {what} in {timeout} s; last: {self.snapshots[-3:]}')
            try:
                doc = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if pred(doc):
                return doc

    def alive(self):
        assert self.proc.poll() is None, f'the tool exited ({self.proc.returncode})\n' + ''.join(self.stderr[-20:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Env:
    def __init__(self, tool):
        self.tool = tool
        self.workdir = tempfile.mkdtemp(prefix='pf-hilink-test-')
        self.ns = Netns()
        self.cleanups = []
        self.tools = []

    def cleanup(self):
        for c in reversed(self.cleanups):
            c()
        self.cleanups.clear()

    def close(self):
        self.cleanup()
        self.ns.remove()
        subprocess.run(['rm', '-rf', self.workdir], check=False)


def num(doc, key):
    v = doc.get(key)
    return math.nan if v is None or v == 'NaN' else float(v)


def assert_private(tool):
    """ICCID and IMSI never in the logs; in the output only when asked for (--private)."""
    out = ''.join(tool.stderr) + ('' if tool.private else ''.join(tool.stdout))
    assert ICCID not in out, 'the ICCID shows in the tool\'s output or logs'
    assert IMSI not in out, 'the IMSI shows in the tool\'s output or logs'


def ok(doc):
    return doc['present'] and doc['error'] == '' and doc['state'] != ''


def with_tool(check):
    """Each check gets a fresh fake and tool; they are stopped afterwards."""
    def run(env):
        try:
            check(env)
            for t in env.tools:
                assert_private(t)
        finally:
            env.tools.clear()
            env.cleanup()
    run.__name__ = check.__name__
    return run


@with_tool
def huawei_values(env):
    fake = Fake(env)
    tool = Tool(env, fake.url)
    doc = tool.wait(ok, 10, 'telemetry')
    assert doc['model'] == 'Huawei E3372', doc
    assert doc['state'] == 'connected', doc
    assert doc['access_technology'] == 'lte', doc
    assert doc['signal_quality'] == 80, doc
    assert (num(doc, 'rssi'), num(doc, 'rsrp'), num(doc, 'rsrq'), num(doc, 'sinr')) == (-67, -95, -9, 12), doc
    assert doc['registration'] == 'home', doc
    assert doc['operator_name'] == 'Orange F' and doc['operator_code'] == '20801', doc
    assert doc['sim_state'] == 'ok' and doc['failed_reason'] == '', doc
    assert (doc['rx_bytes'], doc['tx_bytes']) == (654321, 123456), doc

    # Values follow the stick; an unknown one is NaN/null, not a number.
    fake.set(rsrp=-112, signal_icon=1, upload=200000, download=300000, connection_status=902,
             network_type=41, rsrq='', sinr='', rssi=-85)
    doc = tool.wait(lambda d: d['signal_quality'] == 20, 10, 'the new values')
    assert doc['state'] == 'registered' and doc['access_technology'] == 'umts', doc
    assert math.isnan(num(doc, 'rsrp')) and math.isnan(num(doc, 'sinr')), doc   # 3G: no LTE values
    assert num(doc, 'rssi') == -85, doc
    assert (doc['rx_bytes'], doc['tx_bytes']) == (300000, 200000), doc

    fake.set(sim='missing')
    doc = tool.wait(lambda d: d['sim_state'] == 'missing', 10, 'SIM missing')
    assert doc['state'] == 'failed' and doc['failed_reason'] == 'sim-missing', doc
    assert doc['present'] and doc['error'] == '', doc

    # Device information is read once per session, not every poll.
    polls = fake.count('/api/monitoring/status')
    assert polls >= 3, fake.requests()
    assert fake.count('/api/device/information') == 1, fake.requests()
    assert fake.count('/api/webserver/SesTokInfo') == 1, fake.requests()


@with_tool
def private_fields(env):
    """ICCID and IMSI are read (for an authorized caller) but never logged."""
    fake = Fake(env)
    tool = Tool(env, fake.url, extra=['--private'])
    doc = tool.wait(ok, 10, 'telemetry')
    assert doc.get('iccid') == ICCID and doc.get('imsi') == IMSI, doc
    plain = Tool(env, fake.url)
    doc = plain.wait(ok, 10, 'telemetry')
    assert 'iccid' not in doc or doc['iccid'] in ('', None), doc
    assert 'imsi' not in doc or doc['imsi'] in ('', None), doc


@with_tool
def bound_to_interface(env):
    """--interface: connections bound to it (SO_BINDTODEVICE), never unbound."""
    fake = Fake(env)
    tool = Tool(env, fake.url, extra=['--interface', 'lo'])
    tool.wait(ok, 10, 'telemetry over lo')
    tool.stop()
    n = fake.count()
    bad = Tool(env, fake.url, extra=['--interface', 'pf-nosuch0'])
    doc = bad.wait(lambda d: d['error'] != '', 10, 'an error')
    assert doc['error'].startswith('bind to pf-nosuch0: '), doc
    assert not doc['present'], doc
    time.sleep(3)
    assert fake.count() == n, 'a request got through unbound'


@with_tool
def session_expiry(env):
    """An expired session is renewed once, transparently: no error shows."""
    fake = Fake(env)
    tool = Tool(env, fake.url)
    tool.wait(ok, 10, 'telemetry')
    before = fake.count('/api/webserver/SesTokInfo')
    fake.set(session_epoch=1, rsrp=-101)
    doc = tool.wait(lambda d: num(d, 'rsrp') == -101, 10, 'values after the new session')
    assert doc['error'] == '', doc
    assert all(d['error'] == '' for d in tool.snapshots), tool.snapshots
    assert fake.count('/api/webserver/SesTokInfo') == before + 1, fake.requests()


def fault_check(env, fault, expect, present=True, wait=10):
    fake = Fake(env)
    tool = Tool(env, fake.url)
    good = tool.wait(ok, 10, 'telemetry')
    fake.set(fault=fault)
    doc = tool.wait(lambda d: expect in d['error'], wait, f'error {expect!r}')
    if present:
        assert doc['present'], doc
    # The values are kept while the reason shows.
    for key in ('state', 'operator_name', 'signal_quality', 'rsrp'):
        assert doc[key] == good[key], (key, doc, good)
    tool.alive()
    fake.set(fault='ok', rsrp=-99)
    doc = tool.wait(lambda d: ok(d) and num(d, 'rsrp') == -99, 10, 'recovery')
    tool.alive()
    return fake, tool


@with_tool
def fault_token_error(env):
    fake, _ = fault_check(env, 'token-error', 'API error 125002')
    # One refresh per failed request, not a loop: at most 2 SesTokInfo per poll.
    assert fake.count('/api/webserver/SesTokInfo') <= 2 * fake.count('/api/monitoring/status') + 1


@with_tool
def fault_error_code(env):
    fault_check(env, 'error-code 100005', 'API error 100005 on /api/')


@with_tool
def fault_http_500(env):
    fault_check(env, 'http-500', 'HTTP 500')


@with_tool
def fault_garbage(env):
    fault_check(env, 'garbage', 'garbage: ')


@with_tool
def fault_login_required(env):
    fake, tool = fault_check(env, 'login-required', 'the stick asks for a login')
    # It answers: never counted as not answering.
    assert all(d['present'] for d in tool.snapshots if 'login' in d['error']), tool.snapshots


@with_tool
def three_failures_absent(env):
    """Three failed polls in a row: present FALSE, "HiLink API not answering (…)"."""
    fake = Fake(env)
    tool = Tool(env, fake.url)
    tool.wait(ok, 10, 'telemetry')
    fake.set(fault='http-500')
    first = tool.wait(lambda d: 'HTTP 500' in d['error'], 10, 'the first failure')
    assert first['present'], first
    doc = tool.wait(lambda d: not d['present'], 15, 'present false')
    assert doc['error'].startswith('HiLink API not answering (HTTP 500'), doc
    tool.alive()
    fake.set(fault='ok')
    tool.wait(ok, 15, 'recovery')


@with_tool
def fault_hang(env):
    """A hung API times out after ~5 s; the tool keeps going and recovers."""
    fake = Fake(env)
    tool = Tool(env, fake.url)
    tool.wait(ok, 10, 'telemetry')
    start = time.monotonic()
    fake.set(fault='hang')
    doc = tool.wait(lambda d: 'timeout' in d['error'], TIMEOUT + 5, 'a timeout')
    took = time.monotonic() - start
    assert TIMEOUT - 1 <= took <= TIMEOUT + 4, f'timeout after {took:.1f} s'
    assert doc['present'], doc
    hung = fake.count()
    doc = tool.wait(lambda d: not d['present'], 3 * (TIMEOUT + 3) + 5, 'present false')
    assert doc['error'].startswith('HiLink API not answering (timeout'), doc
    # Never more than one request in flight: one hung request per timeout.
    elapsed = time.monotonic() - start
    assert fake.count() - hung <= elapsed / TIMEOUT + 1, fake.requests()
    fake.set(fault='ok')
    tool.wait(ok, 20, 'recovery')


@with_tool
def connection_refused_never_answered(env):
    """Nothing ever listened: the stick is there without an API, not gone."""
    fake = Fake(env)
    fake.stop()
    tool = Tool(env, fake.url)
    doc = tool.wait(lambda d: d['error'] != '', 10, 'an error')
    assert doc['error'].startswith('no HiLink or ZTE API at '), doc
    assert 'connection refused' in doc['error'], doc
    assert doc['present'], doc
    time.sleep(3)
    assert tool.snapshots[-1]['present'], tool.snapshots[-1]
    tool.alive()


@with_tool
def connection_refused_after_answering(env):
    """The API answered, then nothing listens: a failure, then the modem is absent."""
    fake = Fake(env)
    tool = Tool(env, fake.url)
    tool.wait(lambda d: d['present'] and d['error'] == '' and d['rsrp'] is not None, 15, 'telemetry')
    fake.stop()
    doc = tool.wait(lambda d: d['error'] != '', 20, 'an error')
    assert 'refused' in doc['error'].lower(), doc
    doc = tool.wait(lambda d: d['error'].startswith('HiLink API not answering ('), 30, 'not answering')
    assert not doc['present'], doc
    tool.alive()


@with_tool
def no_api_backs_off(env):
    """No API at all: present, state "", the reason, and no request storm."""
    fake = Fake(env, flavour='none')
    tool = Tool(env, fake.url)
    doc = tool.wait(lambda d: d['error'] != '', 10, 'an error')
    assert doc['error'] == f'{NO_API_PREFIX}{fake.url} (HTTP 404)', doc
    assert doc['present'] and doc['state'] == '', doc
    time.sleep(6)   # six poll intervals
    tool.alive()
    reqs = fake.requests()
    assert len(reqs) == 2, reqs   # one Huawei probe, one ZTE probe, then 30 min of quiet
    assert [r[1] for r in reqs] == ['/api/webserver/SesTokInfo', '/goform/goform_get_cmd_process'], reqs


@with_tool
def api_vanishes(env):
    """An API seen before that vanishes (404) is a failure, not "no API": the stick
    rebooted into another mode. Detection is retried at the poll rate, no faster."""
    fake = Fake(env)
    tool = Tool(env, fake.url)
    tool.wait(ok, 10, 'telemetry')
    fake.set(fault='no-api')
    doc = tool.wait(lambda d: not d['present'], 15, 'present false')
    assert doc['error'] == 'HiLink API not answering (API gone: HTTP 404)', doc
    n, start = fake.count(), time.monotonic()
    time.sleep(5)
    # At most one detection (Huawei, then ZTE) per poll interval of 1 s.
    assert fake.count() - n <= 2 * (time.monotonic() - start + 1), fake.requests()[n:]
    tool.alive()
    fake.set(fault='ok')
    tool.wait(ok, 10, 'recovery')


@with_tool
def zte_values(env):
    fake = Fake(env, flavour='zte')
    tool = Tool(env, fake.url)
    doc = tool.wait(ok, 10, 'telemetry')
    assert doc['model'] == 'ZTE MF79U', doc
    assert doc['state'] == 'connected' and doc['access_technology'] == 'lte', doc
    assert doc['signal_quality'] == 80, doc
    assert (num(doc, 'rsrp'), num(doc, 'rsrq'), num(doc, 'sinr'), num(doc, 'rssi')) == (-95, -9, 12, -67), doc
    assert doc['registration'] == 'home' and doc['operator_code'] == '20801', doc
    assert doc['operator_name'] == 'Orange F' and doc['sim_state'] == 'ok', doc
    assert (doc['rx_bytes'], doc['tx_bytes']) == (654321, 123456), doc
    fake.set(connection_status=902, signal_icon=2)
    doc = tool.wait(lambda d: d['signal_quality'] == 40, 10, 'new values')
    assert doc['state'] == 'registered', doc
    fake.set(sim='missing')
    doc = tool.wait(lambda d: d['sim_state'] == 'missing', 10, 'SIM missing')
    assert doc['state'] == 'failed' and doc['failed_reason'] == 'sim-missing', doc
    # One request per poll after detection (the Huawei probe once, at the start).
    assert fake.count('/api/webserver/SesTokInfo') == 1, fake.requests()
    fake.set(fault='garbage')
    tool.wait(lambda d: d['error'].startswith('garbage: '), 10, 'garbage')
    fake.set(fault='ok')
    tool.wait(ok, 10, 'recovery')


def main():
    pftest.require_root()
    env = Env(find_tool())
    try:
        return pftest.run([
            huawei_values,
            private_fields,
            bound_to_interface,
            session_expiry,
            fault_token_error,
            fault_error_code,
            fault_http_500,
            fault_garbage,
            fault_login_required,
            three_failures_absent,
            fault_hang,
            connection_refused_never_answered,
            connection_refused_after_answering,
            no_api_backs_off,
            api_vanishes,
            zte_values,
        ], env)
    finally:
        env.close()


if __name__ == '__main__':
    sys.exit(main())
