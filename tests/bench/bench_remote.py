#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench_remote.py: the benchmark of the remote-access features, in the lab, with the real
daemon and real NetworkManager.

Usage (root, /usr/bin/python3, from a built tree):

    tests/bench/bench_remote.py [--build DIR] [--trials N] [--sections a,b,c] [--seed S]
                                [--json-only] [--out FILE]

Output: the first line of stdout is one JSON document, {"pvefailover_bench_remote": {...}},
then a table of the figures, with the design's target where it has one (blackhole -> traffic
over the backup <= 2 s p95, for the tunnel and for IPv6); the other figures ("within
seconds" for a re-pin) are shown as "info". Progress goes to stderr. The exit status is 0
when the benchmark ran, even if a target was missed; 1 when it could not run (no binaries,
not root, an unknown section). Each section runs in a lab of its own with one daemon; a
section that fails (its lab does not come up, an event never comes) records its error in the
JSON ("errors" and the section's "error") and the others still run; a trial whose event never
comes is kept with its "error" and left out of the figures, which say how many failed.

Binaries: $PF_DAEMON and $PF_CLIENT (as tests/lab/pfdaemon.py finds them, else ./build);
--build DIR sets them from DIR.

Sections, --trials N (8) trials each, every fault after a random 0-1 s phase (of the probe
schedule) at t0; the default probe timings, failback-hold 5 s (as the lab tests), up-time 5 s:

 repin        a WireGuard tunnel (wireguard-go) from the host to the VPS in `remote`, following
              the default route, no keepalive on the host (only the daemon moves it), and
              [remote-access vpn] probing across it with endpoint= and peer-key=. Blackhole at
              t0; t_switch when ActiveUplink becomes lte (polled every 10 ms); t_new when the
              VPS sees the host's packets come from SRC_BACKUP (wg show endpoints in remote,
              every 20 ms). failover repin_s = t_new - t_switch, from_fault_s = t_new - t0.
              Then the blackhole is removed at t1: t_switch when ActiveUplink is primary again,
              t_new when the VPS sees SRC_PRIMARY; repin_s = t_new - t_switch, from_removal_s
              = t_new - t1 (hold and up-time included). "daemon_repin_s": the daemon's own
              last_repin_seconds (GetStatus remote_access) once it reported remote-repinned.
 out_of_band  the same tunnel and out-of-band=lte, fwmark=0x5100: it always rides the backup.
              As in test_remote, the mark is set on the running tunnel once the daemon runs
              (wireguard-go keeps the source address of its first handshake, through the
              primary, until its mark changes). Every trial: a ping from `remote` to the host's tunnel
              address every 0.2 s (lab.ping_loss in a thread) over a window from 1 s before
              the blackhole to 3 s after the failover, and another from the removal of the
              blackhole to hold + up-time + 4 s later, which must hold the failback switch
              ("switch_outside_window" counts those that did not). Lost pings in total and per
              switch (failover, failback). The endpoint the VPS sees is polled every 0.1 s the
              whole time: it must stay SRC_BACKUP ("endpoint_changes" counts departures from
              it, "endpoint_seen" the addresses seen).
 tunnel       Lab(tunnel=True): [uplink tunnel] via=lte server=... (VXLAN over the stick,
              cold standby). A UdpStream from guest-ok every 20 ms; blackhole at t0 -> the
              first packet from SRC_TUNNEL (failover_s). Removal at t1 (1 s after that
              packet) -> the first packet sent after t1 that arrives through the primary:
              failback raw, and overshoot = raw - hold - up-time (as bench.py). The tunnel's
              NetworkManager state once the daemon reports the failback (waited for up to
              10 s to become '' or 'deactivated'): "deactivated" counts the trials where it
              did, "states" what was seen.
 dns          Lab(host_resolv_conf=...): the host resolves through the ISP box (reachable
              only through the primary), the resolv.conf way; dns=198.51.100.53 on lte. The
              primary loses carrier at t0 (lab.primary_link(False)); from t0 a `getent hosts
              box.example` in host starts every 20 ms (each in a thread: one sent to the box
              waits its 1 s timeout); figures from the daemon's failover event: the first
              getent that answers, its completion (event_to_answer_s) and its start
              (event_to_start_s), and from t0 (from_fault_s); decision_s = t0 -> the event.
              After the failback (carrier back, ActiveUplink primary) the file must be
              byte-identical to the original: "restored" counts the trials where it was at
              once, "restored_within_2s" within 2 s.
 ipv6         Lab(ipv6=True), IPv6-only probe targets (icmp, tcp, http, dns over IPv6, quorum
              all, as test_ipv6): a UdpStream from the host to the IPv6 sink; blackhole at t0
              -> the first packet from SRC6_BACKUP (failover_s); removal -> the first packet
              sent after it via SRC6_PRIMARY (failback raw, overshoot as above).

Percentiles are nearest-rank (p95 of 8 values is the largest). Default run ≈ 10 minutes on
2 cores.

For meson: run_target('bench-remote', command: [python3, files('bench/bench_remote.py'),
'--build', meson.project_build_root()], depends: [pvefailoverd, pvefailoverctl]).
"""

import argparse
import datetime
import os
import platform
import random
import subprocess
import sys
import threading
import time

from bench import T0, BenchError, import_lab, pct, progress, r3, report, summary  # the main benchmark's helpers

HERE = os.path.dirname(os.path.abspath(__file__))
LAB_DIR = os.path.join(os.path.dirname(HERE), 'lab')

SECTIONS = ('repin', 'out_of_band', 'tunnel', 'dns', 'ipv6')
HOLD_S = 5.0
UP_TIME_S = 5.0                 # the default up-time of an uplink
FAILOVER_TIMEOUT = 15.0         # fault -> switch, and switch -> traffic or endpoint
FAILBACK_TIMEOUT = HOLD_S + UP_TIME_S + 30.0
OOB_MARK = 0x5100
TUNNEL_RETRY_S = 61.0           # a tunnel that failed is tried again 60 s later
PING_INTERVAL = 0.2
OOB_FAILOVER_WINDOW = 6.0       # 1 s before the blackhole, its failover (~2 s), 3 s after
DNS_NAME = 'box.example'
PUBLIC_DNS = '198.51.100.53'    # pflab.DNS_ADDR
HOST_RESOLV = ('# the admin\'s resolv.conf\n'
               'search lab.example\n'
               'nameserver 192.168.2.254\n'
               'options timeout:1 attempts:1\n')

def figure(trials, key):
    return summary([t[key] for t in trials if t.get(key) is not None])


# ----------------------------------------------------------------------------- waiting

def poll(predicate, timeout, interval):
    """time.monotonic() when predicate() first holds, None after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def need(t, what):
    """t from poll(); a trial whose event never came raises."""
    if t is None:
        raise BenchError(f'{what} never came')
    return t


def wait_active(d, uplink, timeout):
    return need(poll(lambda: d.prop('ActiveUplink') == uplink, timeout, 0.01),
                f'ActiveUplink {uplink} (within {timeout:g} s)')


def wait_steady(d, timeout=FAILBACK_TIMEOUT, extra=None):
    """Primary active and up, lte up (and extra()): ready for the next trial."""
    need(poll(lambda: d.prop('ActiveUplink') == 'primary' and d.uplink_prop('primary', 'Health') == 'up'
              and d.uplink_prop('lte', 'Health') == 'up' and (extra is None or extra()), timeout, 0.1),
         f'primary active and up, lte up (within {timeout:g} s)')


def wait_sent_via(stream, src, t, timeout):
    """The first packet of stream sent at t or later that arrived from src, None after timeout."""
    found = []
    poll(lambda: found.extend(x for x in stream.records() if x.src == src and x.sent >= t) or found,
         timeout, 0.02)
    return found[0] if found else None


def events_since(d, wall, kind, frm=None):
    """The daemon's events of kind (from frm) at or after wall: (wall-clock time, from, to,
    reason)."""
    return [(t / 1e6, f, to, reason) for t, k, f, to, reason in d.call('GetEvents', '(u)', 0)[0]
            if k == kind and t / 1e6 >= wall and (frm is None or f == frm)]


def start_lab(res, **kw):
    lab = pflab.Lab(**kw)
    lab.up()
    res['lab'] = lab.prefix
    lab.nm_wait_activated(pflab.LTE_CONNECTION, timeout=30)
    return lab


def start_daemon(lab, config, name):
    d = pfdaemon.Daemon(lab, config, name=name)
    d.start()
    wait_steady(d, timeout=60)
    return d


def clear_faults(lab):
    lab.blackhole(False)
    lab.primary_link(True)


def run_trials(section, res, n, rand, trial, settle):
    """n trials into res['trials']: a trial that raised is kept with its error. settle() must
    bring the lab back to a steady primary before the next one, else the section stops."""
    lab = res['_lab']
    for i in range(n):
        time.sleep(rand.uniform(0.0, 1.0))
        t = {}
        try:
            trial(t)
        except Exception as e:  # noqa: BLE001 - a failed trial is a result
            t['error'] = f'{type(e).__name__}: {e}'.splitlines()[0]
            clear_faults(lab)
        res['trials'].append(t)
        shown = {k: r3(v) if isinstance(v, float) else v for k, v in t.items() if k != 'error'}
        progress(f'{section} {i + 1}/{n}: ' + ', '.join(f'{k} {v}' for k, v in shown.items())
                 + (f' [{t["error"]}]' if 'error' in t else ''))
        settle()
    failed = [t for t in res['trials'] if 'error' in t]
    res['failed_trials'] = len(failed)
    if failed and len(failed) == len(res['trials']):
        raise BenchError(f'no trial completed: {failed[0]["error"]}')


# ----------------------------------------------------------------------------- WireGuard

def remote_access(d, name='vpn'):
    for r in d.status()['remote_access']:
        if r['name'] == name:
            return r
    raise BenchError(f'no remote access {name!r} in GetStatus')


def host_endpoint(lab, wg):
    """The address the VPS sees the host's tunnel packets come from ('' before any)."""
    return (lab.wg_show('remote', wg.remote_if, 'endpoints').get(wg.host_pubkey) or '').rsplit(':', 1)[0]


def wait_endpoint(lab, wg, address, timeout, interval=0.02):
    return need(poll(lambda: host_endpoint(lab, wg) == address, timeout, interval),
                f'the VPS seeing the host at {address} (within {timeout:g} s; it sees '
                f'{host_endpoint(lab, wg)!r})')


def vpn_config(wg, out_of_band=False):
    text = pfdaemon.lab_config(failback_hold=f'{HOLD_S:g}s') + f"""
[remote-access vpn]
type=wireguard
interface={wg.host_if}
probe={pflab.WG_REMOTE_ADDR}
interval=5s
"""
    if out_of_band:
        return text + f'out-of-band=lte\nfwmark=0x{OOB_MARK:x}\n'
    return text + f'endpoint={pflab.REMOTE_ADDR}:{wg.port}\npeer-key={wg.remote_pubkey}\n'


def daemon_repin(d, wall, timeout=10):
    """The daemon's last_repin_seconds once it reported remote-repinned for vpn since wall."""
    if poll(lambda: events_since(d, wall, 'remote-repinned', 'vpn'), timeout, 0.05) is None:
        return None
    return remote_access(d)['last_repin_seconds']


# ----------------------------------------------------------------------------- sections

def section_repin(res, a, rand):
    lab = res['_lab'] = start_lab(res)
    wg = lab.wireguard_up(keepalive=0)
    d = res['_daemon'] = start_daemon(lab, vpn_config(wg), 'pvefailoverd-repin')
    need(poll(lambda: remote_access(d)['state'] == 'up', 20, 0.1), 'vpn up')
    wait_endpoint(lab, wg, pflab.SRC_PRIMARY, 15)

    def trial(t):
        t0, w0 = time.monotonic(), time.time()
        lab.blackhole(True)
        try:
            t_switch = wait_active(d, 'lte', FAILOVER_TIMEOUT)
            t_new = wait_endpoint(lab, wg, pflab.SRC_BACKUP, FAILOVER_TIMEOUT)
            t['failover_repin_s'] = t_new - t_switch
            t['failover_from_fault_s'] = t_new - t0
            t['failover_daemon_repin_s'] = daemon_repin(d, w0)
        finally:
            t1, w1 = time.monotonic(), time.time()
            lab.blackhole(False)
        t_switch = wait_active(d, 'primary', FAILBACK_TIMEOUT)
        t_new = wait_endpoint(lab, wg, pflab.SRC_PRIMARY, FAILOVER_TIMEOUT)
        t['failback_repin_s'] = t_new - t_switch
        t['failback_from_removal_s'] = t_new - t1
        t['failback_daemon_repin_s'] = daemon_repin(d, w1)

    run_trials('repin', res, a.trials, rand, trial,
               lambda: wait_steady(d, extra=lambda: remote_access(d)['state'] == 'up'))
    tr = res['trials']
    res['failover'] = {'repin': figure(tr, 'failover_repin_s'), 'from_fault': figure(tr, 'failover_from_fault_s'),
                       'daemon_repin': figure(tr, 'failover_daemon_repin_s')}
    res['failback'] = {'repin': figure(tr, 'failback_repin_s'),
                       'from_removal': figure(tr, 'failback_from_removal_s'),
                       'daemon_repin': figure(tr, 'failback_daemon_repin_s')}


class EndpointWatch(threading.Thread):
    """Polls the endpoint the VPS sees every 0.1 s; counts departures from expected."""

    def __init__(self, lab, wg, expected):
        super().__init__(daemon=True)
        self.lab, self.wg, self.expected = lab, wg, expected
        self.stopping = threading.Event()
        self.samples, self.changes, self.seen, self.errors = 0, 0, {}, 0

    def run(self):
        last = self.expected
        while not self.stopping.wait(0.1):
            try:
                ep = host_endpoint(self.lab, self.wg)
            except Exception:  # noqa: BLE001 - a failed read is counted, not fatal
                self.errors += 1
                continue
            self.samples += 1
            self.seen[ep] = self.seen.get(ep, 0) + 1
            if last == self.expected and ep != self.expected:
                self.changes += 1
            last = ep

    def stop(self):
        self.stopping.set()
        self.join(5)


def pinged(lab, seconds, action):
    """Pings from remote to the host's tunnel address every PING_INTERVAL for seconds (a
    thread), while action() runs; returns (lost pings, pings, window start, window end, the
    result of action)."""
    count = int(round(seconds / PING_INTERVAL))
    out = {}

    def ping():
        try:
            out['loss'] = lab.ping_loss('remote', pflab.WG_HOST_ADDR, count=count, interval=PING_INTERVAL,
                                        timeout=1)
        except Exception as e:  # noqa: BLE001 - reported below
            out['error'] = str(e)
    th = threading.Thread(target=ping, daemon=True)
    start = time.monotonic()
    th.start()
    try:
        result = action()
    finally:
        th.join(seconds + 30)
    if 'loss' not in out:
        raise BenchError(f'the pinger failed: {out.get("error", "no result")}')
    return round(out['loss'] * count / 100.0), count, start, start + (count - 1) * PING_INTERVAL, result


def section_out_of_band(res, a, rand):
    lab = res['_lab'] = start_lab(res)
    # As test_remote: the tunnel up first, the daemon, then the mark set on the running tunnel
    # (wireguard-go forgets its cached source address when its mark changes; a mark set from
    # the start keeps the first path, the primary, that its first handshake took).
    wg = lab.wireguard_up(keepalive=0)
    d = res['_daemon'] = start_daemon(lab, vpn_config(wg, out_of_band=True), 'pvefailoverd-oob')
    lab.run('host', 'wg', 'set', wg.host_if, 'fwmark', f'0x{OOB_MARK:x}',
            'peer', wg.remote_pubkey, 'persistent-keepalive', '25')
    wait_endpoint(lab, wg, pflab.SRC_BACKUP, 15, interval=0.1)
    watch = EndpointWatch(lab, wg, pflab.SRC_BACKUP)
    watch.start()

    def trial(t):
        def failover():
            time.sleep(1.0)
            lab.blackhole(True)
            return wait_active(d, 'lte', FAILOVER_TIMEOUT)
        lost, sent, s, e, sw = pinged(lab, OOB_FAILOVER_WINDOW, failover)
        t.update(failover_lost=lost, failover_pings=sent, failover_in_window=s <= sw <= e - 1.0)

        def failback():
            lab.blackhole(False)
            return wait_active(d, 'primary', FAILBACK_TIMEOUT)
        lost, sent, s, e, sw = pinged(lab, HOLD_S + UP_TIME_S + 4.0, failback)
        t.update(failback_lost=lost, failback_pings=sent, failback_in_window=s <= sw <= e - 1.0)

    try:
        run_trials('out_of_band', res, a.trials, rand, trial, lambda: wait_steady(d))
    finally:
        watch.stop()
    tr = [t for t in res['trials'] if 'error' not in t]
    lost = {k: [t[f'{k}_lost'] for t in tr if f'{k}_lost' in t] for k in ('failover', 'failback')}
    res['pings_lost_total'] = sum(lost['failover']) + sum(lost['failback'])
    res['pings_total'] = sum(t.get('failover_pings', 0) + t.get('failback_pings', 0) for t in tr)
    res['lost_per_switch'] = {k: {'mean': r3(sum(v) / len(v)) if v else None, 'max': max(v) if v else None}
                              for k, v in lost.items()}
    res['switch_outside_window'] = sum(1 for t in tr for k in ('failover', 'failback')
                                       if t.get(f'{k}_in_window') is False)
    res['endpoint_changes'] = watch.changes
    res['endpoint_samples'] = watch.samples
    res['endpoint_seen'] = watch.seen
    res['endpoint_read_errors'] = watch.errors


def stream_trial(lab, d, t, s, new_src, old_src, active):
    """Blackhole -> the first packet from new_src; removal 1 s later -> the first packet sent
    after it from old_src (raw and overshoot). s: a started UdpStream."""
    if s.wait_arrival_via(old_src, after=time.monotonic(), timeout=5) is None:
        raise BenchError(f'the stream does not flow from {old_src} before the fault')
    t0 = time.monotonic()
    lab.blackhole(True)
    try:
        first = s.wait_arrival_via(new_src, after=t0, timeout=FAILOVER_TIMEOUT)
        if first is None:
            raise BenchError(f'no packet from {new_src} within {FAILOVER_TIMEOUT:g} s of the blackhole '
                             f'(ActiveUplink {d.prop("ActiveUplink")!r})')
        t['failover_s'] = first.recv - t0
        t['active'] = d.prop('ActiveUplink')
        if t['active'] != active:
            raise BenchError(f'ActiveUplink {t["active"]!r}, not {active!r}, after the failover')
        time.sleep(1.0)
    finally:
        t1 = time.monotonic()
        lab.blackhole(False)
    back = wait_sent_via(s, old_src, t1, FAILBACK_TIMEOUT)
    if back is None:
        raise BenchError(f'no packet back from {old_src} within {FAILBACK_TIMEOUT:g} s of the removal')
    t['failback_raw_s'] = back.recv - t1
    t['failback_overshoot_s'] = t['failback_raw_s'] - HOLD_S - UP_TIME_S
    wait_active(d, 'primary', 10)


def stream_figures(res):
    tr = res['trials']
    res['failover'] = figure(tr, 'failover_s')
    res['failback_raw'] = figure(tr, 'failback_raw_s')
    res['failback_overshoot'] = figure(tr, 'failback_overshoot_s')


def section_tunnel(res, a, rand):
    lab = res['_lab'] = start_lab(res, tunnel=True)
    config = pfdaemon.lab_config(failback_hold=f'{HOLD_S:g}s') + pfdaemon.TUNNEL_UPLINK
    d = res['_daemon'] = start_daemon(lab, config, 'pvefailoverd-tunnel')

    def trial(t):
        w0 = time.time()
        try:
            with lab.udp_stream('guest-ok') as s:
                stream_trial(lab, d, t, s, pflab.SRC_TUNNEL, pflab.SRC_PRIMARY, 'tunnel')
        finally:
            errors = [e for e in events_since(d, w0, 'error') if e[2] == 'tunnel']
            if errors:
                t['tunnel_error'] = errors[0][3]
                t['tunnel_error_wall'] = errors[0][0]
        poll(lambda: lab.tunnel_state() in ('', 'deactivated'), 10, 0.05)
        t['tunnel_state'] = lab.tunnel_state()

    def settle():
        # A tunnel that failed is not tried again for 60 s (PF_BRING_UP_RETRY_US): wait that
        # out, so that the next trial tries it again instead of measuring the stick.
        last = res['trials'][-1]
        if 'tunnel_error_wall' in last:
            wait = last.pop('tunnel_error_wall') + TUNNEL_RETRY_S - time.time()
            progress(f'tunnel: the daemon reported "{last["tunnel_error"]}"; waiting {max(wait, 0):.0f} s '
                     'for it to try the tunnel again')
            time.sleep(max(wait, 0))
        wait_steady(d)

    run_trials('tunnel', res, a.trials, rand, trial, settle)
    res['tunnel_errors'] = sum(1 for t in res['trials'] if 'tunnel_error' in t)
    stream_figures(res)
    states = [t['tunnel_state'] for t in res['trials'] if 'tunnel_state' in t]
    res['tunnel_states'] = {s or "''": states.count(s) for s in sorted(set(states))}
    res['deactivated'] = sum(1 for s in states if s in ('', 'deactivated'))
    res['deactivated_of'] = len(states)


class GetentPoller:
    """From start(): a `getent hosts NAME` in host every 20 ms, each in a thread, until one
    answers or timeout; first() -> (start, end, address) of the first that answered."""

    def __init__(self, lab, name, timeout):
        self.lab, self.name, self.timeout = lab, name, timeout
        self.lock = threading.Lock()
        self.answers = []
        self.attempts = 0

    def _one(self):
        s = time.monotonic()
        addr = self.lab.getent_hosts('host', self.name, timeout=5)
        if addr:
            with self.lock:
                self.answers.append((s, time.monotonic(), addr))

    def run(self):
        threads = []
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.answers:
                    break
            th = threading.Thread(target=self._one, daemon=True)
            th.start()
            threads.append(th)
            self.attempts += 1
            time.sleep(0.02)
        for th in threads:
            th.join(10)
        if not self.answers:
            return None
        return min(self.answers, key=lambda x: x[1])


def section_dns(res, a, rand):
    lab = res['_lab'] = start_lab(res, host_resolv_conf=HOST_RESOLV)
    d = res['_daemon'] = start_daemon(lab, pfdaemon.lab_config(failback_hold=f'{HOLD_S:g}s',
                                                               extra_backup=f'dns={PUBLIC_DNS}'),
                                      'pvefailoverd-dns')
    path = lab.host_resolv_conf_path()

    def text():
        with open(path, 'rb') as f:
            return f.read()
    original = text()
    if original != HOST_RESOLV.encode():
        raise BenchError(f'{path} is not the resolv.conf given to the lab: {original!r}')
    addr = lab.getent_hosts('host', DNS_NAME)
    if addr != pflab.BOX_DNS_NAMES[DNS_NAME]:
        raise BenchError(f'{DNS_NAME} resolves to {addr!r} through the box before any fault')

    def trial(t):
        t0, w0 = time.monotonic(), time.time()
        lab.primary_link(False)
        try:
            got = GetentPoller(lab, DNS_NAME, FAILOVER_TIMEOUT).run()
            ev = events_since(d, w0, 'failover')
            if not ev:
                raise BenchError('no failover event')
            t_event = t0 + (ev[0][0] - w0)
            t['decision_s'] = t_event - t0
            if got is None:
                raise BenchError(f'no getent answered within {FAILOVER_TIMEOUT:g} s of the carrier loss')
            t['event_to_answer_s'] = got[1] - t_event
            t['event_to_start_s'] = got[0] - t_event
            t['from_fault_s'] = got[1] - t0
            t['answer'] = got[2]
            t['resolver'] = 'public' if got[2] == pflab.HTTP_ADDR else 'box'
        finally:
            lab.primary_link(True)
        wait_active(d, 'primary', FAILBACK_TIMEOUT)
        t['restored'] = text() == original
        t['restored_within_2s'] = poll(lambda: text() == original, 2.0, 0.02) is not None

    run_trials('dns', res, a.trials, rand, trial, lambda: wait_steady(d))
    tr = res['trials']
    for k in ('decision_s', 'event_to_answer_s', 'event_to_start_s', 'from_fault_s'):
        res[k[:-2]] = figure(tr, k)
    done = [t for t in tr if 'restored' in t]
    res['restored'] = sum(1 for t in done if t['restored'])
    res['restored_within_2s'] = sum(1 for t in done if t['restored_within_2s'])
    res['restored_of'] = len(done)
    res['answers'] = sorted(set(t['answer'] for t in tr if 'answer' in t))


def section_ipv6(res, a, rand):
    lab = res['_lab'] = start_lab(res, ipv6=True)
    targets = (f'icmp:{pflab.TARGETS6[0]}', f'tcp:[{pflab.TARGETS6[1]}]:443',
               f'http://[{pflab.HTTP6_ADDR}]/health', f'dns:[{pflab.DNS6_ADDR}]/check.example')
    quorum = f'quorum={len(targets)}'
    config = pfdaemon.lab_config(failback_hold=f'{HOLD_S:g}s', targets=targets,
                                 allow=(pflab.GUEST_OK, pflab.GUEST_OK6), extra_primary=quorum,
                                 extra_backup=quorum)
    d = res['_daemon'] = start_daemon(lab, config, 'pvefailoverd-ipv6')

    def trial(t):
        with lab.udp_stream('host', dst=pflab.UDP_SINK6) as s:
            stream_trial(lab, d, t, s, pflab.SRC6_BACKUP, pflab.SRC6_PRIMARY, 'lte')

    run_trials('ipv6', res, a.trials, rand, trial, lambda: wait_steady(d))
    stream_figures(res)


RUNNERS = {'repin': section_repin, 'out_of_band': section_out_of_band, 'tunnel': section_tunnel,
           'dns': section_dns, 'ipv6': section_ipv6}


def run_section(name, a, rand):
    """One section in its own lab; its result, with 'error' if it failed (its lab's work
    directory is then kept, with every process's log)."""
    res = {'trials': []}
    t0 = time.monotonic()
    progress(f'{name}: starting')
    try:
        RUNNERS[name](res, a, rand)
    except Exception as e:  # noqa: BLE001 - record and go on with the next section
        res['error'] = f'{type(e).__name__}: {e}'.splitlines()[0]
        d = res.get('_daemon')
        if d is not None:
            res['daemon_log_tail'] = d.log().splitlines()[-30:]
    lab, d = res.pop('_lab', None), res.pop('_daemon', None)
    if d is not None:
        try:
            d.stop()
        except Exception as e:  # noqa: BLE001
            res.setdefault('error', f'the daemon did not stop: {e}'.splitlines()[0])
    if lab is not None:
        try:
            lab.down(keep_workdir='error' in res)
            if 'error' in res:
                res['workdir'] = lab.workdir
        except Exception as e:  # noqa: BLE001
            res.setdefault('error', f'the lab did not go down: {e}'.splitlines()[0])
    res['seconds'] = round(time.monotonic() - t0, 1)
    res['trials'] = [{k: r3(v) if isinstance(v, float) else v for k, v in t.items()} for t in res['trials']]
    progress(f'{name}: done in {res["seconds"]:.0f} s' + (f' [{res["error"]}]' if 'error' in res else ''))
    return res


# ----------------------------------------------------------------------------- output

def rows(r):
    """(key, label, figure text, target text, met: True/False/None for info)."""
    out = []
    s = r['sections']

    def secs(x):
        return '-' if x is None else f'{x:.3f} s'

    def failed(sec):
        return f' ({sec["failed_trials"]} of {len(sec["trials"])} failed)' if sec.get('failed_trials') else ''

    def timing(key, label, sec, fig, target=None):
        if sec is None:
            return
        fig = fig or {}
        text = (f'p50 {secs(fig.get("p50_s"))}, p95 {secs(fig.get("p95_s"))}, max {secs(fig.get("max_s"))}'
                if fig.get('n') else 'error') + failed(sec)
        met = None
        if target is not None:
            met = bool(fig.get('n')) and not sec.get('failed_trials') and fig['p95_s'] <= target
        out.append((key, label, text, f'p95 <= {target:g} s' if target is not None else 'info', met))

    def count(key, label, sec, text):
        if sec is not None:
            out.append((key, label, text if 'error' not in sec else 'error', 'info', None))

    rp = s.get('repin')
    if rp is not None:
        fo, fb = rp.get('failover', {}), rp.get('failback', {})
        timing('repin_failover', 're-pin after failover (switch -> VPS sees backup)', rp, fo.get('repin'))
        timing('repin_failover_from_fault', '  from the blackhole', rp, fo.get('from_fault'))
        timing('repin_failover_daemon', '  daemon last_repin_seconds', rp, fo.get('daemon_repin'))
        timing('repin_failback', 're-pin after failback (switch -> VPS sees primary)', rp, fb.get('repin'))
        timing('repin_failback_from_removal', '  from the removal (hold + up-time incl.)', rp, fb.get('from_removal'))
        timing('repin_failback_daemon', '  daemon last_repin_seconds', rp, fb.get('daemon_repin'))
    ob = s.get('out_of_band')
    if ob is not None and 'pings_total' in ob:
        lp = ob['lost_per_switch']
        count('oob_lost', 'out-of-band: pings lost (0.2 s) through switches', ob,
              f'{ob["pings_lost_total"]} of {ob["pings_total"]}; per failover mean {lp["failover"]["mean"]} '
              f'max {lp["failover"]["max"]}, per failback mean {lp["failback"]["mean"]} max {lp["failback"]["max"]}'
              + (f'; {ob["switch_outside_window"]} switches outside the ping window'
                 if ob['switch_outside_window'] else '') + failed(ob))
        count('oob_endpoint', 'out-of-band: VPS endpoint left SRC_BACKUP', ob,
              f'{ob["endpoint_changes"]} times in {ob["endpoint_samples"]} samples, seen '
              + ', '.join(f'{k or "none"} x{v}' for k, v in ob['endpoint_seen'].items()))
    elif ob is not None:
        count('oob_lost', 'out-of-band: pings lost through switches', ob, 'error')
    tu = s.get('tunnel')
    if tu is not None:
        timing('tunnel_failover', 'tunnel: blackhole -> guest via SRC_TUNNEL', tu, tu.get('failover'), 2.0)
        timing('tunnel_failback_overshoot', 'tunnel: failback beyond hold + up-time', tu,
               tu.get('failback_overshoot'))
        count('tunnel_deactivated', "tunnel: NM state '' or deactivated after failback", tu,
              f'{tu.get("deactivated")} of {tu.get("deactivated_of")} ({tu.get("tunnel_states")})')
        errors = [t['tunnel_error'] for t in tu['trials'] if 'tunnel_error' in t]
        count('tunnel_errors', 'tunnel: tried but did not carry traffic', tu,
              f'{len(errors)} of {len(tu["trials"])}' + (f' ("{errors[0]}")' if errors else ''))
    dn = s.get('dns')
    if dn is not None:
        timing('dns_decision', 'dns: carrier loss -> failover event', dn, dn.get('decision'))
        timing('dns_event_to_answer', 'dns: failover event -> first getent answer', dn, dn.get('event_to_answer'))
        timing('dns_from_fault', '  from the carrier loss', dn, dn.get('from_fault'))
        count('dns_restored', 'dns: resolv.conf byte-identical after failback', dn,
              f'{dn.get("restored")} of {dn.get("restored_of")} at once, {dn.get("restored_within_2s")} within 2 s')
    v6 = s.get('ipv6')
    if v6 is not None:
        timing('ipv6_failover', 'ipv6: blackhole -> host via SRC6_BACKUP', v6, v6.get('failover'), 2.0)
        timing('ipv6_failback_overshoot', 'ipv6: failback beyond hold + up-time', v6, v6.get('failback_overshoot'))
    return out


def table(r, rs):
    o = r['options']
    lines = [f'pvefailover remote-access benchmark: daemon {r.get("version", "?")}, {r["date"]}, '
             f'{r["host"]["cpus"]} CPUs, run {r["duration_s"] / 60:.1f} min',
             f'  default probe timings; failback-hold {HOLD_S:g} s, up-time {UP_TIME_S:g} s; {o["trials"]} trials '
             f'per section; sections {", ".join(o["sections"])}', '']
    if rs:
        w1 = max(len(x[1]) for x in rs)
        w2 = max(len(x[2]) for x in rs)
        w3 = max(len(x[3]) for x in rs)
        head = f'{"measure":<{w1}}  {"figure":<{w2}}  {"target":<{w3}}  verdict'
        lines += [head, '-' * len(head)]
        for _, label, fig, target, met in rs:
            verdict = 'info' if met is None else 'met' if met else 'MISSED'
            lines.append(f'{label:<{w1}}  {fig:<{w2}}  {target:<{w3}}  {verdict}')
    errs = r.get('errors') or {}
    if errs:
        lines.append('')
        lines += [f'error in {k}: {v}' for k, v in errs.items()]
    judged = [x for x in rs if x[4] is not None]
    missed = [x[0] for x in judged if not x[4]]
    lines += ['', f'{len(judged) - len(missed)} of {len(judged)} targets met'
              + (f'; MISSED: {", ".join(missed)}' if missed else '')]
    return '\n'.join(lines)


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description='pvefailover remote-access benchmark in the lab')
    ap.add_argument('--build', metavar='DIR', help='build directory (sets PF_DAEMON, PF_CLIENT, PF_BUILD_DIR)')
    ap.add_argument('--trials', type=int, default=8, help='trials per section (8)')
    ap.add_argument('--sections', default=','.join(SECTIONS), help=f'comma-separated, of {",".join(SECTIONS)}')
    ap.add_argument('--seed', type=int, help='seed for the random phases')
    ap.add_argument('--json-only', action='store_true', help='print only the JSON line')
    ap.add_argument('--out', metavar='FILE', help='also write the JSON there')
    a = ap.parse_args(argv)
    a.sections = [x.strip() for x in a.sections.split(',') if x.strip()]
    unknown = [x for x in a.sections if x not in SECTIONS]
    if unknown or not a.sections:
        ap.error(f'unknown section(s) {", ".join(unknown) or "(none given)"}; known: {", ".join(SECTIONS)}')
    if a.trials < 1:
        ap.error('--trials must be >= 1')
    return a


def locate_binaries(a):
    global pflab, pfdaemon
    pflab, pfdaemon = import_lab(a)
    if not os.access(pfdaemon.DAEMON, os.X_OK):
        raise BenchError(f'not built: {pfdaemon.DAEMON} (use --build DIR or set PF_DAEMON)')
    return pfdaemon.DAEMON


def daemon_version(daemon):
    try:
        cp = subprocess.run([daemon, '--version'], capture_output=True, text=True, timeout=10)
        return cp.stdout.strip().split()[-1] if cp.returncode == 0 and cp.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv=None):
    a = parse_args(argv)
    if os.geteuid() != 0:
        print('bench_remote.py: must run as root (network namespaces)', file=sys.stderr)
        return 1
    try:
        daemon = locate_binaries(a)
    except BenchError as e:
        print(f'bench_remote.py: {e}', file=sys.stderr)
        return 1
    rand = random.Random(a.seed)
    r = {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'host': {'cpus': os.cpu_count(), 'kernel': platform.release()},
        'daemon': daemon,
        'version': daemon_version(daemon),
        'options': {'trials': a.trials, 'sections': a.sections, 'seed': a.seed},
        'config': {'failback_hold_s': HOLD_S, 'up_time_s': UP_TIME_S, 'ping_interval_s': PING_INTERVAL,
                   'failover_timeout_s': FAILOVER_TIMEOUT, 'failback_timeout_s': FAILBACK_TIMEOUT},
        'sections': {},
        'errors': {},
    }
    progress(f'daemon {daemon}; sections {", ".join(a.sections)}, {a.trials} trials each')
    for name in a.sections:
        r['sections'][name] = run_section(name, a, rand)
        if 'error' in r['sections'][name]:
            r['errors'][name] = r['sections'][name]['error']
    r['duration_s'] = round(time.monotonic() - T0, 1)
    if not r['errors']:
        del r['errors']
    rs = rows(r)
    r['verdicts'] = {k: {'figure': fig, 'target': target, 'met': met} for k, _, fig, target, met in rs}
    report('pvefailover_bench_remote', r, a, table(r, rs))
    return 0


if __name__ == '__main__':
    sys.exit(main())
