/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Hooks: the executables of a directory (SYSCONFDIR/pvefailover/hooks.d),
 * run on the daemon's events. Like run-parts, every regular, executable file
 * whose name is made of [A-Za-z0-9_-] only runs, in lexical order, one after
 * the other; the directory is read again for every event. Events are queued
 * and handled strictly in order, one at a time: a failback's hooks never
 * overtake the failover's.
 *
 * A hook runs without a shell, argv [path, event, args...], in a clean
 * environment (PATH, LANG, PVEFAILOVER_EVENT and the caller's pairs), in its
 * own process group, stdin on /dev/null; its output goes to the log line by
 * line. After the timeout its process group gets SIGTERM, then SIGKILL.
 * Nothing is ever waited for synchronously.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PF_HOOKS_DEFAULT_TIMEOUT_MS    30000
#define PF_HOOKS_DEFAULT_KILL_DELAY_MS 5000

#define PF_TYPE_HOOKS (pf_hooks_get_type ())
G_DECLARE_FINAL_TYPE (PfHooks, pf_hooks, PF, HOOKS, GObject)

/* SYSCONFDIR "/pvefailover/hooks.d" */
const char *pf_hooks_default_dir    (void);

/* @dir: NULL for pf_hooks_default_dir(); a missing directory means no hooks.
 * @timeout_ms: 0 for PF_HOOKS_DEFAULT_TIMEOUT_MS.
 *
 * Emits "finished" (const char *hook_name, const char *event, gboolean ok,
 * const char *reason) when each hook ends; @reason is "exited with status 0",
 * "exited with status 3", "killed by signal 9", "timed out after 30 s
 * (killed by signal 15)", "could not start: …". Disposing the object kills
 * the running hook and drops the queued events. */
PfHooks    *pf_hooks_new            (const char *dir,
                                     guint       timeout_ms);

/* Time between SIGTERM and SIGKILL once a hook timed out. */
void        pf_hooks_set_kill_delay (PfHooks *self,
                                     guint    kill_delay_ms);

/* Queues one run of every hook for @event. @env: extra "KEY=VALUE" pairs
 * added to the hooks' environment, @args: arguments after the event; both
 * NULL-terminated, either may be NULL. Returns at once. */
void        pf_hooks_run            (PfHooks           *self,
                                     const char        *event,
                                     const char *const *env,
                                     const char *const *args);

/* No hook running and no event waiting. */
gboolean    pf_hooks_is_idle        (PfHooks *self);

G_END_DECLS
