#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench.py: the pvefailover benchmark, in the lab, with the real daemon and real NetworkManager.

Usage (root, /usr/bin/python3, from a built tree):

    tests/bench/bench.py [--build DIR] [--trials N] [--loss-minutes M] [--standby-minutes M]
                         [--test-minutes M] [--idle-seconds S] [--cold-trials N]
                         [--cold-idle-minutes M] [--hold S] [--quick] [--json-only] [--out FILE]

Output: the first line of stdout is one JSON document, {"pvefailover_bench": {...}}, then a
table compares each figure with its target (the Performance table of the design) and marks it
"met" or "MISSED". Progress goes to stderr. The exit status is 0 when the benchmark ran, even
if a target was missed; 1 when it could not run (no binaries, not root, the lab did not come
up). A section that fails on its own (e.g. the daemon never failed over) is reported with its
error in the JSON and counts as missed; the other sections still run.

Binaries: $PF_DAEMON and $PF_CLIENT (as tests/lab/pfdaemon.py finds them, else ./build), the
engine benchmark at $PF_BUILD_DIR/tests/bench-engine; --build DIR sets all three from DIR.

What is measured, in this order (default run ≈ 45 minutes on 2 cores; --quick ≈ 14 minutes):

 engine      tests/bench-engine with its defaults (a simulated year at 25 % probe loss, 1000
             blackhole trials), run first while the machine is quiet; its JSON is "engine".
 blackhole   --trials N (10) times: a UdpStream from guest-ok every 20 ms, flowing through the
             primary; after a random 0-1 s (a random phase of the probe schedule) the box
             drops everything (lab.blackhole) at t0; the figure is t0 → the first packet of the
             stream that arrives through the backup (source SRC_BACKUP). p50, p95, max. Also
             "decision_s": t0 → the daemon's failover event.
 carrier     the same with lab.primary_link(False) (vmbr0 loses carrier).
 failback    on every blackhole and carrier trial, 1 s after the failover the fault is removed
             at t1; raw = t1 → the first packet of the stream sent after t1 that arrives
             through the primary (a packet queued on vmbr0 when it lost carrier comes out when
             the link returns: "stale_primary_packets", not counted);
             overshoot = raw - failback-hold - up-time (the configured hold and up-time, the
             minimum the daemon must wait by design), also per fault. For carrier trials it
             counts from "carrier_delay_s", when vmbr0 in host is operationally up again
             (a helper polls /sys/class/net/vmbr0/operstate every 2 ms): the kernel's link
             watcher makes a returning carrier usable (operstate up, qdisc on) only up to 1 s
             after the peer is set up, and the primary cannot be healthy before that;
             "overshoot_from_removal_*" counts from t1 for every fault. "primary_up_s" is t1 →
             the daemon's uplink-up event for the primary where it emits one (after a carrier
             loss it goes down → unknown → up without that event). Flows left: once the
             daemon reports the failback (ActiveUplink 'primary', polled every 10 ms from the
             first packet back; it flushes just before), the conntrack entries in host with
             the lte egress mark (conntrack -L --mark 0x20000/0xff0000; the count at the first
             packet is kept too) and, 1 s later, the stream packets that still arrived
             through the backup later than 0.2 s after the first packet back. Before the next trial
             the daemon must be back on the primary with the primary 'up'.
 loss        lab.loss(25) for --loss-minutes (10); failover events (GetEvents, kinds failover
             and switch) counted from the start of the window; the primary's Loss property is
             read every second (max and mean), a guest-ok stream checks that nothing left by
             the backup.
 standby     hot standby, primary healthy, the default standby-test-interval (30min):
             the bytes on the backup interface in host (rx + tx interface counters, so ARP
             and everything else is included) over --standby-minutes (10), and the standby
             tests the daemon ran in that window (counted from its log). Then the daemon is
             restarted with standby-test-interval=1min and the same is measured over
             --test-minutes (5; the window starts 30 s after a test so that it holds whole
             tests). The idle rate r and the bytes per test p solve
             idle_bytes = r × idle_window + idle_tests × p, test_bytes = r × test_window +
             tests × p (with no test in the idle window: r = idle_bytes / idle_window, p =
             (test_bytes - r × test_window) / tests). Per month at the defaults:
             p × 48 × 30 + r × 30 days. "frames" break both windows down by kind (ARP, ICMP,
             ...) from a packet capture on the interface; the IP figures ("ip_...", what the
             carrier bills) leave out ARP and the frames to or from the stick's management
             address (its API, polled while the link is up: never on the mobile network).
             "daemon_bytes_per_test" is the daemon's own estimate (its log), for comparison.
 footprint   during the first --idle-seconds (60) of the idle standby window, with no D-Bus
             call to the daemon: CPU = utime+stime delta of the daemon process (found by its
             executable inside the lab's spawn) / CLK_TCK / seconds, as % of one core; VmRSS
             and VmHWM from /proc/PID/status at the end of the idle window (the daemon has
             then been through every failover above). "floor": the same of tests/rss-floor, a
             program linked against the daemon's libraries that only runs an idle main loop
             (5 s after its start; its mapped libraries are compared with the daemon's), and
             "own_rss_mb", the daemon's VmRSS less that floor.
 cold        the daemon restarted with standby=cold (the stick's NetworkManager connection is
             down in standby): --cold-trials N (10) blackhole trials as above, so the figure
             includes the connection's bring-up (and the failback its deactivation); then
             --cold-idle-minutes (2) idle at the default test interval and --test-minutes at
             standby-test-interval=1min, solved as for hot standby: the IP bytes one cold
             standby test (up, probe, down) costs, per month at the default 30 min. These
             figures have no target in the design: the table shows them as "info".

The probe timings are the defaults (interval 500 ms, fast 100 ms, timeout 400 ms, 5 rounds
down, 10 rounds and 5 s up); only failback-hold is shortened (--hold, 5 s) to keep the run
short, and reported. Percentiles are nearest-rank (p95 of 10 values is the largest).
Units: KB = 1000 bytes, MB = 1000000 bytes.

For meson: run_target('bench', command: [python3, files('bench/bench.py'), '--build',
meson.project_build_root()], depends: [pvefailoverd, pvefailoverctl, bench_engine]).
"""

import argparse
import datetime
import json
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB_DIR = os.path.join(os.path.dirname(HERE), 'lab')

CT_MASK = 0x00ff0000
LTE_CT_MARK = 2 << 16          # uplink index 1 -> (1 + 1) << 16, as in test_failover.py
KB = 1000.0
MB = 1000.0 * 1000.0

T0 = time.monotonic()


def progress(msg):
    el = time.monotonic() - T0
    sys.stderr.write(f'[bench {int(el) // 60:02d}:{el % 60:04.1f}] {msg}\n')
    sys.stderr.flush()


class BenchError(Exception):
    pass


def pct(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def r3(x):
    return None if x is None else round(x, 3)


def summary(values):
    return {'n': len(values), 'p50_s': r3(pct(values, 50)), 'p95_s': r3(pct(values, 95)),
            'max_s': r3(max(values) if values else None),
            'min_s': r3(min(values) if values else None)}


# ----------------------------------------------------------------------------- options

def parse_args(argv):
    ap = argparse.ArgumentParser(description='pvefailover benchmark in the lab (real daemon, real NM)')
    ap.add_argument('--build', metavar='DIR', help='build directory (sets PF_DAEMON, PF_CLIENT, PF_BUILD_DIR)')
    ap.add_argument('--trials', type=int, help='blackhole and carrier-loss trials each (10)')
    ap.add_argument('--loss-minutes', type=float, help='minutes at 25 %% loss (10)')
    ap.add_argument('--standby-minutes', type=float, help='idle hot-standby window, minutes (10)')
    ap.add_argument('--test-minutes', type=float,
                    help='window with standby-test-interval=1min, minutes (5)')
    ap.add_argument('--idle-seconds', type=float, help='idle CPU measurement, seconds (60)')
    ap.add_argument('--cold-trials', type=int, help='blackhole trials with a cold-standby backup (10)')
    ap.add_argument('--cold-idle-minutes', type=float, help='idle cold-standby window, minutes (2)')
    ap.add_argument('--hold', type=float, default=5.0, help='failback-hold in seconds (5)')
    ap.add_argument('--quick', action='store_true',
                    help='smoke run: 3 trials, 2 min loss, 2 min standby, 2 min tests, 20 s idle')
    ap.add_argument('--json-only', action='store_true', help='print only the JSON line')
    ap.add_argument('--out', metavar='FILE', help='also write the JSON there')
    ap.add_argument('--seed', type=int, help='seed for the random phases')
    a = ap.parse_args(argv)
    quick = {'trials': 3, 'loss_minutes': 2, 'standby_minutes': 2, 'test_minutes': 2, 'idle_seconds': 20,
             'cold_trials': 3, 'cold_idle_minutes': 1}
    full = {'trials': 10, 'loss_minutes': 10, 'standby_minutes': 10, 'test_minutes': 5, 'idle_seconds': 60,
            'cold_trials': 10, 'cold_idle_minutes': 2}
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.trials < 1 or a.cold_trials < 1 or a.cold_idle_minutes <= 0 or a.loss_minutes <= 0 or a.standby_minutes <= 0 or a.test_minutes < 1 \
            or a.idle_seconds <= 0 or a.hold < 0:
        ap.error('trials ≥ 1, minutes > 0, --test-minutes ≥ 1, --idle-seconds > 0, --hold ≥ 0')
    if a.idle_seconds > a.standby_minutes * 60:
        ap.error('--idle-seconds must fit in the standby window')
    return a


def report(name, r, a, text):
    """The JSON document {name: r} on one line (and in --out), then the table text."""
    doc = json.dumps({name: r}, separators=(',', ':'))
    print(doc, flush=True)
    if a.out:
        with open(a.out, 'w') as f:
            f.write(doc + '\n')
    if not a.json_only:
        print()
        print(text, flush=True)


def import_lab(a):
    """--build DIR sets PF_BUILD_DIR, PF_DAEMON and PF_CLIENT; then the lab's modules are
    imported (they read those): returns (pflab, pfdaemon)."""
    if a.build:
        b = os.path.abspath(a.build)
        os.environ['PF_BUILD_DIR'] = b
        os.environ['PF_DAEMON'] = os.path.join(b, 'src', 'pvefailoverd')
        os.environ['PF_CLIENT'] = os.path.join(b, 'src', 'pvefailoverctl')
    sys.path.insert(0, LAB_DIR)
    import pflab       # noqa: E402
    import pfdaemon    # noqa: E402
    return pflab, pfdaemon


def locate_binaries(a):
    global pflab, pfdaemon
    pflab, pfdaemon = import_lab(a)
    build = os.environ.get('PF_BUILD_DIR', pfdaemon._BUILD)
    engine = os.path.join(build, 'tests', 'bench-engine')
    floor = os.path.join(build, 'tests', 'rss-floor')
    missing = [p for p in (pfdaemon.DAEMON, engine, floor) if not os.access(p, os.X_OK)]
    if missing:
        raise BenchError('not built: ' + ', '.join(missing) + ' (use --build DIR or set PF_DAEMON, PF_BUILD_DIR)')
    return pfdaemon.DAEMON, engine, floor


# ----------------------------------------------------------------------------- engine

def run_engine(engine):
    progress(f'engine: {engine} (a simulated year at 25 % loss)')
    cp = subprocess.run([engine], capture_output=True, text=True, timeout=900)
    if cp.returncode != 0:
        raise BenchError(f'bench-engine exited with {cp.returncode}: {cp.stderr.strip()}')
    first = cp.stdout.splitlines()[0] if cp.stdout else ''
    result = json.loads(first)
    progress(f'engine: {result.get("false_failovers")} false failovers, '
             f'blackhole p95 {result.get("blackhole_p95_s")} s')
    return result


# ----------------------------------------------------------------------------- daemon helpers

class Bench:
    def __init__(self, lab, a):
        self.lab = lab
        self.a = a
        self.d = None
        self.floor = None               # tests/rss-floor
        self.standby = 'hot'
        self.rand = random.Random(a.seed)

    def config(self, standby_test_interval='30min', standby='hot'):
        return pfdaemon.lab_config(failback_hold=f'{self.a.hold:g}s', standby=standby,
                                   standby_test_interval=standby_test_interval)

    def start_daemon(self, standby_test_interval='30min', standby='hot'):
        if self.d is not None:
            self.d.stop()
        if standby == 'hot' and self.lab.nm_connection_state(pflab.LTE_CONNECTION) != 'activated':
            # a cold daemon before left the stick down: hot standby keeps it up
            self.lab.nmcli('connection', 'up', pflab.LTE_CONNECTION)
            self.lab.nm_wait_activated(pflab.LTE_CONNECTION, timeout=30)
        self.standby = standby
        self.d = pfdaemon.Daemon(self.lab, self.config(standby_test_interval, standby),
                                 name=f'pvefailoverd-{standby}-{standby_test_interval}')
        self.d.start()
        self.wait_steady(timeout=60)

    def ensure_daemon(self):
        """After a section failed: a dead daemon is restarted so that the rest can run."""
        if self.d.proc.poll() is not None:
            progress(f'daemon died with {self.d.proc.returncode}; restarting it')
            self.d.start()

    def clear_faults(self):
        self.lab.blackhole(False)
        self.lab.primary_link(True)
        self.lab.loss(0)

    def wait_steady(self, timeout=60):
        """Primary active and up, backup up (its standby test passed); a cold backup down again."""
        d = self.d
        d.wait_for(lambda: d.prop('ActiveUplink') == 'primary' and
                   d.uplink_prop('primary', 'Health') == 'up' and
                   d.uplink_prop('lte', 'Health') == 'up' and
                   (self.standby == 'hot' or self.lte_down()),
                   timeout=timeout, interval=0.1, what='primary active and up, lte up')

    def lte_down(self):
        return self.lab.nm_connection_state(pflab.LTE_CONNECTION) in ('', 'deactivated')

    def events_since(self, wall):
        events = self.d.call('GetEvents', '(u)', 0)[0]
        return [(t / 1e6, kind, frm, to, reason) for t, kind, frm, to, reason in events if t / 1e6 >= wall]

    def conntrack_lte(self):
        r = self.lab.conntrack('host', '-L', '--mark', f'{LTE_CT_MARK:#x}/{CT_MASK:#x}')
        return [line for line in r.stdout.splitlines() if line.strip()]

    def daemon_pid(self):
        """The pvefailoverd process inside the lab's spawn (ip netns exec execs it, but check)."""
        root = self.d.proc.pid
        cand = [root]
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    with open(f'/proc/{entry}/stat') as f:
                        fields = f.read().rsplit(')', 1)[1].split()
                    if int(fields[2]) == root:      # process group: spawn() starts a new session
                        cand.append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        for pid in cand:
            try:
                if os.path.basename(os.readlink(f'/proc/{pid}/exe')) == 'pvefailoverd':
                    return pid
            except OSError:
                pass
        raise BenchError(f'no pvefailoverd process under pid {root}')

    def standby_log(self):
        """The daemon's standby-test log lines so far (it runs with -v: g_info is shown)."""
        return [line for line in self.d.log().splitlines()
                if re.search(r'\blte: standby test\b', line)]

    # ------------------------------------------------------------------------- trials

    def trial(self, kind):
        lab, d = self.lab, self.d
        inject = (lambda on: lab.blackhole(on)) if kind == 'blackhole' else (lambda on: lab.primary_link(not on))
        res = {'kind': kind}
        watcher = None
        s = lab.udp_stream('guest-ok')
        s.start()
        try:
            if s.wait_arrival_via(pflab.SRC_PRIMARY, after=time.monotonic(), timeout=5) is None:
                raise BenchError('the stream does not flow through the primary before the fault')
            time.sleep(self.rand.uniform(0.0, 1.0))
            t0, w0 = time.monotonic(), time.time()
            inject(True)
            try:
                first = s.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=30)
                if first is None:
                    res['error'] = 'no packet through the backup within 30 s'
                    return res
                res['failover_s'] = first.recv - t0
                time.sleep(1.0)
                ev = [e for e in self.events_since(w0) if e[1] == 'failover']
                if ev:
                    res['decision_s'] = ev[0][0] - w0
                res['active_after'] = d.prop('ActiveUplink')
                # the kernel makes a returning carrier usable only when its link watcher runs
                # (up to 1 s later): watch when host sees it, the start of "healthy"
                watcher = CarrierWatch(lab, pflab.HOST_PRIMARY_IF) if kind == 'carrier' else None
            finally:
                t1, w1 = time.monotonic(), time.time()
                inject(False)
            limit = self.a.hold + 60
            # A packet sent before t1 may still arrive through the primary after it: one queued
            # on vmbr0 when it lost carrier leaves when the link returns. Count only packets sent
            # after the recovery; report the stale ones.
            back = wait_sent_via(s, pflab.SRC_PRIMARY, t1, timeout=limit)
            if back is None:
                res['failback_error'] = f'no packet through the primary within {limit:.0f} s of recovery'
                return res
            res['conntrack_at_first_packet'] = len(self.conntrack_lte())
            res['failback_raw_s'] = back.recv - t1
            res['carrier_delay_s'] = watcher.result(t1) if watcher else 0.0
            # The daemon changes the route, then flushes the lte flows, then reports the
            # failback: the entries left are those still there once it reports it.
            try:
                d.wait_for(lambda: d.prop('ActiveUplink') == 'primary', timeout=10, interval=0.01,
                           what='ActiveUplink primary')
            except pfdaemon.DaemonError:
                res['failback_error'] = 'traffic back on the primary but ActiveUplink not primary within 10 s'
            left = self.conntrack_lte()
            res['conntrack_left'] = len(left)
            if left:
                res['conntrack_left_entries'] = left[:5]
            time.sleep(1.0)
            res['late_backup_packets'] = s.count_via(pflab.SRC_BACKUP, after=back.recv + 0.2)
            res['stale_primary_packets'] = sum(1 for x in s.records()
                                               if x.src == pflab.SRC_PRIMARY and x.sent < t1 <= x.recv)
            evs = self.events_since(w1)
            # uplink-up names the uplink in "to" (the XML says "from"): accept either
            ups = [e for e in evs if e[1] == 'uplink-up' and 'primary' in (e[2], e[3])]
            fbs = [e for e in evs if e[1] == 'failback']
            if ups:
                res['primary_up_s'] = ups[0][0] - w1
            if fbs:
                res['failback_event_s'] = fbs[0][0] - w1
        finally:
            s.stop()
        return res

    def run_trials(self, kind, n):
        out = []
        for i in range(n):
            try:
                res = self.trial(kind)
            except Exception as e:  # noqa: BLE001 - a failed trial is a result
                res = {'kind': kind, 'error': f'{type(e).__name__}: {e}'}
                self.clear_faults()
                self.ensure_daemon()
            out.append(res)
            fo = res.get('failover_s')
            fb = res.get('failback_raw_s')
            progress(f'{kind} {i + 1}/{n}: via backup after ' + (f'{fo:.3f} s' if fo is not None else 'MISSED') +
                     (f', back on primary after {fb:.2f} s' if fb is not None else '') +
                     (f' [{res.get("error") or res.get("failback_error")}]'
                      if res.get('error') or res.get('failback_error') else ''))
            try:
                self.wait_steady(timeout=self.a.hold + 60)
            except pfdaemon.DaemonError as e:
                raise BenchError(f'{kind}: the daemon did not settle on the primary after trial {i + 1}: '
                                 + str(e).splitlines()[0])
        return out

    # ------------------------------------------------------------------------- loss

    def loss_window(self, minutes):
        lab, d = self.lab, self.d
        self.wait_steady()
        loss_values, health_seen, active_seen = [], {}, {}
        progress(f'loss: 25 % on the primary for {minutes:g} min')
        with lab.udp_stream('guest-ok') as s:
            w0 = time.time()
            lab.loss(25)
            t0 = time.monotonic()
            try:
                next_report = t0 + 60
                while time.monotonic() - t0 < minutes * 60:
                    loss = d.uplink_prop('primary', 'Loss')
                    if loss >= 0:
                        loss_values.append(loss)
                    h = d.uplink_prop('primary', 'Health')
                    health_seen[h] = health_seen.get(h, 0) + 1
                    act = d.prop('ActiveUplink')
                    active_seen[act] = active_seen.get(act, 0) + 1
                    if time.monotonic() >= next_report:
                        n = sum(1 for e in self.events_since(w0) if e[1] in ('failover', 'switch'))
                        progress(f'loss: {(time.monotonic() - t0) / 60:.0f} min, {n} failovers, '
                                 f'window loss now {loss:.0f} %')
                        next_report += 60
                    time.sleep(1.0)
            finally:
                lab.loss(0)
            elapsed = time.monotonic() - t0
            via_backup = s.count_via(pflab.SRC_BACKUP, after=t0)
            via_primary = s.count_via(pflab.SRC_PRIMARY, after=t0, before=t0 + elapsed)
        evs = self.events_since(w0)
        fo = [e for e in evs if e[1] in ('failover', 'switch')]
        res = {
            'minutes': round(elapsed / 60, 2),
            'loss_percent': 25,
            'failovers': len(fo),
            'failover_reasons': [e[4] for e in fo][:10],
            'primary_down_events': sum(1 for e in evs if e[1] == 'uplink-down' and e[2] == 'primary'),
            'window_loss_max': r3(max(loss_values)) if loss_values else None,
            'window_loss_mean': r3(statistics.fmean(loss_values)) if loss_values else None,
            'loss_samples': len(loss_values),
            'health_samples': health_seen,
            'active_samples': active_seen,
            'stream_via_backup': via_backup,
            'stream_delivered_percent': r3(100.0 * via_primary / max(1.0, elapsed / 0.02)),
        }
        progress(f'loss: {res["failovers"]} failovers, window loss max {res["window_loss_max"]} % '
                 f'mean {res["window_loss_mean"]} %')
        return res

    # ------------------------------------------------------------------------- standby + footprint

    def idle_window(self, minutes, idle_seconds):
        """Standby at the default test interval; the idle CPU over its first idle_seconds."""
        lab = self.lab
        self.wait_steady()
        time.sleep(2.0)                 # let the last D-Bus calls settle before measuring
        pid = self.daemon_pid()
        clk = os.sysconf('SC_CLK_TCK')
        progress(f'standby: idle {self.standby} standby for {minutes:g} min (daemon pid {pid}, '
                 f'CPU over the first {idle_seconds:g} s); no D-Bus call meanwhile')
        n0 = len(self.standby_log())
        cap = Capture(lab, 'host', pflab.HOST_BACKUP_IF, 'idle')
        b0 = lab.iface_bytes('host', pflab.HOST_BACKUP_IF)
        t0 = time.monotonic()
        c0, ns0 = cpu_ticks(pid), cpu_ns(pid)
        time.sleep(idle_seconds)
        c1, ns1 = cpu_ticks(pid), cpu_ns(pid)
        t1 = time.monotonic()
        cpu = {'seconds': round(t1 - t0, 2), 'ticks': c1 - c0, 'clk_tck': clk,
               'cpu_percent': r3(100.0 * (c1 - c0) / clk / (t1 - t0)),
               'cpu_percent_schedstat': None if ns0 is None or ns1 is None
               else round(100.0 * (ns1 - ns0) / 1e9 / (t1 - t0), 4)}
        progress(f'footprint: idle CPU {cpu["cpu_percent"]} % of a core over {t1 - t0:.0f} s')
        end = t0 + minutes * 60
        next_report = time.monotonic() + 120
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            if time.monotonic() >= next_report:
                progress(f'standby: {(time.monotonic() - t0) / 60:.0f} of {minutes:g} min')
                next_report += 120
        b1 = lab.iface_bytes('host', pflab.HOST_BACKUP_IF)
        t2 = time.monotonic()
        frames = cap.stop()
        n1 = len(self.standby_log())
        status = proc_status(pid)
        footprint = dict(cpu, pid=pid, vm_rss_kb=status.get('VmRSS'), vm_hwm_kb=status.get('VmHWM'),
                         threads=status.get('Threads'),
                         status_kb={k: v for k, v in status.items() if k != 'Threads'},
                         rss_kb_by_mapping=rss_by_mapping(pid))
        footprint['rss_mb'] = r3(footprint['vm_rss_kb'] * 1024 / MB) if footprint['vm_rss_kb'] else None
        try:
            footprint['floor'] = library_floor(self.floor, mapped_libraries(pid))
            if footprint['vm_rss_kb'] and footprint['floor'].get('vm_rss_kb'):
                footprint['own_rss_mb'] = r3((footprint['vm_rss_kb'] - footprint['floor']['vm_rss_kb']) * 1024 / MB)
        except (OSError, BenchError, subprocess.SubprocessError) as e:
            footprint['floor'] = {'error': str(e)}
        footprint['hwm_mb'] = r3(footprint['vm_hwm_kb'] * 1024 / MB) if footprint['vm_hwm_kb'] else None
        idle = {'seconds': round(t2 - t0, 1), 'bytes': b1 - b0, 'tests': n1 - n0, 'frames': frames}
        progress(f'standby: {idle["bytes"]} bytes on {pflab.HOST_BACKUP_IF} in {idle["seconds"]:.0f} s, '
                 f'{idle["tests"]} standby tests; RSS {footprint["rss_mb"]} MB')
        return idle, footprint

    def test_window(self, minutes, standby='hot'):
        """standby-test-interval=1min: bytes per standby test."""
        lab = self.lab
        progress(f'standby: restarting the daemon with standby={standby}, standby-test-interval=1min')
        self.start_daemon('1min', standby)
        # the first test runs as soon as the backup is ready; the next ones every minute after
        # its start. Start the window 30 s after a test so that it holds whole tests.
        self.d.wait_for(lambda: len(self.standby_log()) >= 1, timeout=60, interval=0.2,
                        what='the first standby test')
        time.sleep(30.0)
        n0 = len(self.standby_log())
        cap = Capture(lab, 'host', pflab.HOST_BACKUP_IF, 'tests')
        b0 = lab.iface_bytes('host', pflab.HOST_BACKUP_IF)
        t0 = time.monotonic()
        progress(f'standby: measuring {minutes:g} min of standby tests')
        time.sleep(minutes * 60)
        b1 = lab.iface_bytes('host', pflab.HOST_BACKUP_IF)
        t1 = time.monotonic()
        frames = cap.stop()
        lines = self.standby_log()[n0:]
        own = [int(m.group(1)) for m in (re.search(r'\((\d+) bytes\)', x) for x in lines) if m]
        res = {'seconds': round(t1 - t0, 1), 'bytes': b1 - b0, 'tests': len(lines),
               'results': sorted(set(re.sub(r'.*standby test (\w+).*', r'\1', x) for x in lines)),
               'daemon_bytes_per_test': r3(statistics.fmean(own)) if own else None,
               'frames': frames}
        progress(f'standby: {res["bytes"]} bytes, {res["tests"]} tests in {res["seconds"]:.0f} s')
        return res


class CarrierWatch:
    """A helper in host that reports when an interface is operationally up again."""

    def __init__(self, lab, iface):
        self.proc = lab.spawn('host', '/usr/bin/python3', os.path.abspath(__file__), '_carrier', iface,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if self.proc.stdout.readline().strip() != b'ready':
            raise BenchError(f'the carrier watcher on {iface} did not start')

    def result(self, t1, timeout=10):
        """Seconds from t1 to the carrier, None if not seen."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return None
        try:
            return max(0.0, float(out.split()[0]) - t1)
        except (IndexError, ValueError):
            return None


def carrier_main(iface):
    """Helper run in host: print time.monotonic() when iface is operationally up (polls every 2 ms).
    operstate, not carrier: the carrier flag is set at once, the operstate (and the qdisc that
    lets packets out) only when the kernel's link watcher has run."""
    path = f'/sys/class/net/{iface}/operstate'
    print('ready', flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if f.read().strip() == 'up':
                    print(f'{time.monotonic():.6f}', flush=True)
                    return 0
        except OSError:
            pass
        time.sleep(0.002)
    return 1


def wait_sent_via(stream, src, t, timeout):
    """The first packet of stream sent at t or later that arrived from src, waiting up to timeout."""
    deadline = time.monotonic() + timeout
    while True:
        for x in stream.records():
            if x.src == src and x.sent >= t:
                return x
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def cpu_ticks(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime, stime (fields 14 and 15)


def cpu_ns(pid):
    """CPU time of every thread in ns (/proc/PID/task/*/schedstat), None if not there."""
    total = 0
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def proc_status(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem', 'Threads'):
                out[k] = int(v.split()[0])
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                k, _, v = line.partition(':')
                if k in ('Pss', 'Pss_Anon', 'Pss_File'):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def mapped_libraries(pid):
    """The shared objects mapped by a process, by file name."""
    libs = set()
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split()
            if len(parts) > 5 and '.so' in os.path.basename(parts[5]):
                libs.add(os.path.basename(parts[5]))
    return libs


def library_floor(exe, daemon_libs):
    """The resident set of tests/rss-floor: the daemon's libraries in an idle main loop and
    nothing else, 5 s after start. Its libraries are compared with the daemon's."""
    proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if proc.stdout.readline().strip() != b'ready':
            raise BenchError(f'{exe} did not start')
        time.sleep(5.0)
        status = proc_status(proc.pid)
        libs = mapped_libraries(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return {'vm_rss_kb': status.get('VmRSS'), 'rss_anon_kb': status.get('RssAnon'),
            'rss_file_kb': status.get('RssFile'), 'pss_kb': status.get('Pss'),
            'rss_mb': r3(status['VmRSS'] * 1024 / MB) if status.get('VmRSS') else None,
            'libraries': len(libs), 'only_in_daemon': sorted(daemon_libs - libs),
            'only_in_floor': sorted(libs - daemon_libs)}


def rss_by_mapping(pid, top=10):
    """Resident kB per mapped file (anonymous memory as "[anon]"), largest first."""
    sizes = {}
    name = None
    try:
        with open(f'/proc/{pid}/smaps') as f:
            for line in f:
                parts = line.split()
                if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                    name = parts[5] if len(parts) > 5 else '[anon]'
                    name = os.path.basename(name) if name.startswith('/') else name
                elif parts and parts[0] == 'Rss:':
                    sizes[name] = sizes.get(name, 0) + int(parts[1])
    except OSError:
        return {}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:top])


# ----------------------------------------------------------------------------- capture

def capture_main(iface, out, local=None):
    """Helper run in host: count the frames on iface (both ways) by kind until SIGTERM. IPv4
    frames to or from the address `local` (the stick's management address: they never reach the
    mobile network) are counted as "local-..."."""
    import signal
    import socket
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    s.settimeout(0.2)
    local = socket.inet_aton(local) if local else None
    open(out + '.ready', 'w').close()
    kinds = {}
    while not stop:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        etype = int.from_bytes(frame[12:14], 'big') if len(frame) >= 14 else 0
        if etype == 0x0806:
            kind = 'arp'
        elif etype == 0x0800 and len(frame) >= 34:
            kind = {1: 'icmp', 6: 'tcp', 17: 'udp'}.get(frame[23], f'ip-proto-{frame[23]}')
            if local is not None and local in (frame[26:30], frame[30:34]):
                kind = 'local-' + kind
        else:
            kind = f'ethertype-{etype:#06x}'
        kind += '-out' if addr[2] == socket.PACKET_OUTGOING else '-in'
        n, b = kinds.get(kind, (0, 0))
        kinds[kind] = (n + 1, b + len(frame))
    with open(out + '.tmp', 'w') as f:
        json.dump({k: {'frames': n, 'bytes': b} for k, (n, b) in sorted(kinds.items())}, f)
    os.replace(out + '.tmp', out)
    return 0


class Capture:
    def __init__(self, lab, ns, iface, name):
        self.lab = lab
        self.out = os.path.join(lab.workdir, f'capture-{name}.json')
        self.proc = lab.spawn(ns, '/usr/bin/python3', os.path.abspath(__file__), '_capture', iface, self.out,
                              pflab.MODEM_MGMT)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.out + '.ready'):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchError(f'the capture on {iface} did not start, see {self.proc.log_path}')
            time.sleep(0.05)

    def stop(self):
        import signal
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        with open(self.out) as f:
            return json.load(f)


# ----------------------------------------------------------------------------- figures

def switch_figures(trials):
    vals = [t['failover_s'] for t in trials if 'failover_s' in t]
    dec = [t['decision_s'] for t in trials if 'decision_s' in t]
    return dict(summary(vals), missed=len(trials) - len(vals),
                decision_p50_s=r3(pct(dec, 50)), decision_p95_s=r3(pct(dec, 95)),
                values_s=[r3(v) for v in vals],
                errors=[t.get('error') for t in trials if t.get('error')])


def figures(trials_bh, trials_cl, hold, up_time):
    fo = switch_figures
    fb_trials = [t for t in trials_bh + trials_cl if 'failover_s' in t]
    raw = [t['failback_raw_s'] for t in fb_trials if 'failback_raw_s' in t]

    def overshoot(t):
        return t['failback_raw_s'] - (t.get('carrier_delay_s') or 0.0) - hold - up_time
    over = [overshoot(t) for t in fb_trials if 'failback_raw_s' in t]
    over_removal = [v - hold - up_time for v in raw]
    delays = [t['carrier_delay_s'] for t in fb_trials if t.get('kind') == 'carrier'
              and t.get('carrier_delay_s') is not None]
    ups = [t['primary_up_s'] for t in fb_trials if 'primary_up_s' in t]
    after_up = [t['failback_raw_s'] - t['primary_up_s'] - hold for t in fb_trials
                if 'failback_raw_s' in t and 'primary_up_s' in t]
    failback = {
        'n': len(raw), 'missed': len(fb_trials) - len(raw),
        'hold_s': hold, 'up_time_s': up_time,
        'raw_p50_s': r3(pct(raw, 50)), 'raw_p95_s': r3(pct(raw, 95)), 'raw_max_s': r3(max(raw) if raw else None),
        'overshoot_p50_s': r3(pct(over, 50)), 'overshoot_p95_s': r3(pct(over, 95)),
        'overshoot_max_s': r3(max(over) if over else None),
        'primary_up_p50_s': r3(pct(ups, 50)), 'primary_up_max_s': r3(max(ups) if ups else None),
        'after_up_and_hold_p95_s': r3(pct(after_up, 95)),
        'overshoot_p95_s_by_fault': {
            kind: r3(pct([overshoot(t) for t in fb_trials if t['kind'] == kind and 'failback_raw_s' in t], 95))
            for kind in ('blackhole', 'carrier')},
        'overshoot_from_removal_p95_s': r3(pct(over_removal, 95)),
        'overshoot_from_removal_max_s': r3(max(over_removal) if over_removal else None),
        'carrier_delay_p50_s': r3(pct(delays, 50)), 'carrier_delay_max_s': r3(max(delays) if delays else None),
        'conntrack_at_first_packet_total': sum(t.get('conntrack_at_first_packet', 0) for t in fb_trials),
        'late_backup_packets': sum(t.get('late_backup_packets', 0) for t in fb_trials),
        'stale_primary_packets': sum(t.get('stale_primary_packets', 0) for t in fb_trials),
        'conntrack_left_total': sum(t.get('conntrack_left', 0) for t in fb_trials),
        'conntrack_left_max': max((t.get('conntrack_left', 0) for t in fb_trials), default=0),
        'values_raw_s': [r3(v) for v in raw],
        'errors': [t['failback_error'] for t in fb_trials if t.get('failback_error')],
    }
    return fo(trials_bh), fo(trials_cl), failback


def standby_figures(idle, tests):
    """Idle rate r (B/s) and bytes per test p from the two windows:
    idle bytes = r * T_idle + n_idle * p and test bytes = r * T_test + n_test * p."""
    out = {'idle': idle, 'tests': tests, 'default_test_interval_min': 30}
    ta, ba, na = idle['seconds'], idle['bytes'], idle['tests']
    rate, per_test = (ba / ta if na == 0 else None), None
    if tests and tests['tests'] > 0:
        tb, bb, nb = tests['seconds'], tests['bytes'], tests['tests']
        det = ta * nb - tb * na
        if det > 0:
            rate = max(0.0, (ba * nb - bb * na) / det)
            per_test = max(0.0, (bb - rate * tb) / nb)
    month_s = 30 * 86400
    out['idle_bytes_per_hour'] = None if rate is None else r3(rate * 3600)
    out['idle_bytes_per_month'] = None if rate is None else round(rate * month_s)
    out['bytes_per_test'] = r3(per_test)
    out['tests_bytes_per_month'] = None if per_test is None else round(per_test * 48 * 30)
    out['bytes_per_month'] = None if per_test is None or rate is None else \
        round(per_test * 48 * 30 + rate * month_s)
    # What the carrier bills: IP packets only. The interface counters above
    # also hold the Ethernet headers and the ARP exchanges between the host
    # and the stick, which never reach the mobile network.
    ip_idle = ip_bytes(idle.get('frames'))
    ip_tests = ip_bytes((tests or {}).get('frames'))
    ip_rate = None if ip_idle is None or not ta else ip_idle / ta
    ip_per_test = None
    if ip_tests is not None and ip_rate is not None and tests and tests['tests'] > 0:
        ip_per_test = max(0.0, (ip_tests - ip_rate * tests['seconds']) / tests['tests'])
    out['ip_bytes_per_test'] = r3(ip_per_test)
    out['ip_bytes_per_month'] = None if ip_per_test is None else \
        round(ip_per_test * 48 * 30 + ip_rate * month_s)
    return out


def cold_figures(trials, idle, tests, hold, up_time):
    """Cold standby: blackhole -> guest traffic via the backup with its bring-up, and what
    a standby test (up, probe, down) costs."""
    out = {'failover': switch_figures(trials)}
    raw = [t['failback_raw_s'] for t in trials if 'failback_raw_s' in t]
    out['failback'] = {'n': len(raw), 'raw_p50_s': r3(pct(raw, 50)), 'raw_p95_s': r3(pct(raw, 95)),
                       'overshoot_p95_s': r3(pct([v - hold - up_time for v in raw], 95)),
                       'conntrack_left_total': sum(t.get('conntrack_left', 0) for t in trials),
                       'late_backup_packets': sum(t.get('late_backup_packets', 0) for t in trials)}
    if idle is not None:
        out['standby'] = standby_figures(idle, tests)
    return out


def ip_bytes(frames):
    """IP bytes in a capture summary that the carrier carries: IPv4 frames less their 14-byte
    Ethernet header, without those to or from the stick itself ("local-": its API)."""
    if frames is None:
        return None
    return sum(v['bytes'] - 14 * v['frames'] for k, v in frames.items()
               if not k.startswith(('arp', 'ethertype', 'local-')))


def verdicts(r):
    """Rows (key, label, figure, detail, target, met) for the table and the JSON."""
    rows = []

    def row(key, label, value, limit, fmt, target, detail='', strict=False, fail=False):
        if limit is None:               # a figure without a target in the design
            met = None
        else:
            met = value is not None and not fail and (value < limit if strict else value <= limit)
        rows.append((key, label, fmt(value) if value is not None else 'n/a', detail, target, met))

    def s(v):
        return f'{v:.3f} s'

    def switch_detail(x):
        if not x.get('n'):
            return '; '.join(x.get('errors') or []) or 'no trial'
        return (f'p50 {x["p50_s"]:.3f} s, max {x["max_s"]:.3f} s, n={x["n"]}'
                + (f', {x["missed"]} MISSED' if x.get('missed') else '')
                + (f'; daemon decision p95 {x["decision_p95_s"]:.3f} s' if x.get('decision_p95_s') is not None
                   else ''))
    bh = r.get('blackhole', {})
    row('blackhole_p95', 'silent blackhole -> guest traffic via backup, p95', bh.get('p95_s'), 2.0, s, '<= 2 s',
        switch_detail(bh), fail=bool(bh.get('missed')))
    cl = r.get('carrier_loss', {})
    row('carrier_p95', 'carrier loss -> guest traffic via backup, p95', cl.get('p95_s'), 0.5, s, '<= 0.5 s',
        switch_detail(cl), fail=bool(cl.get('missed')))
    fb = r.get('failback', {})
    detail = ''
    if fb.get('n'):
        detail = (f'raw p50 {fb["raw_p50_s"]:.2f} s, p95 {fb["raw_p95_s"]:.2f} s = hold {fb["hold_s"]:g} s '
                  f'+ up-time {fb["up_time_s"]:g} s + overshoot (max {fb["overshoot_max_s"]:.3f} s), n={fb["n"]}'
                  + (f', {fb["missed"]} MISSED' if fb.get('missed') else ''))
        by = fb['overshoot_p95_s_by_fault']
        detail += '; overshoot p95 ' + ', '.join(f'{k} {v:.3f} s' for k, v in by.items() if v is not None)
        if fb.get('carrier_delay_p50_s') is not None:
            detail += (f'; carrier trials counted from vmbr0 operstate up, {fb["carrier_delay_p50_s"]:.3f} s '
                       f'(p50, max {fb["carrier_delay_max_s"]:.3f} s) after the link was set up; counted from '
                       f'the removal of every fault the overshoot is p95 {fb["overshoot_from_removal_p95_s"]:.3f} s')
        if fb.get('primary_up_p50_s') is not None and fb.get('after_up_and_hold_p95_s') is not None:
            detail += (f'; the daemon saw the primary up {fb["primary_up_p50_s"]:.2f} s (p50) after recovery '
                       f'and failed back {fb["after_up_and_hold_p95_s"]:.3f} s (p95) after that + hold')
    row('failback_overshoot_p95', 'failback beyond hold + up-time, p95', fb.get('overshoot_p95_s'), 1.0, s,
        '<= 1 s', detail, fail=bool(fb.get('missed')))
    left = None if not fb.get('n') else fb['late_backup_packets'] + fb['conntrack_left_total']
    row('failback_flows_left', 'flows left on the backup after failback', left, 0, lambda v: f'{v}', '0',
        (f'{fb["late_backup_packets"]} stream packets via backup > 0.2 s after the first back on primary, '
         f'{fb["conntrack_left_total"]} lte-marked conntrack entries once the daemon reported the failback '
         f'({fb["conntrack_at_first_packet_total"]} at the first packet back, before its flush)'
         + (f' ({fb["stale_primary_packets"]} packets queued on vmbr0 before the recovery came out through it '
            f'after, not counted)' if fb['stale_primary_packets'] else '')) if fb.get('n') else '')
    lo = r.get('false_failovers', {})
    row('false_failovers', f'false failovers at 25 % loss in {lo.get("minutes", 0):g} min', lo.get('failovers'),
        0, lambda v: f'{v}', '0',
        (f'primary window loss max {lo["window_loss_max"]:.0f} %, mean {lo["window_loss_mean"]:.1f} %; '
         f'{lo["primary_down_events"]} primary-down events; {lo["stream_via_backup"]} stream packets via backup')
        if lo.get('window_loss_max') is not None else '')
    sb = r.get('standby', {})
    bpm = sb.get('ip_bytes_per_month')
    detail = ''
    if sb.get('bytes_per_test') is not None:
        t = sb['tests']
        detail = ((f'IP (what the carrier bills): {sb["ip_bytes_per_test"]:.0f} B per standby test x 48 x 30; '
                   if sb.get('ip_bytes_per_test') is not None else '')
                  + (f'interface counters (with Ethernet headers and host-stick ARP): '
                     f'{sb["bytes_per_month"] / KB:.1f} KB/month = ' if sb.get('bytes_per_month') is not None else '')
                  + f'{sb["bytes_per_test"]:.0f} B per standby test ({t["tests"]} tests in {t["seconds"] / 60:.1f} min; '
                  + (f'the daemon counts {t["daemon_bytes_per_test"]:.0f} B' if t.get('daemon_bytes_per_test')
                     is not None else 'the daemon did not log its count')
                  + ') x 48 x 30 + idle '
                  f'{sb["idle_bytes_per_month"] / KB:.1f} KB ({sb["idle"]["bytes"]} B in '
                  f'{sb["idle"]["seconds"] / 60:.1f} min idle)')
    row('standby_bytes_per_month', 'backup data in hot standby (IP), per month', None if bpm is None else bpm / KB,
        300, lambda v: f'{v:.1f} KB', '<= 300 KB', detail)
    hot_test = sb.get('ip_bytes_per_test')
    co = r.get('cold', {})
    csb = co.get('standby', {})
    cold_test = csb.get('ip_bytes_per_test')
    parts = []
    for kind, per_test, x in (('hot', hot_test, sb), ('cold', cold_test, csb)):
        if per_test is not None:
            t = x['tests']
            parts.append(f'{kind} {per_test:.0f} B per test ({t["tests"]} tests in {t["seconds"] / 60:.1f} min: '
                         + ', '.join(f'{k} {v["frames"]}x/{v["bytes"]} B' for k, v in sorted(t['frames'].items()))
                         + f') = {per_test * 48 * 30 / KB:.1f} KB/month at 30 min')
    if csb.get('idle') is not None:
        parts.append(f'cold idle: {csb["idle"]["bytes"]} B on the interface in {csb["idle"]["seconds"] / 60:.1f} min')
    row('standby_test_bytes', 'one standby test (IP bytes), hot / cold', None if hot_test is None else hot_test,
        None, lambda v: f'{v:.0f} B' + (f' / {cold_test:.0f} B' if cold_test is not None else ''), '-',
        '; '.join(parts))
    cf = co.get('failover', {})
    cfb = co.get('failback', {})
    row('cold_failover_p95', 'cold standby: blackhole -> via backup (bring-up), p95', cf.get('p95_s'), None, s,
        '-', (switch_detail(cf) + (f'; failback raw p95 {cfb["raw_p95_s"]:.2f} s, '
                                   f'{cfb["conntrack_left_total"] + cfb["late_backup_packets"]} flows left'
                                   if cfb.get('n') else '')) if cf else '')
    fp = r.get('footprint', {})
    detail = ''
    if fp.get('status_kb'):
        st = fp['status_kb']
        def mb(k):
            return st.get(k, 0) * 1024 / MB
        detail = (f'peak (VmHWM) {fp["hwm_mb"]:.2f} MB; RssAnon {mb("RssAnon"):.1f} MB, '
                  f'RssFile {mb("RssFile"):.1f} MB (shared libraries), Pss {mb("Pss"):.1f} MB')
        fl = fp.get('floor') or {}
        if fl.get('rss_mb') is not None:
            detail += (f'; the floor of its {fl["libraries"]} libraries (tests/rss-floor, an idle main loop '
                       f'linked like the daemon) is {fl["rss_mb"]:.2f} MB, so the daemon itself adds '
                       f'{fp["own_rss_mb"]:.2f} MB')
            if fl['only_in_daemon'] or fl['only_in_floor']:
                detail += (f' (libraries only in the daemon: {", ".join(fl["only_in_daemon"]) or "none"}; '
                           f'only in the floor: {", ".join(fl["only_in_floor"]) or "none"})')
        elif fl.get('error'):
            detail += f'; library floor not measured: {fl["error"]}'
    row('rss', 'daemon RSS (VmRSS)', fp.get('rss_mb'), 8.0, lambda v: f'{v:.2f} MB', '<= 8 MB', detail)
    row('idle_cpu', 'daemon idle CPU, % of one core', fp.get('cpu_percent'), 0.1, lambda v: f'{v:.3f} %',
        '<= 0.1 %',
        (f'{fp["ticks"]} ticks in {fp["seconds"]:.0f} s; schedstat {fp["cpu_percent_schedstat"]:.4f} %'
         if fp.get('cpu_percent_schedstat') is not None else '') if fp.get('seconds') else '')
    en = r.get('engine', {})
    yrs = en.get('engine_years') or 1
    row('engine_false_failovers', 'engine: false failovers per simulated year at 25 %',
        None if en.get('false_failovers') is None else en['false_failovers'] / yrs, 1, lambda v: f'{v:g}', '< 1',
        f'{en.get("rounds", 0)} primary rounds, {en.get("failed_rounds", 0)} failed' if en else '', strict=True)
    row('engine_blackhole_p95', 'engine: blackhole -> failover decision, p95', en.get('blackhole_p95_s'), 2.0, s,
        '<= 2 s', (f'p50 {en["blackhole_p50_s"]:.3f} s, at 25 % loss p95 {en["blackhole_loss25_p95_s"]:.3f} s, '
                   f'{en["blackhole_trials"]} trials') if en.get('blackhole_p50_s') is not None else '')
    return rows


def table(r, rows):
    o = r['options']
    lines = [
        f'pvefailover benchmark: daemon {r.get("version", "?")}, {r["date"]}, {r["host"]["cpus"]} CPUs, '
        f'run {r["duration_s"] / 60:.1f} min',
        f'  default probe timings; failback-hold {o["hold_s"]:g} s (shortened), up-time {r["config"]["up_time_s"]:g} s; '
        f'{o["trials"]} trials of each fault; {o["loss_minutes"]:g} min at 25 % loss;',
        f'  {o["standby_minutes"]:g} min idle hot standby (CPU over {o["idle_seconds"]:g} s), '
        f'{o["test_minutes"]:g} min at standby-test-interval=1min',
        '',
    ]
    w1 = max(len(x[1]) for x in rows)
    w2 = max(len(x[2]) for x in rows)
    head = f'{"measure":<{w1}}  {"figure":>{w2}}  {"target":<9}  verdict'
    lines += [head, '-' * len(head)]
    for _, label, fig, detail, target, met in rows:
        verdict = 'info' if met is None else 'met' if met else 'MISSED'
        lines.append(f'{label:<{w1}}  {fig:>{w2}}  {target:<9}  {verdict}')
        if detail:
            lines.append(f'    {detail}')
    errs = r.get('errors') or {}
    if errs:
        lines.append('')
        for k, v in errs.items():
            lines.append(f'error in {k}: {v}')
    missed = [x[0] for x in rows if x[5] is False]
    judged = [x for x in rows if x[5] is not None]
    lines.append('')
    lines.append(f'{len(judged) - len(missed)} of {len(judged)} targets met'
                 + (f'; MISSED: {", ".join(missed)}' if missed else ''))
    return '\n'.join(lines)


# ----------------------------------------------------------------------------- main

def main(argv=None):
    a = parse_args(argv)
    if os.geteuid() != 0:
        print('bench.py: must run as root (network namespaces)', file=sys.stderr)
        return 1
    try:
        daemon, engine, floor = locate_binaries(a)
    except BenchError as e:
        print(f'bench.py: {e}', file=sys.stderr)
        return 1
    started = datetime.datetime.now(datetime.timezone.utc)
    r = {
        'date': started.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'host': {'cpus': os.cpu_count(), 'kernel': platform.release()},
        'binaries': {'daemon': daemon, 'engine': engine, 'floor': floor},
        'options': {'trials': a.trials, 'loss_minutes': a.loss_minutes, 'standby_minutes': a.standby_minutes,
                    'test_minutes': a.test_minutes, 'idle_seconds': a.idle_seconds, 'hold_s': a.hold,
                    'cold_trials': a.cold_trials, 'cold_idle_minutes': a.cold_idle_minutes,
                    'quick': a.quick},
        'config': {'interval_ms': 500, 'fast_interval_ms': 100, 'timeout_ms': 400, 'down_rounds': 5,
                   'up_rounds': 10, 'up_time_s': 5.0, 'failback_hold_s': a.hold,
                   'standby_test_interval': '30min', 'targets': ['icmp:' + t for t in pflab.TARGETS]},
        'errors': {},
    }
    up_time = r['config']['up_time_s']
    progress(f'daemon {daemon}; {a.trials} trials, {a.loss_minutes:g} min loss, {a.standby_minutes:g} min '
             f'standby, {a.test_minutes:g} min tests, hold {a.hold:g} s')
    try:
        r['engine'] = run_engine(engine)
    except (BenchError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        r['errors']['engine'] = str(e)
        progress(f'engine: {e}')

    try:
        lab = pflab.Lab()
        lab.up()
    except Exception as e:  # noqa: BLE001
        print(f'bench.py: the lab did not come up: {e}', file=sys.stderr)
        return 1
    try:
        progress(f'lab {lab.prefix} up in {lab.up_seconds:.1f} s; waiting for NetworkManager to activate lte')
        lab.nm_wait_activated('lte', timeout=30)
        b = Bench(lab, a)
        b.floor = floor
        b.start_daemon('30min')
        r['version'] = b.d.prop('Version')
        progress(f'daemon {r["version"]} up: primary active, lte standby test passed')

        trials = {'blackhole': [], 'carrier': []}
        for kind in ('blackhole', 'carrier'):
            try:
                trials[kind] = b.run_trials(kind, a.trials)
            except Exception as e:  # noqa: BLE001 - record and go on with the next section
                r['errors'][kind] = f'{type(e).__name__}: {e}'
                progress(f'{kind}: {e}')
                b.clear_faults()
                b.ensure_daemon()
        r['blackhole'], r['carrier_loss'], r['failback'] = figures(trials['blackhole'], trials['carrier'],
                                                                   a.hold, up_time)
        r['trials'] = trials['blackhole'] + trials['carrier']
        for t in r['trials']:
            for k, v in list(t.items()):
                if isinstance(v, float):
                    t[k] = r3(v)

        try:
            r['false_failovers'] = b.loss_window(a.loss_minutes)
        except Exception as e:  # noqa: BLE001
            r['errors']['loss'] = f'{type(e).__name__}: {e}'
            progress(f'loss: {e}')
            b.clear_faults()
            b.ensure_daemon()

        idle = tests = None
        try:
            idle, r['footprint'] = b.idle_window(a.standby_minutes, a.idle_seconds)
        except Exception as e:  # noqa: BLE001
            r['errors']['standby_idle'] = f'{type(e).__name__}: {e}'
            progress(f'standby: {e}')
        try:
            tests = b.test_window(a.test_minutes)
        except Exception as e:  # noqa: BLE001
            r['errors']['standby_tests'] = f'{type(e).__name__}: {e}'
            progress(f'standby: {e}')
        if idle is not None:
            r['standby'] = standby_figures(idle, tests)

        cold_trials, cold_idle, cold_tests = [], None, None
        try:
            progress('cold: restarting the daemon with standby=cold')
            b.start_daemon('30min', 'cold')
            cold_trials = b.run_trials('blackhole', a.cold_trials)
            cold_idle, _ = b.idle_window(a.cold_idle_minutes, min(a.idle_seconds, a.cold_idle_minutes * 60))
            cold_tests = b.test_window(a.test_minutes, 'cold')
        except Exception as e:  # noqa: BLE001
            r['errors']['cold'] = f'{type(e).__name__}: {e}'
            progress(f'cold: {e}')
            b.clear_faults()
        r['cold'] = cold_figures(cold_trials, cold_idle, cold_tests, a.hold, up_time)
        r['cold']['trials'] = [{k: r3(v) if isinstance(v, float) else v for k, v in t.items()} for t in cold_trials]
        b.d.stop()
    except Exception as e:  # noqa: BLE001 - the harness itself broke
        r['errors']['harness'] = f'{type(e).__name__}: {e}'
        progress(f'the benchmark broke: {e}')
        lab.down(keep_workdir=True)
        if 'version' not in r:
            return 1
    else:
        try:
            lab.down()
        except pflab.LabError as e:
            r['errors']['lab_down'] = str(e)

    r['duration_s'] = round(time.monotonic() - T0, 1)
    if not r['errors']:
        del r['errors']
    rows = verdicts(r)
    r['verdicts'] = {k: {'figure': fig, 'target': target, 'met': met} for k, _, fig, _, target, met in rows}
    r['targets_met'] = sum(1 for x in rows if x[5])
    r['targets_missed'] = [x[0] for x in rows if x[5] is False]
    report('pvefailover_bench', r, a, table(r, rows))
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '_carrier':
        sys.exit(carrier_main(sys.argv[2]))
    if len(sys.argv) in (4, 5) and sys.argv[1] == '_capture':
        sys.exit(capture_main(*sys.argv[2:]))
    sys.exit(main())
