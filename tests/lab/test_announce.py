#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Telling the admin, through the real daemon in the lab: a fake Telegram Bot API and a
fake webhook served over HTTPS (a test CA) in the inet namespace, reached through
whichever uplink works, and hooks in a hooks directory.

- pvefailoverctl notify-test reaches both, the token and the webhook's header stay secret;
- a 429 with retry_after and a 502 from Telegram and a hanging webhook are retried, and
  each message is delivered once;
- a failover and a failback are told in French (language=fr) and run the hooks, in order,
  with their arguments and environment; a failing hook is an event, once;
- during a total outage (primary blackholed, backup dead) the events wait in the queue and
  are delivered in order, marked with when they happened, as soon as the backup works;
- a flapping primary gives fewer messages than events (coalesced)."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_notify  # noqa: E402
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

HOLD = 5.0
PORT = 8443
TOKEN = '123456:pvefailover-TEST-token-never-shown'
HEADER_SECRET = 'Bearer lab-webhook-s3cret'

HOOK = """#!/bin/sh
echo "$1|$2|$3|$PVEFAILOVER_FROM|$PVEFAILOVER_TO|$PVEFAILOVER_EVENT|${STATE_DIRECTORY:+state}" >> "%s"
"""
FAILING_HOOK = """#!/bin/sh
[ "$1" = failback ] && { echo "cannot restore the jobs" >&2; exit 3; }
exit 0
"""


class Ctx:
    def __init__(self, lab, d, directory, hook_log):
        self.lab, self.d, self.dir, self.hook_log = lab, d, directory, hook_log

    def requests(self):
        return fake_notify.read_log(os.path.join(self.dir, 'requests.jsonl'))

    def telegram_texts(self, since=0):
        return [r['body']['text'] for r in self.requests()[since:] if r['path'].startswith('/bot')]

    def webhook_bodies(self, since=0):
        return [r['body'] for r in self.requests()[since:] if r['path'] == '/hook']

    def hooks_run(self):
        try:
            with open(self.hook_log) as f:
                return [line.rstrip('\n').split('|') for line in f]
        except FileNotFoundError:
            return []

    def wait_telegram(self, predicate, since, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.telegram_texts(since)
            if predicate(texts):
                return texts
            time.sleep(0.2)
        raise AssertionError(f'{what}: Telegram got {self.telegram_texts(since)}')


def config(directory, hooks_dir):
    token_file = os.path.join(directory, 'telegram.token')
    with open(token_file, 'w') as f:
        f.write(TOKEN + '\n')
    os.chmod(token_file, 0o600)
    url = f'https://{pflab.HTTP_ADDR}:{PORT}'
    ca = os.path.join(directory, 'ca.pem')
    text = lab_config(failback_hold=f'{HOLD:.0f}s').replace('[daemon]\n', '[daemon]\nlanguage=fr\n')
    return text + f"""
[notify telegram]
token-file={token_file}
chat-id=-1001234
topic-id=7
api-url={url}
ca-file={ca}

[notify hook]
type=webhook
url={url}/hook
header=Authorization: {HEADER_SECRET}
ca-file={ca}

[hooks]
directory={hooks_dir}
timeout=10s
"""


def check_notify_test_reaches_both(c):
    d = c.d
    d.wait_health('primary', 'up', timeout=20)
    n = len(c.requests())
    cp = d.client('notify-test')
    assert cp.returncode == 0, (cp.returncode, cp.stdout, cp.stderr)
    assert cp.stdout.splitlines() == ['telegram: delivered', 'hook: delivered'], cp.stdout
    reqs = c.requests()[n:]
    tg = [r for r in reqs if r['path'].startswith('/bot')]
    hook = [r for r in reqs if r['path'] == '/hook']
    assert len(tg) == 1 and len(hook) == 1, reqs
    assert tg[0]['path'] == f'/bot{TOKEN}/sendMessage', tg[0]['path']
    assert tg[0]['body']['chat_id'] in ('-1001234', -1001234), tg[0]['body']
    assert tg[0]['body']['message_thread_id'] == 7, tg[0]['body']
    assert hook[0]['headers'].get('authorization') == HEADER_SECRET, hook[0]['headers']
    assert hook[0]['body']['event'] == 'test', hook[0]['body']


def check_failover_and_failback_told_and_hooked(c):
    lab, d = c.lab, c.d
    n = len(c.requests())
    hooks_before = len(c.hooks_run())
    events_before = len(d.call('GetEvents', '(u)', 0)[0])
    lab.blackhole(True)
    d.wait_active('lte', timeout=10)
    texts = c.wait_telegram(lambda t: any('bascule' in x.lower() for x in t), n, 40, 'the failover message')
    print('# telegram: ' + ' / '.join(t.replace('\n', ' ') for t in texts), flush=True)
    assert any('primary → lte' in x for x in texts if 'bascule' in x.lower()), texts
    lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 30)
    c.wait_telegram(lambda t: any('retour' in x.lower() for x in t), n, 40, 'the failback message')
    d.wait_for(lambda: any(h[0] == 'failback' for h in c.hooks_run()[hooks_before:]), 15,
               what='the failback hook')
    runs = c.hooks_run()[hooks_before:]
    for r in runs:
        print('#   hook ' + '|'.join(r), flush=True)
    kinds = [r[0] for r in runs]
    assert kinds.index('failover') < kinds.index('failback'), kinds
    fo = runs[kinds.index('failover')]
    assert fo[1:3] == ['primary', 'lte'] and fo[3:6] == ['primary', 'lte', 'failover'], fo
    assert fo[6] == 'state', fo
    # The failing hook is one event, and the failure is not hooked again.
    d.wait_for(lambda: any(e[1] == 'hook-failed' for e in d.call('GetEvents', '(u)', 0)[0][events_before:]),
               15, what='a hook-failed event')
    failed = [e for e in d.call('GetEvents', '(u)', 0)[0][events_before:] if e[1] == 'hook-failed']
    assert len(failed) == 1 and '90-fails' in failed[0][4] and 'status 3' in failed[0][4], failed
    assert not any(r[0] == 'hook-failed' for r in c.hooks_run()), c.hooks_run()


def check_refusals_and_errors_of_the_services(c):
    """A 429 with retry_after and a 502 from Telegram, a hanging webhook: each retried, each
    message delivered once, Telegram not asked again before retry_after."""
    lab, d = c.lab, c.d
    time.sleep(12)
    n = len(c.requests())
    with open(os.path.join(c.dir, 'answers'), 'w') as f:
        f.write('/bot status 429 {"ok": false, "error_code": 429, "description": '
                '"Too Many Requests: retry after 4", "parameters": {"retry_after": 4}}\n'
                '/bot status 502\n'
                '/hook hang\n')
    d.call('SetMode', '(ss)', 'maintenance', '')
    tg = c.wait_telegram(lambda t: len(t) >= 3, n, 60, 'three attempts at Telegram')
    reqs = [r for r in c.requests()[n:] if r['path'].startswith('/bot')]
    gap = reqs[1]['wall'] - reqs[0]['wall']
    print(f'# Telegram: 429, then {gap:.1f} s later 502, then delivered', flush=True)
    assert gap >= 4.0, gap
    assert len(set(tg)) == 1, tg            # the same message each time
    d.wait_for(lambda: len([r for r in c.requests()[n:] if r['path'] == '/hook']) >= 2, 60, interval=0.5,
               what='the webhook retried after hanging')
    time.sleep(3)
    assert len(c.telegram_texts(n)) == 3, c.telegram_texts(n)
    log = d.log()
    assert 'HTTP 429' in log or 'retry after 4' in log, log[-2000:]
    assert 'HTTP 502' in log, log[-2000:]
    assert 'timeout after' in log, log[-2000:]
    d.call('SetMode', '(ss)', 'auto', '')


def check_total_outage_delivered_in_order_afterwards(c):
    lab, d = c.lab, c.d
    time.sleep(12)          # the rate limit's spacing from the previous messages
    n = len(c.requests())
    lab.backup_dead(True)
    lab.blackhole(True)
    t0 = time.time()
    d.wait_for(lambda: d.uplink_prop('lte', 'Health') == 'down' and d.uplink_prop('primary', 'Health') == 'down',
               30, what='both uplinks down')
    # Longer than a minute, so that the messages say when things happened.
    time.sleep(max(0.0, 65 - (time.time() - t0)))
    during = [r for r in c.requests()[n:] if r['wall'] < time.time()]
    assert not during, f'{len(during)} requests reached the fake during the total outage'
    events = [e for e in d.call('GetEvents', '(u)', 0)[0] if e[0] / 1e6 >= t0 - 1]
    print('# events during the outage: ' + ', '.join(f'{e[1]} {e[2]}' for e in events), flush=True)
    lab.backup_dead(False)
    texts = c.wait_telegram(lambda t: len(t) > 0, n, 90, 'delivery after the outage')
    text = '\n'.join(texts)
    print('# delivered after the outage: ' + text.replace('\n', ' / '), flush=True)
    # In order: the failover before lte going down.
    fo = text.lower().find('bascule')
    assert fo >= 0, text
    down_lte = [m.start() for m in re.finditer(r'lte', text)]
    assert down_lte and max(down_lte) > fo, text
    # Marked with when it happened (HH:MM:SS of the failover event, local time).
    first = time.strftime('%H:%M:%S', time.localtime(events[0][0] / 1e6))
    assert first[:5] in text, (first, text)
    bodies = c.webhook_bodies(len(c.requests()) - len(c.requests()[n:]))
    assert bodies, 'the webhook got nothing after the outage'
    lab.blackhole(False)
    d.wait_active('primary', timeout=HOLD + 30)


def check_flapping_is_coalesced(c):
    lab, d = c.lab, c.d
    time.sleep(12)
    n = len(c.requests())
    e0 = len(d.call('GetEvents', '(u)', 0)[0])
    for _ in range(3):
        lab.primary_link(False)
        d.wait_active('lte', timeout=5)
        lab.primary_link(True)
        d.wait_active('primary', timeout=HOLD + 30)
    time.sleep(25)          # what was waiting goes out
    events = [e for e in d.call('GetEvents', '(u)', 0)[0][e0:] if e[1] not in ('reload',)]
    texts = c.telegram_texts(n)
    print(f'# flapping: {len(events)} events, {len(texts)} Telegram messages', flush=True)
    assert len(events) >= 6, events
    assert 0 < len(texts) <= len(events) // 2, (len(texts), len(events), texts)


def check_secrets_never_shown(c):
    log = c.d.log()
    assert TOKEN not in log and TOKEN.split(':')[1] not in log
    assert HEADER_SECRET not in log and 's3cret' not in log
    status = c.d.client('status', '--json').stdout
    assert TOKEN not in status and 's3cret' not in status


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        directory = os.path.join(lab.workdir, 'notify')
        os.makedirs(directory)
        fake_notify.make_pki(directory, ip=pflab.HTTP_ADDR)
        server = lab.spawn('inet', '/usr/bin/python3', fake_notify.__file__, 'serve', directory,
                           pflab.HTTP_ADDR, str(PORT))
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(directory, 'ready')):
            assert time.monotonic() < deadline and server.poll() is None, 'the fake API did not start'
            time.sleep(0.05)
        hooks_dir = os.path.join(lab.workdir, 'hooks.d')
        os.makedirs(hooks_dir)
        hook_log = os.path.join(lab.workdir, 'hooks.log')
        for name, text in (('50-record', HOOK % hook_log), ('90-fails', FAILING_HOOK)):
            path = os.path.join(hooks_dir, name)
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, 0o755)
        d = Daemon(lab, config(directory, hooks_dir), name='announce')
        d.start()
        rc = pftest.run([
            check_notify_test_reaches_both,
            check_failover_and_failback_told_and_hooked,
            check_refusals_and_errors_of_the_services,
            check_total_outage_delivered_in_order_afterwards,
            check_flapping_is_coalesced,
            check_secrets_never_shown,
        ], Ctx(lab, d, directory, hook_log))
        if rc:
            for line in d.log().splitlines()[-80:]:
                print('# ' + line)
        d.stop()
        server.send_signal(signal.SIGTERM)
    return rc


if __name__ == '__main__':
    sys.exit(main())
