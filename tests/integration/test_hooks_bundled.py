#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The bundled hooks of data/hooks.d run as pvefailoverd runs them (argv [path,
event], a clean environment), against fake pct, proxmox-backup-manager and pvesh
that keep their jobs in a JSON file and log every call: what a failover
suspends, that a failback restores exactly the original jobs, and failures."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))
import pftest  # noqa: E402

SOURCE_DIR = os.environ.get('PF_SOURCE_DIR',
                            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOOKS_DIR = os.path.join(SOURCE_DIR, 'data', 'hooks.d')
PBS_HOOK = os.path.join(HOOKS_DIR, '50-pbs-sync-jobs')
PVE_HOOK = os.path.join(HOOKS_DIR, '50-pve-backup-jobs')
PBM = 'proxmox-backup-manager'

# One program for the three commands, by the name it is called by. The jobs of
# each place ("host" or a container id) are in $FAKE_STATE; a call whose argv,
# joined by spaces, is listed in its "fail" fails.
FAKE = r'''#!/usr/bin/python3
import json, os, subprocess, sys

name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
where = os.environ.get('FAKE_WHERE', 'host')
with open(os.environ['FAKE_LOG'], 'a') as log:
    log.write(json.dumps({'where': where, 'argv': [name] + args}) + '\n')
with open(os.environ['FAKE_STATE']) as f:
    state = json.load(f)


def fail(message, code=255):
    print(message, file=sys.stderr)
    sys.exit(code)


def save():
    with open(os.environ['FAKE_STATE'], 'w') as f:
        json.dump(state, f)


def find(jobs, job_id):
    for job in jobs:
        if job['id'] == job_id:
            return job
    fail(f"job '{job_id}' does not exist")


if ' '.join([name] + args) in state.get('fail', []):
    fail('simulated failure', 1)
place = state['places'][where]

if name == 'pct':
    if len(args) < 4 or args[0] != 'exec' or args[2] != '--':
        fail('pct: unexpected arguments', 2)
    if args[1] not in state['places']:
        fail(f"Configuration file 'nodes/pve/lxc/{args[1]}.conf' does not exist")
    sys.exit(subprocess.run(args[3:], env=dict(os.environ, FAKE_WHERE=args[1])).returncode)
elif name == 'proxmox-backup-manager':
    jobs = place['sync']
    if args == ['sync-job', 'list', '--output-format', 'json']:
        print(json.dumps(jobs))
    elif len(args) == 5 and args[:2] == ['sync-job', 'update'] and args[3:] == ['--delete', 'schedule']:
        find(jobs, args[2]).pop('schedule', None)
    elif len(args) == 5 and args[:2] == ['sync-job', 'update'] and args[3] == '--schedule':
        find(jobs, args[2])['schedule'] = args[4]
    else:
        fail('proxmox-backup-manager: unexpected arguments', 2)
elif name == 'pvesh':
    jobs = place['backup']
    if args == ['get', '/cluster/backup', '--output-format', 'json']:
        print(json.dumps(jobs))
    elif (len(args) == 4 and args[0] == 'set' and args[1].startswith('/cluster/backup/')
          and args[2] == '--enabled' and args[3] in ('0', '1')):
        find(jobs, args[1][len('/cluster/backup/'):])['enabled'] = int(args[3])
    else:
        fail('pvesh: unexpected arguments', 2)
save()
'''

SYNC_JOBS = [
    {'id': 's-hourly', 'store': 'main', 'remote': 'offsite', 'remote-store': 'backup',
     'schedule': 'hourly'},
    {'id': 's-nightly', 'store': 'main', 'remote': 'offsite', 'remote-store': 'vms',
     'schedule': 'mon..fri 02:00', 'comment': 'weekdays'},
    {'id': 's-manual', 'store': 'main', 'remote': 'offsite', 'remote-store': 'misc'},
]
BACKUP_JOBS = [
    {'id': 'backup-daily', 'enabled': 1, 'schedule': '21:00', 'storage': 'pbs', 'all': 1},
    {'id': 'backup-default', 'schedule': 'sun 01:00', 'storage': 'nas', 'vmid': '100,101'},
    {'id': 'backup-off', 'enabled': 0, 'schedule': 'sat 03:00', 'storage': 'nas', 'vmid': '102'},
]


class Env:
    """A temporary directory with the fakes, their jobs, hooks.conf and the
    hooks' state directory (shared with another Env to play a restart)."""

    def __init__(self, tmp, places, config='', fail=(), state_dir=None):
        self.tmp = tmp
        self.bin = os.path.join(tmp, 'bin')
        os.makedirs(self.bin, exist_ok=True)
        fake = os.path.join(self.bin, 'fake')
        with open(fake, 'w') as f:
            f.write(FAKE)
        os.chmod(fake, 0o755)
        for name in ('pct', PBM, 'pvesh'):
            if not os.path.lexists(os.path.join(self.bin, name)):
                os.symlink('fake', os.path.join(self.bin, name))
        self.state = os.path.join(tmp, 'fake-state.json')
        self.log = os.path.join(tmp, 'fake-calls.log')
        self.conf = os.path.join(tmp, 'hooks.conf')
        self.state_dir = state_dir or os.path.join(tmp, 'state')
        self.write_state({'places': places, 'fail': list(fail)})
        with open(self.conf, 'w') as f:
            f.write(config)
        open(self.log, 'w').close()

    def write_state(self, state):
        with open(self.state, 'w') as f:
            json.dump(state, f)

    def set_fail(self, fail):
        with open(self.state) as f:
            state = json.load(f)
        state['fail'] = list(fail)
        self.write_state(state)

    def hook(self, path, *args):
        """The hook as pvefailoverd runs it: a clean environment."""
        env = {
            'PATH': self.bin + ':/usr/sbin:/usr/bin:/sbin:/bin',
            'LANG': 'C.UTF-8',
            'PVEFAILOVER_EVENT': args[0] if args else '',
            'STATE_DIRECTORY': self.state_dir,
            'PVEFAILOVER_HOOKS_CONF': self.conf,
            'FAKE_STATE': self.state,
            'FAKE_LOG': self.log,
        }
        return subprocess.run([path, *args], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, cwd='/')

    def jobs(self, where='host', kind='sync'):
        with open(self.state) as f:
            return json.load(f)['places'][where][kind]

    def calls(self):
        """The calls since the last one, as (where, argv) pairs."""
        with open(self.log) as f:
            calls = [json.loads(line) for line in f]
        open(self.log, 'w').close()
        return [(c['where'], c['argv']) for c in calls]

    def saved(self, name):
        path = os.path.join(self.state_dir, 'hooks', name + '.json')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)


@contextlib.contextmanager
def environment(places, **kwargs):
    tmp = tempfile.mkdtemp(prefix='pf-hooks-bundled-')
    try:
        yield Env(tmp, places, **kwargs)
    finally:
        shutil.rmtree(tmp)


def show(r):
    return f'exit {r.returncode}\n--- stdout ---\n{r.stdout}--- stderr ---\n{r.stderr}'


def ok(r, stdout=None):
    assert r.returncode == 0 and r.stderr == '', show(r)
    if stdout is not None:
        assert r.stdout == stdout, f'stdout differs, expected {stdout!r}\n' + show(r)
    return r


def failed(r, message):
    assert r.returncode != 0, show(r)
    assert message in r.stderr, f'{message!r} not in stderr\n' + show(r)
    return r


def copy(jobs):
    return json.loads(json.dumps(jobs))


def without_schedules(jobs, ids):
    return [{k: v for k, v in job.items() if not (k == 'schedule' and job['id'] in ids)}
            for job in jobs]


LIST = [PBM, 'sync-job', 'list', '--output-format', 'json']
SUSPENDED = without_schedules(SYNC_JOBS, ('s-hourly', 's-nightly'))
SAVED = {'container': '', 'jobs': {'s-hourly': 'hourly', 's-nightly': 'mon..fri 02:00'}}


def hooks_are_executable():
    for path in (PBS_HOOK, PVE_HOOK):
        assert os.access(path, os.X_OK), f'{path} is not executable'


def pbs_on_host():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        ok(env.hook(PBS_HOOK, 'failover'), stdout=(
            'suspended sync job s-hourly (was schedule "hourly")\n'
            'suspended sync job s-nightly (was schedule "mon..fri 02:00")\n'))
        assert env.jobs() == SUSPENDED, env.jobs()
        assert env.saved('pbs-sync-jobs') == SAVED, env.saved('pbs-sync-jobs')
        assert env.calls() == [
            ('host', LIST),
            ('host', [PBM, 'sync-job', 'update', 's-hourly', '--delete', 'schedule']),
            ('host', [PBM, 'sync-job', 'update', 's-nightly', '--delete', 'schedule']),
        ]

        ok(env.hook(PBS_HOOK, 'failback'), stdout=(
            'restored sync job s-hourly (schedule "hourly")\n'
            'restored sync job s-nightly (schedule "mon..fri 02:00")\n'))
        assert env.jobs() == SYNC_JOBS, env.jobs()
        assert env.saved('pbs-sync-jobs') is None
        assert env.calls() == [
            ('host', LIST),
            ('host', [PBM, 'sync-job', 'update', 's-hourly', '--schedule', 'hourly']),
            ('host', [PBM, 'sync-job', 'update', 's-nightly', '--schedule', 'mon..fri 02:00']),
        ]


def job_without_schedule_stays_without():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        ok(env.hook(PBS_HOOK, 'failover'))
        ok(env.hook(PBS_HOOK, 'failback'))
        manual = [job for job in env.jobs() if job['id'] == 's-manual']
        assert manual == [SYNC_JOBS[2]] and 'schedule' not in manual[0], manual
        assert not [argv for _, argv in env.calls() if 's-manual' in argv]


def pbs_in_container():
    host_jobs = [{'id': 'on-host', 'store': 'local', 'remote': 'r', 'remote-store': 'x',
                  'schedule': 'daily'}]
    places = {'host': {'sync': copy(host_jobs)}, '105': {'sync': copy(SYNC_JOBS)}}
    with environment(places, config='[pbs]\ncontainer = 105\n') as env:
        ok(env.hook(PBS_HOOK, 'failover'))
        assert env.jobs('105') == SUSPENDED, env.jobs('105')
        assert env.jobs('host') == host_jobs, env.jobs('host')
        assert env.saved('pbs-sync-jobs') == dict(SAVED, container='105')
        calls = env.calls()
        assert calls[:2] == [('host', ['pct', 'exec', '105', '--', *LIST]), ('105', LIST)], calls
        assert all(where == '105' for where, argv in calls if argv[0] == PBM), calls

        # hooks.conf edited while failed over: the failback restores where
        # the failover suspended.
        with open(env.conf, 'w') as f:
            f.write('[pbs]\ncontainer=\n')
        ok(env.hook(PBS_HOOK, 'failback'))
        assert env.jobs('105') == SYNC_JOBS, env.jobs('105')
        assert env.jobs('host') == host_jobs, env.jobs('host')
        assert env.saved('pbs-sync-jobs') is None


def selected_jobs_only():
    config = '[pbs]\ncontainer =\njobs = s-nightly, missing\n'
    with environment({'host': {'sync': copy(SYNC_JOBS)}}, config=config) as env:
        ok(env.hook(PBS_HOOK, 'failover'), stdout=(
            'sync job missing not found, skipped\n'
            'suspended sync job s-nightly (was schedule "mon..fri 02:00")\n'))
        assert env.jobs() == without_schedules(SYNC_JOBS, ('s-nightly',)), env.jobs()
        ok(env.hook(PBS_HOOK, 'failback'))
        assert env.jobs() == SYNC_JOBS, env.jobs()


def failover_twice():
    new_job = {'id': 's-new', 'store': 'main', 'remote': 'offsite', 'remote-store': 'new',
               'schedule': '*:0/30'}
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        ok(env.hook(PBS_HOOK, 'failover'))
        ok(env.hook(PBS_HOOK, 'failover'), stdout=(
            'sync job s-hourly already suspended\n'
            'sync job s-nightly already suspended\n'
            'no sync job to suspend\n'))
        assert env.saved('pbs-sync-jobs') == SAVED, env.saved('pbs-sync-jobs')
        assert env.jobs() == SUSPENDED, env.jobs()

        # A job added while failed over is suspended by the next failover,
        # and the schedules saved first are kept.
        env.write_state({'places': {'host': {'sync': SUSPENDED + [new_job]}}})
        ok(env.hook(PBS_HOOK, 'failover'), stdout=(
            'sync job s-hourly already suspended\n'
            'sync job s-nightly already suspended\n'
            'suspended sync job s-new (was schedule "*:0/30")\n'))
        assert env.saved('pbs-sync-jobs') == {
            'container': '', 'jobs': dict(SAVED['jobs'], **{'s-new': '*:0/30'})}

        ok(env.hook(PBS_HOOK, 'failback'))
        assert env.jobs() == SYNC_JOBS + [new_job], env.jobs()


def failover_restart_failback():
    """The daemon restarts (here: a new environment, hooks.conf changed)
    between failover and failback; only the state directory is kept."""
    state_dir = tempfile.mkdtemp(prefix='pf-hooks-state-')
    try:
        with environment({'host': {'sync': copy(SYNC_JOBS)}}, state_dir=state_dir) as env:
            ok(env.hook(PBS_HOOK, 'failover'))
            after_failover = env.jobs()
        assert os.path.exists(os.path.join(state_dir, 'hooks', 'pbs-sync-jobs.json'))
        with environment({'host': {'sync': after_failover}}, state_dir=state_dir,
                         config='[pbs]\njobs = s-manual\n') as env:
            ok(env.hook(PBS_HOOK, 'failback'))
            assert env.jobs() == SYNC_JOBS, env.jobs()
            assert env.saved('pbs-sync-jobs') is None
    finally:
        shutil.rmtree(state_dir)


def job_deleted_while_failed_over():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        ok(env.hook(PBS_HOOK, 'failover'))
        env.write_state({'places': {'host': {'sync': SUSPENDED[1:]}}})
        ok(env.hook(PBS_HOOK, 'failback'), stdout=(
            'sync job s-hourly no longer exists, not restored\n'
            'restored sync job s-nightly (schedule "mon..fri 02:00")\n'))
        assert env.jobs() == SYNC_JOBS[1:], env.jobs()
        assert env.saved('pbs-sync-jobs') is None


def pve_backup_jobs():
    with environment({'host': {'backup': copy(BACKUP_JOBS)}}) as env:
        ok(env.hook(PVE_HOOK, 'failover'), stdout=(
            'suspended backup job backup-daily (was enabled)\n'
            'suspended backup job backup-default (was enabled)\n'))
        assert [job.get('enabled') for job in env.jobs(kind='backup')] == [0, 0, 0]
        assert env.saved('pve-backup-jobs') == {
            'container': '', 'jobs': {'backup-daily': 1, 'backup-default': 1}}
        assert env.calls() == [
            ('host', ['pvesh', 'get', '/cluster/backup', '--output-format', 'json']),
            ('host', ['pvesh', 'set', '/cluster/backup/backup-daily', '--enabled', '0']),
            ('host', ['pvesh', 'set', '/cluster/backup/backup-default', '--enabled', '0']),
        ]

        ok(env.hook(PVE_HOOK, 'failback'))
        jobs = env.jobs(kind='backup')
        assert [job.get('enabled') for job in jobs] == [1, 1, 0], jobs
        # Nothing but "enabled" changed.
        assert [{k: v for k, v in job.items() if k != 'enabled'} for job in jobs] == \
            [{k: v for k, v in job.items() if k != 'enabled'} for job in BACKUP_JOBS]
        assert not [argv for _, argv in env.calls() if 'backup-off' in ' '.join(argv)]
        assert env.saved('pve-backup-jobs') is None


def pve_selected_jobs():
    with environment({'host': {'backup': copy(BACKUP_JOBS)}},
                     config='[pve]\njobs = backup-default\n') as env:
        ok(env.hook(PVE_HOOK, 'failover'))
        assert [job.get('enabled') for job in env.jobs(kind='backup')] == [1, 0, 0]
        ok(env.hook(PVE_HOOK, 'failback'))
        assert [job.get('enabled') for job in env.jobs(kind='backup')] == [1, 1, 0]


def failing_command():
    fail = [f'{PBM} sync-job update s-nightly --delete schedule']
    with environment({'host': {'sync': copy(SYNC_JOBS)}}, fail=fail) as env:
        r = failed(env.hook(PBS_HOOK, 'failover'),
                   f"error: {PBM} sync-job update s-nightly --delete schedule failed: "
                   "simulated failure\n")
        assert r.stdout == 'suspended sync job s-hourly (was schedule "hourly")\n', show(r)
        # Saved before the first change: a failback still knows both.
        assert env.saved('pbs-sync-jobs') == SAVED, env.saved('pbs-sync-jobs')
        env.set_fail([])
        ok(env.hook(PBS_HOOK, 'failback'))
        assert env.jobs() == SYNC_JOBS, env.jobs()


def failing_restore_keeps_state():
    with environment({'host': {'backup': copy(BACKUP_JOBS)}}) as env:
        ok(env.hook(PVE_HOOK, 'failover'))
        env.set_fail(['pvesh set /cluster/backup/backup-default --enabled 1'])
        failed(env.hook(PVE_HOOK, 'failback'), 'simulated failure')
        assert env.saved('pve-backup-jobs') is not None
        env.set_fail([])
        ok(env.hook(PVE_HOOK, 'failback'))
        assert [job.get('enabled') for job in env.jobs(kind='backup')] == [1, 1, 0]
        assert env.saved('pve-backup-jobs') is None


def unknown_container():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}, config='[pbs]\ncontainer=999\n') as env:
        failed(env.hook(PBS_HOOK, 'failover'), "nodes/pve/lxc/999.conf' does not exist")
        assert env.jobs() == SYNC_JOBS
        assert env.saved('pbs-sync-jobs') is None


def missing_command():
    # Asked for in hooks.conf: a missing command is an error.
    with environment({'host': {'backup': copy(BACKUP_JOBS)}}, config='[pve]\n') as env:
        os.unlink(os.path.join(env.bin, 'pvesh'))
        failed(env.hook(PVE_HOOK, 'failover'), 'error: cannot run pvesh: No such file or directory')


def not_installed_nothing_to_do():
    # Not asked for and not installed (a PVE host without PBS): the hook says so, exit 0.
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        os.unlink(os.path.join(env.bin, PBM))
        for event in ('failover', 'failback'):
            ok(env.hook(PBS_HOOK, event),
               stdout='proxmox-backup-manager not found and no [pbs] in hooks.conf: nothing to do\n')
        assert env.calls() == []


def bad_configuration():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}, config='[pbs]\ncontainer=pbs\n') as env:
        failed(env.hook(PBS_HOOK, 'failover'), 'container: not a container id: pbs')
        assert env.calls() == []


def corrupt_state_file():
    with environment({'host': {'sync': copy(SYNC_JOBS)}}) as env:
        os.makedirs(os.path.join(env.state_dir, 'hooks'))
        with open(os.path.join(env.state_dir, 'hooks', 'pbs-sync-jobs.json'), 'w') as f:
            f.write('{"jobs": ')
        failed(env.hook(PBS_HOOK, 'failback'), 'cannot read ')
        failed(env.hook(PBS_HOOK, 'failover'), 'cannot read ')
        assert env.calls() == []
        assert env.jobs() == SYNC_JOBS


def other_events_do_nothing():
    places = {'host': {'sync': copy(SYNC_JOBS), 'backup': copy(BACKUP_JOBS)}}
    with environment(places) as env:
        for hook in (PBS_HOOK, PVE_HOOK):
            for args in (('switch', 'primary', 'lte'), ('uplink-down',), ()):
                ok(env.hook(hook, *args), stdout='')
        ok(env.hook(PBS_HOOK, 'failback'), stdout='no suspended sync job to restore\n')
        assert env.calls() == []
        assert not os.path.exists(os.path.join(env.state_dir, 'hooks', 'pbs-sync-jobs.json'))


def main():
    return pftest.run([
        hooks_are_executable,
        pbs_on_host,
        job_without_schedule_stays_without,
        pbs_in_container,
        selected_jobs_only,
        failover_twice,
        failover_restart_failback,
        job_deleted_while_failed_over,
        pve_backup_jobs,
        pve_selected_jobs,
        failing_command,
        failing_restore_keeps_state,
        unknown_container,
        missing_command,
        not_installed_nothing_to_do,
        bad_configuration,
        corrupt_state_file,
        other_events_do_nothing,
    ])


if __name__ == '__main__':
    sys.exit(main())
