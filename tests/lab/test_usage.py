#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Data usage of a backup, counted by the real daemon from the kernel counters of the
backup's interface in the lab: the count follows what really crosses the interface, an
alert threshold is an event once, the cap blocks the guests (cap-action=restrict) and a
correction lifts it, the count survives SIGKILL and restart, and pvefailoverctl usage
shows it all."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402
import pftest  # noqa: E402
from pfdaemon import ALL_ACTIONS, Daemon, lab_config  # noqa: E402

PLAN = 400_000          # bytes: a stream of 20 ms packets uses it up in well under a minute
USAGE_KEYS = f'plan={PLAN}\nusage-alerts=25;50;100\ncap-action=restrict\n'


def usage_events(d, since=0):
    return [e for e in d.call('GetEvents', '(u)', 0)[0][since:] if e[1] in ('usage', 'cap', 'cap-cleared')]


def iface_bytes(lab):
    return lab.iface_bytes('host', pflab.HOST_BACKUP_IF)


def wait_sampled(d, minimum, timeout=15):
    d.wait_for(lambda: d.uplink_prop('lte', 'UsageBytes') >= minimum, timeout, interval=0.5,
               what=f'UsageBytes >= {minimum}')
    return d.uplink_prop('lte', 'UsageBytes')


def check_standby_counts_only_monitoring(lab, d):
    d.wait_health('lte', 'up', timeout=30)
    assert d.uplink_prop('lte', 'PlanBytes') == PLAN
    assert d.uplink_prop('lte', 'CycleStart') > 0 and d.uplink_prop('lte', 'CycleEnd') > d.uplink_prop('lte', 'CycleStart')
    # The standby test went through the interface: it is all monitoring, and little.
    time.sleep(6)
    used = d.uplink_prop('lte', 'UsageBytes')
    monitoring = d.uplink_prop('lte', 'UsageMonitoringBytes')
    print(f'# hot standby: {used} B counted, {monitoring} B of it monitoring', flush=True)
    assert used < 5000, used
    assert 0 < monitoring <= used + 200, (monitoring, used)
    assert not d.uplink_prop('lte', 'Capped')


def check_traffic_is_counted_and_alerts_once(lab, d):
    before_count = d.uplink_prop('lte', 'UsageBytes')
    before_iface = iface_bytes(lab)
    since = len(d.call('GetEvents', '(u)', 0)[0])
    d.call('SetMode', '(ss)', 'force', 'lte')
    d.wait_active('lte', timeout=10)
    with lab.udp_stream('guest-ok', interval=0.005) as s:
        assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=5), 'the guest does not go through the backup'
        d.wait_for(lambda: any(e[1] == 'usage' and '50 %' in e[4] for e in usage_events(d, since)), 60,
                   interval=0.5, what='the 50 % alert')
    time.sleep(6)           # the next sample sees everything the stream sent
    counted = d.uplink_prop('lte', 'UsageBytes') - before_count
    crossed = iface_bytes(lab) - before_iface
    print(f'# counted {counted} B, the interface counters moved {crossed} B', flush=True)
    assert abs(counted - crossed) <= max(2000, crossed // 50), (counted, crossed)
    events = usage_events(d, since)
    for e in events:
        print(f'#   event {e[1]} {e[2]}: {e[4]}', flush=True)
    assert sum(1 for e in events if e[1] == 'usage' and e[4].startswith('25 %')) == 1, events
    assert sum(1 for e in events if e[1] == 'usage' and e[4].startswith('50 %')) == 1, events


def check_cap_restricts_the_guests(lab, d):
    since = len(d.call('GetEvents', '(u)', 0)[0])
    with lab.udp_stream('guest-ok', interval=0.005) as s:
        d.wait_for(lambda: d.uplink_prop('lte', 'Capped'), 90, interval=0.5, what='Capped')
        time.sleep(1)
        t = time.monotonic()
        time.sleep(2)
        late = s.count_via(pflab.SRC_BACKUP, after=t)
        assert late == 0, f'{late} guest packets through the backup after the cap (restrict)'
    events = usage_events(d, since)
    assert [e for e in events if e[1] == 'cap'], events
    assert 'plan used up: host only' in d.nft_table()
    # The host itself (its remote access) still goes out through the backup.
    assert lab.ping('host', pflab.TARGETS[0], count=2, timeout=2)
    assert d.uplink_prop('lte', 'UsagePercent') >= 100.0


def check_sigkill_and_restart_keep_the_count(lab, d):
    time.sleep(6)
    before = d.uplink_prop('lte', 'UsageBytes')
    iface_before = iface_bytes(lab)
    lab.ping_loss('host', pflab.TARGETS[0], count=20, interval=0.05)   # counted while it is dead
    d.kill()
    lab.ping_loss('host', pflab.TARGETS[0], count=20, interval=0.05)
    d.start()
    d.wait_for(lambda: d.uplink_prop('lte', 'UsageBytes') > 0, 15, what='the count restored')
    time.sleep(6)
    after = d.uplink_prop('lte', 'UsageBytes')
    moved = iface_bytes(lab) - iface_before
    print(f'# before SIGKILL {before} B; after restart {after} B; the interface moved {moved} B meanwhile',
          flush=True)
    # Nothing lost: the saved baseline (same interface) counts what happened meanwhile.
    assert after >= before + moved - 2000, (before, after, moved)
    assert d.uplink_prop('lte', 'Capped')
    # Still restricted after the restart, without a second "cap" event.
    assert 'plan used up: host only' in d.nft_table()


def check_correction_and_reset_from_the_client(lab, d):
    since = len(d.call('GetEvents', '(u)', 0)[0])
    cp = d.client('usage', 'lte', '--set', '100KB')
    assert cp.returncode == 0, cp.stderr
    d.wait_for(lambda: not d.uplink_prop('lte', 'Capped'), 5, what='not capped after --set')
    assert d.uplink_prop('lte', 'UsageBytes') < PLAN
    assert [e for e in usage_events(d, since) if e[1] == 'cap-cleared'], usage_events(d, since)
    assert 'plan used up' not in d.nft_table()
    with lab.udp_stream('guest-ok') as s:
        assert s.wait_arrival_via(pflab.SRC_BACKUP, timeout=5), 'the guest is still blocked after the correction'
    cp = d.client('usage', 'lte')
    assert cp.returncode == 0, cp.stderr
    print('\n'.join('# ' + line for line in cp.stdout.splitlines()), flush=True)
    assert cp.stdout.startswith('lte: '), cp.stdout
    assert 'at this pace' in cp.stdout
    cp = d.client('usage', '--json')
    doc = json.loads(cp.stdout)
    assert doc['lte']['plan'] == PLAN and 100000 <= doc['lte']['used'] < PLAN, doc
    assert doc['lte']['thresholds'] == [25, 50, 100]
    assert sum(doc['lte']['days']) > 0
    cp = d.client('usage', 'lte', '--reset')
    assert cp.returncode == 0, cp.stderr
    assert d.uplink_prop('lte', 'UsageBytes') < 5000
    cp = d.client('usage', 'lte', '--set', 'lots')
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    cp = d.client('usage', 'primary')
    assert cp.returncode == 1 and 'primary' in cp.stderr, (cp.returncode, cp.stderr)
    d.call('SetMode', '(ss)', 'auto', '')


def main():
    pftest.require_root()
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        d = Daemon(lab, lab_config(extra_backup=USAGE_KEYS), name='usage')
        d.start()
        rc = pftest.run([
            check_standby_counts_only_monitoring,
            check_traffic_is_counted_and_alerts_once,
            check_cap_restricts_the_guests,
            check_sigkill_and_restart_keep_the_count,
            check_correction_and_reset_from_the_client,
        ], lab, d)
        if rc:
            for line in d.log().splitlines()[-60:]:
                print('# ' + line)
        d.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
