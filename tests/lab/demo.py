#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab demo: a Proxmox-like host with a primary link and an LTE stick, the real
pvefailoverd, and a live outage. `pvefailoverctl watch` prints what the daemon sees as it
happens; the demo narrates and measures around it.

    /usr/bin/python3 tests/lab/demo.py [--build DIR] [--hold SECONDS]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def say(text):
    print(f'\n\033[1m==> {text}\033[0m' if sys.stdout.isatty() else f'\n==> {text}', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--build', help='meson build directory (default: ./build)')
    parser.add_argument('--hold', type=int, default=10, help='failback hold in seconds (default 10)')
    args = parser.parse_args()
    if args.build:
        build = os.path.abspath(args.build)
        os.environ['PF_DAEMON'] = os.path.join(build, 'src', 'pvefailoverd')
        os.environ['PF_CLIENT'] = os.path.join(build, 'src', 'pvefailoverctl')
    if os.geteuid() != 0:
        sys.exit('demo.py: needs root (network namespaces)')

    import pflab
    from pfdaemon import ALL_ACTIONS, CLIENT, Daemon, lab_config

    say('Building the lab: inet, box (primary router), modem (LTE carrier), host (NetworkManager), guests')
    with pflab.Lab() as lab:
        lab.nm_wait_activated('lte', timeout=30)
        lab.start_polkit_mock().set_allowed(ALL_ACTIONS)
        print(f'lab {lab.prefix} up; NetworkManager activated "lte" on {pflab.HOST_BACKUP_IF}')

        say('Starting pvefailoverd in the host (primary vmbr0, hot-standby LTE, guest 10.10.0.29 allowed)')
        d = Daemon(lab, lab_config(failback_hold=f'{args.hold}s'))
        d.start()
        d.wait_health('primary', 'up', timeout=20)
        d.wait_health('lte', 'up', timeout=20)
        print(d.client('status').stdout, end='')

        say('pvefailoverctl watch: following the daemon live')
        watch = lab.spawn('host', CLIENT, 'watch', env=lab.host_env({'NO_COLOR': '1'}),
                          stdout=sys.stdout, stderr=sys.stderr)
        time.sleep(0.5)

        ok = lab.udp_stream('guest-ok')
        no = lab.udp_stream('guest-no')
        ok.start()
        no.start()
        try:
            ok.wait_arrival_via(pflab.SRC_PRIMARY, timeout=3)
            print('guest traffic (a UDP packet every 20 ms) reaches the internet through the box')

            say('OUTAGE: the box silently drops everything upstream (no link event, just silence)')
            t0 = time.monotonic()
            lab.blackhole(True)
            first = ok.wait_arrival_via(pflab.SRC_BACKUP, after=t0, timeout=10)
            d.wait_active('lte', timeout=10)
            time.sleep(0.3)
            print(f'\n  allowed guest back online through LTE after {first.recv - t0:.2f} s')
            print(f'  other guest through LTE: {no.count_via(pflab.SRC_BACKUP)} packets (blocked, as configured)')
            print(f'  host reaches the internet: {lab.ping("host", pflab.TARGETS[0], count=2)}')
            print(d.client('status').stdout, end='')

            say(f'RECOVERY: the box forwards again; failback once the primary is proven and held {args.hold} s')
            t1 = time.monotonic()
            lab.blackhole(False)
            d.wait_active('primary', timeout=args.hold + 30)
            back = ok.wait_arrival_via(pflab.SRC_PRIMARY, after=t1, timeout=5)
            time.sleep(0.5)
            left = lab.conntrack('host', '-L', '--mark', '0x20000/0xff0000').stdout.strip()
            print(f'\n  guest traffic back on the primary {back.recv - t1:.1f} s after the recovery')
            print(f'  packets on LTE after failback: {ok.count_via(pflab.SRC_BACKUP, after=back.recv + 0.2)}; '
                  f'flows left on LTE: {len(left.splitlines()) if left else 0}')
        finally:
            ok.stop()
            no.stop()

        say('Events recorded by the daemon')
        print(d.client('events', '--limit', '8').stdout, end='')
        watch.terminate()
        watch.wait(5)
        say('Stopping the daemon (normal routing restored) and tearing the lab down')
        d.stop()
    print('demo finished')


if __name__ == '__main__':
    main()
