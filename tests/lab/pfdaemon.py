#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pfdaemon: run the real pvefailoverd inside a pflab Lab and talk to it.

    with Lab() as lab:
        polkit = lab.start_polkit_mock(); polkit.set_allowed(ALL_ACTIONS)
        d = Daemon(lab, config=lab_config(failback_hold='5s'))
        d.start()                       # waits until the bus name is owned and started
        d.prop('ActiveUplink')          # Manager1 property, as a Python value
        d.uplink_prop('lte', 'Health')
        d.call('SetMode', '(ss)', 'force', 'lte')
        d.client('status', '--json')    # CompletedProcess of pvefailoverctl in host
        d.wait_for(lambda: d.prop('ActiveUplink') == 'lte', timeout=10)
        d.kill(); d.stop()

The binaries come from $PF_DAEMON and $PF_CLIENT (meson sets them), or from ./build.
"""

import json
import os
import pwd
import signal
import subprocess
import sys
import time

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pflab  # noqa: E402

BUS_NAME = 'org.pvefailover'
MANAGER_PATH = '/org/pvefailover'
MANAGER_IFACE = 'org.pvefailover.Manager1'
UPLINK_IFACE = 'org.pvefailover.Uplink1'
ALL_ACTIONS = ['org.pvefailover.set-mode', 'org.pvefailover.test-uplink', 'org.pvefailover.reload',
               'org.pvefailover.modem-identity', 'org.pvefailover.usage', 'org.pvefailover.notify-test']

_SRC = os.environ.get('PF_SOURCE_DIR',
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_BUILD = os.environ.get('PF_BUILD_DIR', os.path.join(_SRC, 'build'))
DAEMON = os.environ.get('PF_DAEMON', os.path.join(_BUILD, 'src', 'pvefailoverd'))
CLIENT = os.environ.get('PF_CLIENT', os.path.join(_BUILD, 'src', 'pvefailoverctl'))


def lab_config(failback_hold='5s', standby='hot', allow=(pflab.GUEST_OK,), extra_primary='',
               extra_backup='', on_stop='restore', standby_test_interval='30min', targets=None,
               extra_guests=''):
    """A configuration for the lab: the primary on vmbr0, the LTE stick as a hot backup.
    targets: the probe targets (specs) of both uplinks, default ICMP to pflab.TARGETS."""
    targets = ';'.join(targets or ('icmp:' + t for t in pflab.TARGETS))
    return f"""# pvefailover lab configuration
[daemon]
on-stop={on_stop}

[uplink primary]
role=primary
interface={pflab.HOST_PRIMARY_IF}
targets={targets}
failback-hold={failback_hold}
{extra_primary}

[uplink lte]
role=backup
priority=10
interface={pflab.HOST_BACKUP_IF}
connection={pflab.LTE_CONNECTION}
management={pflab.MODEM_MGMT}
standby={standby}
standby-test-interval={standby_test_interval}
{extra_backup}

[guests]
allow={';'.join(allow)}
{extra_guests}
"""


# Lab(tunnel=True): the VXLAN connection over the LTE stick, an uplink of its own, preferred.
TUNNEL_UPLINK = f"""
[uplink tunnel]
role=backup
priority=5
connection={pflab.TUNNEL_CONNECTION}
via=lte
server={pflab.TUNNEL_SERVER}
standby=cold
"""


class DaemonError(Exception):
    pass


class Daemon:
    def __init__(self, lab, config, name='pvefailoverd'):
        self.lab = lab
        self.name = name
        self.config_path = os.path.join(lab.workdir, name + '.conf')
        self.state_dir = os.path.join(lab.workdir, name + '-state')
        os.makedirs(self.state_dir, exist_ok=True)
        self.write_config(config)
        self.proc = None
        self._bus = None

    # -- life cycle -----------------------------------------------------------------
    def write_config(self, text):
        with open(self.config_path, 'w') as f:
            f.write(text)

    def env(self):
        return self.lab.host_env({'STATE_DIRECTORY': self.state_dir, 'G_DEBUG': 'fatal-criticals'})

    def start(self, wait=True, args=('-v',), timeout=20):
        self.proc = self.lab.spawn('host', DAEMON, '--config', self.config_path, *args, env=self.env())
        if wait:
            self.wait_started(timeout)
        return self.proc

    def wait_started(self, timeout=20):
        def started():
            if self.proc.poll() is not None:
                raise DaemonError(f'pvefailoverd exited with {self.proc.returncode}:\n{self.log()}')
            try:
                return self.prop('State') not in ('', 'starting')
            except GLib.Error:
                return False
        self.wait_for(started, timeout, what='pvefailoverd to start')

    def stop(self, timeout=10):
        """SIGTERM: a clean stop. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError('pvefailoverd did not stop on SIGTERM:\n' + self.log())

    def kill(self):
        """SIGKILL: a crash. Nothing is cleaned up by the daemon."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def reload_signal(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        path = getattr(self.proc, 'log_path', None)
        if path and os.path.exists(path):
            with open(path, errors='replace') as f:
                return f.read()
        return ''

    # -- D-Bus ----------------------------------------------------------------------
    @property
    def bus(self):
        if self._bus is None or self._bus.is_closed():
            self._bus = Gio.DBusConnection.new_for_address_sync(
                self.lab.bus_address,
                Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        return self._bus

    def _get(self, path, iface, name):
        reply = self.bus.call_sync(BUS_NAME, path, 'org.freedesktop.DBus.Properties', 'Get',
                                   GLib.Variant('(ss)', (iface, name)), GLib.VariantType('(v)'),
                                   Gio.DBusCallFlags.NONE, 5000, None)
        return reply.unpack()[0]

    def prop(self, name):
        return self._get(MANAGER_PATH, MANAGER_IFACE, name)

    @staticmethod
    def uplink_path(uplink):
        return '/org/pvefailover/uplink/' + uplink.replace('-', '_')

    def uplink_prop(self, uplink, name):
        return self._get(self.uplink_path(uplink), UPLINK_IFACE, name)

    def call(self, method, signature=None, *args, timeout=30000):
        params = GLib.Variant(signature, tuple(args)) if signature else None
        reply = self.bus.call_sync(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method, params, None,
                                   Gio.DBusCallFlags.NONE, timeout, None)
        return reply.unpack() if reply is not None else None

    def status(self):
        return json.loads(self.call('GetStatus')[0])

    def client(self, *args, user=None, env=None, timeout=30):
        argv = [CLIENT, *args]
        if user is not None:
            pw = pwd.getpwnam(user)
            argv = ['setpriv', f'--reuid={pw.pw_uid}', f'--regid={pw.pw_gid}', '--clear-groups', *argv]
        e = self.lab.host_env({'LC_ALL': 'C.UTF-8', 'NO_COLOR': '1'})
        e.update(env or {})
        return self.lab.run('host', *argv, check=False, env=e, timeout=timeout)

    # -- waiting --------------------------------------------------------------------
    def wait_for(self, predicate, timeout=10, interval=0.05, what='condition'):
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() > deadline:
                raise DaemonError(f'timed out after {timeout} s waiting for {what}\n--- daemon log ---\n'
                                  + self.log()[-6000:])
            time.sleep(interval)

    def wait_active(self, uplink, timeout=10):
        self.wait_for(lambda: self.prop('ActiveUplink') == uplink, timeout, what=f'{uplink} active')

    def wait_health(self, uplink, health, timeout=20):
        self.wait_for(lambda: self.uplink_prop(uplink, 'Health') == health, timeout,
                      what=f'{uplink} health {health}')

    # -- host inspection --------------------------------------------------------------
    def ip_rules(self):
        out = self.lab.run('host', 'ip', '-j', 'rule', 'show').stdout
        return json.loads(out)

    def nft_table(self):
        r = self.lab.run('host', 'nft', 'list', 'table', 'inet', 'pvefailover', check=False)
        return r.stdout if r.returncode == 0 else None
