# SPDX-License-Identifier: GPL-2.0-or-later
"""What the bundled hooks share: suspend scheduled jobs on failover, put them back
exactly as they were on failback.

Not a hook itself (its name has a dot and it is not executable, so pvefailoverd
does not run it): 50-pbs-sync-jobs and 50-pve-backup-jobs import it. Each of
them describes one kind of job: how to list the jobs, with for each the value
that a failback gives back (None: nothing to suspend), how to suspend one and how
to give its value back.

What was suspended is saved in $STATE_DIRECTORY/hooks/NAME.json (else
/var/lib/pvefailover/hooks/NAME.json) before anything is changed: a failback
after a restart of the daemon, or after a second failover, still restores the
original values; the file is removed once everything was restored.

Configuration: /etc/pvefailover/hooks.conf ($PVEFAILOVER_HOOKS_CONF), an INI
file with one section per kind:

    [pbs]
    # Proxmox Backup Server runs in this container (pct exec); empty: on the host.
    container=
    # Job ids, separated by commas or spaces; empty: all.
    jobs=

Every action is printed on a line of its own (pvefailoverd logs it); a command
that fails ends the hook with a message and a non-zero status. On a host without
the kind's command (no Proxmox Backup Server, say) and without its section in
hooks.conf, the hook says so and does nothing: both hooks are installed
everywhere, and a section asks for the kind explicitly.
"""

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

CONFIG_PATH = '/etc/pvefailover/hooks.conf'
STATE_DIRECTORY = '/var/lib/pvefailover'


class HookError(Exception):
    pass


class Jobs:
    """One kind of job; a subclass fills in the class attributes and methods."""

    name = None             # the state file's name: 'pbs-sync-jobs'
    section = None          # of hooks.conf: 'pbs'
    what = None             # in messages: 'sync job'
    in_container = False    # whether section may name a container
    tool = None             # the command it runs: without it and without a section in
                            # hooks.conf, the host has nothing of this kind to pause

    def __init__(self, container):
        self.prefix = ['pct', 'exec', container, '--'] if container else []

    def run(self, *argv):
        """Runs a command (in the container, if any); its standard output."""
        argv = self.prefix + list(argv)
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        except OSError as e:
            raise HookError(f'cannot run {argv[0]}: {e.strerror}') from e
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or [f'exit status {r.returncode}']
            raise HookError(f'{shlex.join(argv)} failed: {lines[-1]}')
        return r.stdout

    def run_list(self, *argv):
        """Runs a command that prints a JSON array of objects with an "id"."""
        try:
            jobs = json.loads(self.run(*argv))
        except json.JSONDecodeError as e:
            raise HookError(f'{shlex.join(argv)}: not JSON: {e}') from e
        if not isinstance(jobs, list) or not all(isinstance(j, dict) and 'id' in j for j in jobs):
            raise HookError(f'{shlex.join(argv)}: not a list of jobs')
        return jobs

    def list(self):
        """{job id: the value to give back, or None if there is nothing to suspend}"""
        raise NotImplementedError

    def suspend(self, job_id, value):
        raise NotImplementedError

    def restore(self, job_id, value):
        raise NotImplementedError

    def describe(self, value):
        """The value, for messages."""
        return str(value)


def read_config(kind):
    """(container, [job ids]) from the kind's section of hooks.conf."""
    path = os.environ.get('PVEFAILOVER_HOOKS_CONF', CONFIG_PATH)
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read(path, encoding='utf-8')
    except (configparser.Error, UnicodeDecodeError) as e:
        raise HookError(f'{path}: {e}') from e
    section = config[kind.section] if config.has_section(kind.section) else {}
    container = section.get('container', '').strip() if kind.in_container else ''
    if container and not container.isdigit():
        raise HookError(f'{path}: [{kind.section}] container: not a container id: {container}')
    jobs = [j for j in re.split(r'[\s,]+', section.get('jobs', '')) if j]
    return container, jobs


def state_path(kind):
    directory = os.environ.get('STATE_DIRECTORY', '').split(':')[0] or STATE_DIRECTORY
    return os.path.join(directory, 'hooks', kind.name + '.json')


def load_state(path):
    """{'container': ..., 'jobs': {id: value}}, or None when nothing is suspended."""
    try:
        with open(path, encoding='utf-8') as f:
            state = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise HookError(f'cannot read {path}: {e}') from e
    if (not isinstance(state, dict) or not isinstance(state.get('container'), str)
            or not isinstance(state.get('jobs'), dict)):
        raise HookError(f'{path}: not a state file of this hook')
    return state


def save_state(path, state):
    """Written to a temporary file, synced, renamed over the old one."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path))
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(state, f, indent=2, sort_keys=True)
                f.write('\n')
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise HookError(f'cannot write {path}: {e}') from e


def suspend_all(kind_class, path):
    container, wanted = read_config(kind_class)
    state = load_state(path)
    if state is not None:
        # Already suspended: the jobs stay where they were suspended.
        container = state['container']
    saved = state['jobs'] if state is not None else {}
    kind = kind_class(container)
    current = kind.list()

    for job_id in wanted:
        if job_id not in current:
            print(f'{kind.what} {job_id} not found, skipped')
    to_suspend = {}
    for job_id in sorted(wanted or current):
        value = current.get(job_id)
        if value is not None:
            to_suspend[job_id] = value
        elif job_id in saved:
            print(f'{kind.what} {job_id} already suspended')
    if not to_suspend:
        print(f'no {kind.what} to suspend')
        return

    # The values are saved before anything changes; a value already saved is
    # only replaced by a new one, never by "nothing".
    save_state(path, {'container': container, 'jobs': {**saved, **to_suspend}})
    for job_id, value in to_suspend.items():
        kind.suspend(job_id, value)
        print(f'suspended {kind.what} {job_id} (was {kind.describe(value)})')


def restore_all(kind_class, path):
    state = load_state(path)
    if state is None:
        print(f'no suspended {kind_class.what} to restore')
        return
    kind = kind_class(state['container'])
    current = kind.list()
    for job_id, value in sorted(state['jobs'].items()):
        if job_id not in current:
            print(f'{kind.what} {job_id} no longer exists, not restored')
            continue
        kind.restore(job_id, value)
        print(f'restored {kind.what} {job_id} ({kind.describe(value)})')
    try:
        os.remove(path)
    except OSError as e:
        raise HookError(f'cannot remove {path}: {e}') from e


def not_here(kind_class, path):
    """Nothing of this kind on this host: its command is missing, hooks.conf has no
    section for it and nothing is suspended."""
    path_conf = os.environ.get('PVEFAILOVER_HOOKS_CONF', CONFIG_PATH)
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read(path_conf, encoding='utf-8')
    except (configparser.Error, UnicodeDecodeError):
        return False     # read_config() reports it
    return (not config.has_section(kind_class.section) and shutil.which(kind_class.tool) is None
            and not os.path.exists(path))


def main(kind_class):
    """The hook: argv is [path, event, ...]; events other than failover and
    failback are none of its business."""
    event = sys.argv[1] if len(sys.argv) > 1 else ''
    actions = {'failover': suspend_all, 'failback': restore_all}
    if event not in actions:
        return 0
    if not_here(kind_class, state_path(kind_class)):
        print(f'{kind_class.tool} not found and no [{kind_class.section}] in hooks.conf: nothing to do')
        return 0
    try:
        actions[event](kind_class, state_path(kind_class))
    except HookError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0
