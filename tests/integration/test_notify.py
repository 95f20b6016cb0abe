#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The notifiers and their queue against fake Telegram and webhook endpoints over HTTPS
(tests/lab/fake_notify.py, a test CA made with openssl here), through pf-notify-tool as a
black box: notices on its stdin, one JSON line per delivery or failure on its stdout.

Checked: the exact Telegram and webhook requests (JSON, HTML escaping, topic, header) in
English and French; a 429's retry_after honoured; a 5xx and a timeout retried, delivered
once; notices from an outage delivered in order, saying when they happened, as one summary
after a kick; a flapping link gives one or two messages, not twenty; a 401 drops the notice
with Telegram's description; the queue survives a restart of the tool; an unknown CA is a TLS
error, nothing delivered. The bot token and the webhook's header never show in any output.

The tool is $PF_NOTIFY_TOOL, else $PF_BUILD_DIR/tests/pf-notify-tool. Times are UTC (TZ)."""

import datetime
import glob
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))
import fake_notify  # noqa: E402
import pftest  # noqa: E402

TOKEN = '123456789:AAFakeTokenForTests_abcdefghijklmnop'
HEADER_SECRET = 'Bearer s3cr3t-webhook-value'
CHAT = '-1001234567890'


def find_tool():
    tool = os.environ.get('PF_NOTIFY_TOOL')
    if not tool and os.environ.get('PF_BUILD_DIR'):
        tool = os.path.join(os.environ['PF_BUILD_DIR'], 'tests', 'pf-notify-tool')
    if not tool or not os.access(tool, os.X_OK):
        print(f'1..0 # SKIP pf-notify-tool not found ({tool!r}): build it or set PF_NOTIFY_TOOL')
        sys.exit(77)
    if shutil.which('openssl') is None:
        print('1..0 # SKIP openssl not found: it makes the test CA')
        sys.exit(77)
    if not glob.glob('/usr/lib/*/gio/modules/libgio*tls.so') + glob.glob('/usr/lib/*/gio/modules/libgioopenssl.so'):
        print('1..0 # SKIP no GIO TLS backend: install glib-networking')
        sys.exit(77)
    return tool


class Tool:
    """pf-notify-tool: its JSON events (stdout) and its logs (stderr, debug on)."""

    def __init__(self, env, *args, kind='telegram'):
        self.env = env
        self.events = []
        self.queue = queue.Queue()
        self.stdout = []
        self.stderr = []
        e = dict(os.environ, G_MESSAGES_DEBUG='all', LC_ALL='C.UTF-8', TZ='UTC',
                 G_DEBUG='fatal-criticals')
        self.proc = subprocess.Popen([env.tool, '--' + kind, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=e)
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()
        env.tools.append(self)
        self.ready = self.wait(lambda e: e['event'] == 'ready', 5, 'ready')

    def _read_out(self):
        for line in self.proc.stdout:
            self.stdout.append(line)
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            self.events.append(doc)
            self.queue.put(doc)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def send(self, *lines):
        for line in lines:
            self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def wait(self, pred, timeout, what):
        """The first new event for which pred holds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'no {what} in {timeout} s; events: {self.events[-5:]}\n'
                                     + ''.join(self.stderr[-10:]))
            try:
                doc = self.queue.get(timeout=min(left, 0.2))
            except queue.Empty:
                assert self.proc.poll() is None, \
                    f'the tool exited ({self.proc.returncode}) waiting for {what}\n' + ''.join(self.stderr[-20:])
                continue
            if pred(doc):
                return doc

    def count(self, event):
        return sum(1 for e in self.events if e['event'] == event)

    def log(self):
        return ''.join(self.stderr)

    def wait_log(self, text, timeout=5):
        """Logs come on their own pipe: wait for a line to arrive."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f'no {text!r} in the logs:\n' + self.log()[-3000:]
            time.sleep(0.05)

    def stop(self):
        """End of input: the tool ends, its queue stays in its file."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.join(2)
        self._err.join(2)


class Env:
    def __init__(self, tool):
        self.tool = tool
        self.workdir = tempfile.mkdtemp(prefix='pf-notify-test-')
        self.pki = fake_notify.make_pki(self.workdir)
        self.token_file = os.path.join(self.workdir, 'token')
        with open(self.token_file, 'w') as f:
            f.write(TOKEN + '\n')
        self.tools = []
        self.fakes = []

    def fake(self):
        fake = fake_notify.FakeNotify(self.pki)
        self.fakes.append(fake)
        return fake

    def telegram(self, fake, *extra, ca=None):
        return Tool(self, '--api-url', fake.url, '--token-file', self.token_file, '--chat-id', CHAT,
                    '--ca-file', ca or self.pki['ca'], '--timeout', '3', *extra)

    def cleanup(self):
        for t in self.tools:
            t.stop()
        for f in self.fakes:
            f.stop()
        self.tools.clear()
        self.fakes.clear()

    def close(self):
        self.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)


def assert_no_secret(tool):
    out = ''.join(tool.stdout) + ''.join(tool.stderr)
    secret_half = TOKEN.split(':', 1)[1]
    assert secret_half not in out, 'the bot token shows in the tool\'s output or logs'
    assert 's3cr3t' not in out, 'the webhook header shows in the tool\'s output or logs'


def with_env(check):
    def run(env):
        try:
            check(env)
            for t in env.tools:
                t.stop()
                assert_no_secret(t)
        finally:
            env.cleanup()
    run.__name__ = check.__name__
    return run


def utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


def when(ts, now):
    """The time as the messages write it (English): the date only when another day."""
    t, n = utc(ts), utc(now)
    return t.strftime('%Y-%m-%d %H:%M:%S') if t.date() != n.date() else t.strftime('%H:%M:%S')


def idle(tool, timeout=15):
    tool.send('wait-idle')
    tool.wait(lambda e: e['event'] == 'idle', timeout, 'idle')


def send_message_path():
    return f'/bot{TOKEN}/sendMessage'


@with_env
def telegram_english(env):
    fake = env.fake()
    tool = env.telegram(fake, '--topic-id', '42', '--lang', 'en')
    tool.send('failover|primary|lte|primary down: 5/5 rounds lost <b>&</b>')
    idle(tool)
    assert tool.count('delivered') == 1, tool.events
    assert len(fake.requests) == 1, fake.requests
    req = fake.requests[0]
    assert req['path'] == send_message_path(), req['path']
    assert req['headers']['content-type'].startswith('application/json'), req['headers']
    assert req['body'] == {
        'chat_id': int(CHAT),
        'message_thread_id': 42,
        'text': '⚠️ Failover: primary → lte\nprimary down: 5/5 rounds lost &lt;b&gt;&amp;&lt;/b&gt;',
        'parse_mode': 'HTML',
        'disable_web_page_preview': True,
    }, req['body']


@with_env
def telegram_french(env):
    fake = env.fake()
    tool = Tool(env, '--api-url', fake.url + '/', '--token-file', env.token_file,
                '--chat-id', '@pvefailover_test', '--ca-file', env.pki['ca'], '--lang', 'fr')
    tool.send('uplink-down|primary||perte de porteuse > 3 s')
    idle(tool)
    assert len(fake.requests) == 1, fake.requests
    req = fake.requests[0]
    assert req['path'] == send_message_path(), req['path']
    assert req['body'] == {
        'chat_id': '@pvefailover_test',
        'text': '🔻 Lien coupé : primary\nperte de porteuse &gt; 3 s',
        'parse_mode': 'HTML',
        'disable_web_page_preview': True,
    }, req['body']


@with_env
def telegram_429_retry_after(env):
    fake = env.fake()
    fake.script('status 429 ' + json.dumps({
        'ok': False, 'error_code': 429, 'description': 'Too Many Requests: retry after 2',
        'parameters': {'retry_after': 2}}))
    tool = env.telegram(fake, '--backoff-ms', '100')
    tool.send('failover|primary|lte|down')
    failed = tool.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    assert failed['error'] == 'Telegram: HTTP 429: Too Many Requests: retry after 2', failed
    assert failed['retry_ms'] == 2000, failed
    tool.send('kick')   # a kick does not override what Telegram asked for
    tool.wait(lambda e: e['event'] == 'delivered', 10, 'the delivery')
    reqs = fake.requests
    assert len(reqs) == 2, reqs
    gap = reqs[1]['time'] - reqs[0]['time']
    assert gap >= 1.95, f'retried after {gap:.2f} s, not after retry_after (2 s)'
    assert reqs[0]['body'] == reqs[1]['body']
    tool.wait_log('Telegram: HTTP 429: Too Many Requests: retry after 2; retrying in 2 s')


@with_env
def telegram_5xx_then_ok(env):
    fake = env.fake()
    fake.script('status 502')
    tool = env.telegram(fake, '--backoff-ms', '200')
    tool.send('switch|lte|primary|operator request')
    failed = tool.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    assert failed['error'] == 'Telegram: HTTP 502: Bad Gateway', failed
    assert failed['retry_ms'] == 200, failed
    idle(tool)
    assert tool.count('delivered') == 1 and tool.count('failed') == 1, tool.events
    assert len(fake.requests) == 2, fake.requests
    assert fake.requests[0]['body'] == fake.requests[1]['body']
    assert fake.requests[1]['time'] - fake.requests[0]['time'] >= 0.19
    tool.wait_log('telegram: delivered 1 queued notice after 1 failed attempt')


@with_env
def telegram_timeout(env):
    fake = env.fake()
    fake.script('hang')
    tool = env.telegram(fake, '--backoff-ms', '200', '--timeout', '2')
    start = time.monotonic()
    tool.send('failover|primary|lte|down')
    failed = tool.wait(lambda e: e['event'] == 'failed', 10, 'the timeout')
    took = time.monotonic() - start
    assert failed['error'] == 'Telegram: timeout after 2 s', failed
    assert 2 <= took <= 4, f'timed out after {took:.1f} s'
    idle(tool)
    assert tool.count('delivered') == 1, tool.events
    assert len(fake.requests) == 2, fake.requests


@with_env
def outage_then_kick(env):
    fake = env.fake()
    fake.stop()
    tool = env.telegram(fake, '--backoff-ms', '60000')
    now = int(time.time())
    t = [now - 300, now - 200, now - 100]
    tool.send(f'failover|primary|lte|primary down: 5/5 rounds lost||{t[0]}')
    failed = tool.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    assert failed['error'].startswith('Telegram: '), failed
    assert failed['retry_ms'] == 60000, failed
    tool.send(f'uplink-up|primary||carrier back||{t[1]}',
              f'failback|lte|primary|primary healthy for 60 s||{t[2]}')
    tool.wait(lambda e: e['event'] == 'queued' and e['length'] == 3, 5, 'three queued')
    time.sleep(0.5)
    assert tool.count('failed') == 1 and not fake.requests, (tool.events, fake.requests)

    fake.start()
    tool.send('kick')
    delivered = tool.wait(lambda e: e['event'] == 'delivered', 10, 'the delivery')
    assert delivered['notices'] == 3, delivered
    assert len(fake.requests) == 1, fake.requests
    sent_at = time.time()
    text = fake.requests[0]['body']['text']
    # The summary's times are against the time of sending: same day or not.
    expected = (f'📋 3 events from {when(t[0], sent_at)} to {when(t[2], sent_at)}:\n'
                f'• {when(t[0], sent_at)} failover primary → lte: primary down: 5/5 rounds lost\n'
                f'• {when(t[1], sent_at)} uplink up primary: carrier back\n'
                f'• {when(t[2], sent_at)} failback lte → primary: primary healthy for 60 s')
    assert text == expected, (text, expected)
    tool.wait_log('telegram: delivered 3 queued notices after 1 failed attempt')


@with_env
def outage_single_delayed(env):
    """One notice sent late says when it happened."""
    fake = env.fake()
    fake.stop()
    tool = env.telegram(fake, '--backoff-ms', '60000', '--lang', 'fr')
    t0 = int(time.time()) - 120
    tool.send(f'failover|primary|lte|primary down||{t0}')
    tool.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    fake.start()
    tool.send('kick')
    tool.wait(lambda e: e['event'] == 'delivered', 10, 'the delivery')
    text = fake.requests[0]['body']['text']
    at = utc(t0)
    day = '' if at.date() == utc(time.time()).date() else at.strftime('le %d/%m/%Y ')
    assert text == f'⚠️ Bascule : primary → lte ({day}à {at.strftime("%H:%M:%S")})\nprimary down', text


@with_env
def flapping_link(env):
    fake = env.fake()
    # 6 a minute of 30 s: one message every 5 s at most.
    tool = env.telegram(fake, '--rate', '6', '--minute-ms', '30000')
    lines = []
    for i in range(20):
        kind = 'uplink-down' if i % 2 == 0 else 'uplink-up'
        lines += [f'{kind}|primary||flap {i:02d}', 'sleep 100']
    tool.send(*lines)
    tool.wait(lambda e: e['event'] == 'queued' and e['length'] >= 1 and
              sum(1 for x in tool.events if x['event'] == 'queued') == 20, 10, 'twenty queued')
    idle(tool, timeout=20)
    texts = [r['body']['text'] for r in fake.requests]
    assert 1 <= len(texts) <= 2, texts
    # All twenty, once each, in order.
    flaps = [line.rsplit('flap ', 1)[1][:2] for text in texts for line in text.split('\n') if 'flap ' in line]
    assert flaps == [f'{i:02d}' for i in range(20)], flaps
    assert texts[-1].startswith('📋 '), texts[-1]
    assert sum(e['notices'] for e in tool.events if e['event'] == 'delivered') == 20, tool.events


@with_env
def telegram_401_dropped(env):
    fake = env.fake()
    fake.script('status 401 ' + json.dumps({'ok': False, 'error_code': 401, 'description': 'Unauthorized'}))
    # The rejected message counts for the rate: one a second here.
    tool = env.telegram(fake, '--backoff-ms', '100', '--minute-ms', '6000')
    tool.send('failover|primary|lte|down')
    dropped = tool.wait(lambda e: e['event'] == 'dropped', 10, 'the drop')
    assert dropped == {'event': 'dropped', 'notices': 1, 'error': 'Telegram: HTTP 401: Unauthorized'}, dropped
    tool.wait_log('telegram: Telegram: HTTP 401: Unauthorized; 1 notice dropped')
    time.sleep(1)
    assert len(fake.requests) == 1, 'a rejected notice was sent again'
    assert tool.count('failed') == 0, tool.events
    # The next notice goes on its own.
    tool.send('failback|lte|primary|up')
    tool.wait(lambda e: e['event'] == 'delivered', 10, 'the next delivery')
    assert len(fake.requests) == 2, fake.requests


@with_env
def queue_survives_restart(env):
    fake = env.fake()
    fake.stop()
    path = os.path.join(env.workdir, 'state', 'notify-telegram.json')
    first = env.telegram(fake, '--backoff-ms', '60000', '--queue', path)
    now = int(time.time())
    first.send(f'failover|primary|lte|primary down||{now - 50}')
    first.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    first.send(f'usage|lte|||80% of 20 GB used|{now - 40}')
    first.wait(lambda e: e['event'] == 'queued' and e['length'] == 2, 5, 'two queued')
    first.stop()
    assert first.proc.returncode == 0, first.proc.returncode
    with open(path) as f:
        saved = json.load(f)
    assert [n['kind'] for n in saved['notices']] == ['failover', 'usage'], saved
    assert [n['time'] // 1000000 for n in saved['notices']] == [now - 50, now - 40], saved

    fake.start()
    second = env.telegram(fake, '--backoff-ms', '60000', '--queue', path)
    assert second.ready['length'] == 2, second.ready
    delivered = second.wait(lambda e: e['event'] == 'delivered', 10, 'the delivery')
    assert delivered['notices'] == 2, delivered
    text = fake.requests[0]['body']['text']
    assert text.startswith('📋 2 events from '), text
    assert text.index('failover primary → lte: primary down') < text.index('data usage lte: 80% of 20 GB used'), text
    with open(path) as f:
        assert json.load(f)['notices'] == []


@with_env
def webhook_json_and_header(env):
    fake = env.fake()
    url = fake.url + '/hooks/pvefailover?x=1'
    tool = Tool(env, '--url', url, '--header', 'Authorization: ' + HEADER_SECRET,
                '--ca-file', env.pki['ca'], kind='webhook')
    t0 = 1714658592   # 2024-05-02 14:03:12 UTC
    tool.send(f'failback|lte|primary|primary healthy for 300 s||{t0}')
    idle(tool)
    assert tool.count('delivered') == 1, tool.events
    assert len(fake.requests) == 1, fake.requests
    req = fake.requests[0]
    assert req['path'] == '/hooks/pvefailover?x=1', req['path']
    assert req['headers']['authorization'] == HEADER_SECRET, req['headers']
    assert req['headers']['content-type'].startswith('application/json'), req['headers']
    assert req['body'] == {
        'event': 'failback',
        'time': '2024-05-02T14:03:12+00:00',
        'from': 'lte',
        'to': 'primary',
        'reason': 'primary healthy for 300 s',
        'text': '✅ Failback: lte → primary (on 2024-05-02 at 14:03:12)\nprimary healthy for 300 s',
        'host': socket.gethostname(),
    }, req['body']

    # A 500 is retried; a 404 is dropped.
    fake.script('status 500', 'status 404')
    tool2 = Tool(env, '--url', url, '--header', 'Authorization: ' + HEADER_SECRET,
                 '--ca-file', env.pki['ca'], '--backoff-ms', '100', kind='webhook')
    tool2.send('test|||from the test')
    failed = tool2.wait(lambda e: e['event'] == 'failed', 10, 'the failure')
    assert failed['error'] == 'webhook: HTTP 500: Internal Server Error', failed
    dropped = tool2.wait(lambda e: e['event'] == 'dropped', 10, 'the drop')
    assert dropped['error'] == 'webhook: HTTP 404: Not Found', dropped


@with_env
def unknown_ca(env):
    fake = env.fake()
    tool = env.telegram(fake, '--backoff-ms', '60000', ca=env.pki['other_ca'])
    tool.send('failover|primary|lte|down')
    failed = tool.wait(lambda e: e['event'] == 'failed', 10, 'the TLS failure')
    assert failed['error'] == 'Telegram: Unacceptable TLS certificate (unknown CA)', failed
    time.sleep(0.5)
    assert fake.requests == [], 'a request got through an untrusted certificate'
    assert fake.tls_failures >= 1, fake.tls_failures
    assert tool.count('delivered') == 0, tool.events

    # Without ca-file, the system's CAs do not know the test CA either.
    plain = Tool(env, '--api-url', fake.url, '--token-file', env.token_file, '--chat-id', CHAT,
                 '--backoff-ms', '60000')
    plain.send('failover|primary|lte|down')
    failed = plain.wait(lambda e: e['event'] == 'failed', 10, 'the TLS failure')
    assert failed['error'] == 'Telegram: Unacceptable TLS certificate (unknown CA)', failed
    assert fake.requests == [], fake.requests


@with_env
def bad_settings(env):
    """Settings are refused before anything is sent, never quoting a secret."""
    bad = os.path.join(env.workdir, 'bad-token')
    with open(bad, 'w') as f:
        f.write('not a token s3cr3t\n')
    e = dict(os.environ, LC_ALL='C.UTF-8')
    for args, message in [
        (['--telegram', '--token-file', bad, '--chat-id', CHAT],
         f'pf-notify-tool: token-file: {bad} does not hold a bot token on its first line\n'),
        (['--webhook', '--url', 'https://127.0.0.1/', '--header', 's3cr3t'],
         'pf-notify-tool: header: expected “Name: value” on one line\n'),
        (['--webhook', '--url', 'https://127.0.0.1/', '--lang', 'de'],
         'pf-notify-tool: lang: “de” is neither en nor fr\n'),
    ]:
        proc = subprocess.run([env.tool, *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=e, timeout=10)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert proc.stderr == message, (proc.stderr, message)
        assert proc.stdout == '', proc.stdout


def main():
    env = Env(find_tool())
    try:
        return pftest.run([
            telegram_english,
            telegram_french,
            telegram_429_retry_after,
            telegram_5xx_then_ok,
            telegram_timeout,
            outage_then_kick,
            outage_single_delayed,
            flapping_link,
            telegram_401_dropped,
            queue_survives_restart,
            webhook_json_and_header,
            unknown_ca,
            bad_settings,
        ], env)
    finally:
        env.close()


if __name__ == '__main__':
    sys.exit(main())
