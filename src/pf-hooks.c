/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The hooks of hooks.d, run on events (see pf-hooks.h). One event at a time,
 * one hook at a time: the queue holds the events, the current event the
 * hooks still to run, and a HookRun the one running. A HookRun is shared by
 * its asynchronous operations (the wait, one line read per output stream),
 * each holding a reference; it is detached from the PfHooks when it ends or
 * when the PfHooks is disposed, and freed when the last operation returns.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-hooks"

#include "pf-hooks.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define HOOKS_DEFAULT_DIR   SYSCONFDIR "/pvefailover/hooks.d"
#define HOOK_PATH           "/usr/sbin:/usr/bin:/sbin:/bin"
#define HOOK_LANG           "C.UTF-8"
/* Output still open once the hook exited (a child left in the background)
 * is read for this long, then abandoned so that the queue goes on. */
#define OUTPUT_GRACE_MS     1000
#define MAX_LOGGED_LINES    500
#define MAX_LINE_CHARS      1000

typedef struct {
  char  *event;
  char **envp;
  char **args;
} HookEvent;

typedef struct {
  PfHooks          *hooks;        /* NULL once detached */
  char             *name;
  char             *event;
  GSubprocess      *process;
  GCancellable     *cancellable;
  GDataInputStream *out;
  GDataInputStream *err;
  guint             open_streams;
  gboolean          exited;
  gboolean          timed_out;
  guint             logged_lines;
  guint             timeout_id;
  guint             kill_id;
  guint             grace_id;
} HookRun;

struct _PfHooks
{
  GObject    parent_instance;

  char      *dir;
  guint      timeout_ms;
  guint      kill_delay_ms;

  GQueue     events;        /* HookEvent, waiting */
  HookEvent *current;       /* the event whose hooks run */
  GPtrArray *paths;         /* its hooks */
  guint      next_path;
  HookRun   *run;           /* the hook running, NULL between hooks */
  guint      kick_id;
};

enum { SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfHooks, pf_hooks, G_TYPE_OBJECT)

static void process_queue (PfHooks *self);

const char *
pf_hooks_default_dir (void)
{
  return HOOKS_DEFAULT_DIR;
}

/* Events */

static void
hook_event_free (HookEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->event);
  g_strfreev (event->envp);
  g_strfreev (event->args);
  g_free (event);
}

static gboolean
env_pair_is_valid (const char *pair)
{
  const char *eq = strchr (pair, '=');

  return eq != NULL && eq != pair;
}

static char **
hook_environment (const char        *event,
                  const char *const *env)
{
  char **envp = NULL;

  envp = g_environ_setenv (envp, "PATH", HOOK_PATH, TRUE);
  envp = g_environ_setenv (envp, "LANG", HOOK_LANG, TRUE);
  envp = g_environ_setenv (envp, "PVEFAILOVER_EVENT", event, TRUE);
  for (gsize i = 0; env != NULL && env[i] != NULL; i++)
    {
      const char *eq = strchr (env[i], '=');
      g_autofree char *key = g_strndup (env[i], eq - env[i]);

      envp = g_environ_setenv (envp, key, eq + 1, TRUE);
    }
  return envp;
}

/* The directory */

static gboolean
hook_name_is_valid (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The hooks of @dir in lexical order: regular files (symbolic links to
 * them included) that are executable and have a valid name. */
static GPtrArray *
list_hooks (const char *dir)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) gdir = g_dir_open (dir, 0, &error);
  const char *name;

  if (gdir == NULL)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("Cannot read the hooks directory: %s", error->message);
      return g_steal_pointer (&paths);
    }

  while ((name = g_dir_read_name (gdir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf st;

      if (!hook_name_is_valid (name))
        {
          g_debug ("Skipping %s: not a hook name", path);
          continue;
        }
      if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        {
          g_debug ("Skipping %s: not a regular file", path);
          continue;
        }
      if (g_access (path, X_OK) != 0)
        {
          g_debug ("Skipping %s: not executable", path);
          continue;
        }
      g_ptr_array_add (paths, g_steal_pointer (&path));
    }
  g_ptr_array_sort (paths, compare_paths);
  return g_steal_pointer (&paths);
}

/* One run */

static void
hook_run_clear (gpointer data)
{
  HookRun *run = data;

  g_assert (run->hooks == NULL);
  g_assert (run->timeout_id == 0 && run->kill_id == 0 && run->grace_id == 0);
  g_free (run->name);
  g_free (run->event);
  g_clear_object (&run->process);
  g_clear_object (&run->cancellable);
  g_clear_object (&run->out);
  g_clear_object (&run->err);
}

static HookRun *
hook_run_ref (HookRun *run)
{
  return g_rc_box_acquire (run);
}

static void
hook_run_unref (HookRun *run)
{
  g_rc_box_release_full (run, hook_run_clear);
}

/* The whole process group, so that what the hook started goes too. */
static void
hook_run_signal (HookRun *run,
                 int      signum)
{
  const char *id = g_subprocess_get_identifier (run->process);
  pid_t pid;

  if (id == NULL)    /* already reaped */
    return;
  pid = (pid_t) g_ascii_strtoll (id, NULL, 10);
  if (pid <= 1 || kill (-pid, signum) != 0)
    g_subprocess_send_signal (run->process, signum);
}

static void
hook_run_stop_timers (HookRun *run)
{
  g_clear_handle_id (&run->timeout_id, g_source_remove);
  g_clear_handle_id (&run->kill_id, g_source_remove);
  g_clear_handle_id (&run->grace_id, g_source_remove);
}

/* The PfHooks lets go of @run; the operations in flight still hold it. */
static void
hook_run_detach (HookRun *run)
{
  PfHooks *self = run->hooks;

  hook_run_stop_timers (run);
  run->hooks = NULL;
  if (self != NULL && self->run == run)
    {
      self->run = NULL;
      hook_run_unref (run);
    }
}

static char *
format_duration (guint ms)
{
  if (ms % 1000 == 0)
    return g_strdup_printf ("%u s", ms / 1000);
  return g_strdup_printf ("%u ms", ms);
}

static char *
exit_reason (GSubprocess *process,
             gboolean    *ok)
{
  *ok = FALSE;
  if (g_subprocess_get_if_exited (process))
    {
      int status = g_subprocess_get_exit_status (process);

      *ok = status == 0;
      return g_strdup_printf ("exited with status %d", status);
    }
  if (g_subprocess_get_if_signaled (process))
    return g_strdup_printf ("killed by signal %d", g_subprocess_get_term_sig (process));
  return g_strdup ("ended for an unknown reason");
}

static void
emit_finished (PfHooks    *self,
               const char *name,
               const char *event,
               gboolean    ok,
               const char *reason)
{
  if (ok)
    g_message ("Hook %s for %s: %s", name, event, reason);
  else
    g_warning ("Hook %s for %s failed: %s", name, event, reason);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, name, event, ok, reason);
}

/* Once the process exited and its output was read: report, then go on.
 * Called from an operation of @run, which holds a reference. */
static void
hook_run_maybe_finish (HookRun *run)
{
  g_autoptr(PfHooks) self = NULL;
  g_autofree char *status = NULL;
  g_autofree char *reason = NULL;
  gboolean ok;

  if (run->hooks == NULL || !run->exited || run->open_streams > 0)
    return;

  self = g_object_ref (run->hooks);
  status = exit_reason (run->process, &ok);
  if (run->timed_out)
    {
      g_autofree char *after = format_duration (self->timeout_ms);

      ok = FALSE;
      reason = g_strdup_printf ("timed out after %s (%s)", after, status);
    }
  else
    {
      reason = g_steal_pointer (&status);
    }

  /* The caller, an operation of @run, still holds a reference. */
  hook_run_detach (run);
  emit_finished (self, run->name, run->event, ok, reason);
  process_queue (self);
}

static void read_next_line (HookRun          *run,
                            GDataInputStream *stream);

static void
on_line_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  HookRun *run = user_data;
  GDataInputStream *stream = G_DATA_INPUT_STREAM (source);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize length = 0;

  line = g_data_input_stream_read_line_finish (stream, result, &length, &error);
  if (run->hooks == NULL)
    {
      hook_run_unref (run);
      return;
    }

  if (line == NULL)
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Hook %s: reading its output: %s", run->name, error->message);
      run->open_streams--;
      hook_run_maybe_finish (run);
      hook_run_unref (run);
      return;
    }

  run->logged_lines++;
  if (run->logged_lines <= MAX_LOGGED_LINES)
    {
      g_autofree char *valid = g_utf8_make_valid (line, length);

      if (g_utf8_strlen (valid, -1) > MAX_LINE_CHARS)
        *g_utf8_offset_to_pointer (valid, MAX_LINE_CHARS) = '\0';
      g_message ("hook %s: %s", run->name, valid);
    }
  else if (run->logged_lines == MAX_LOGGED_LINES + 1)
    {
      g_message ("hook %s: more output, not logged", run->name);
    }

  /* The reference goes on with the next read. */
  read_next_line (run, stream);
}

static void
read_next_line (HookRun          *run,
                GDataInputStream *stream)
{
  g_data_input_stream_read_line_async (stream, G_PRIORITY_DEFAULT, run->cancellable,
                                       on_line_read, run);
}

static gboolean
on_output_grace (gpointer user_data)
{
  HookRun *run = user_data;

  run->grace_id = 0;
  g_message ("Hook %s: exited, its output is still open; no longer read", run->name);
  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_hook_exited (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  HookRun *run = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error);
  if (run->hooks == NULL)
    {
      hook_run_unref (run);
      return;
    }

  run->exited = TRUE;
  hook_run_stop_timers (run);
  if (run->open_streams > 0)
    run->grace_id = g_timeout_add (OUTPUT_GRACE_MS, on_output_grace, run);
  hook_run_maybe_finish (run);
  hook_run_unref (run);
}

static gboolean
on_kill_delay (gpointer user_data)
{
  HookRun *run = user_data;

  run->kill_id = 0;
  g_warning ("Hook %s: still running after SIGTERM, sending SIGKILL", run->name);
  hook_run_signal (run, SIGKILL);
  return G_SOURCE_REMOVE;
}

static gboolean
on_hook_timeout (gpointer user_data)
{
  HookRun *run = user_data;
  g_autofree char *after = format_duration (run->hooks->timeout_ms);

  run->timeout_id = 0;
  run->timed_out = TRUE;
  g_warning ("Hook %s: timed out after %s, sending SIGTERM", run->name, after);
  hook_run_signal (run, SIGTERM);
  run->kill_id = g_timeout_add (run->hooks->kill_delay_ms, on_kill_delay, run);
  return G_SOURCE_REMOVE;
}

static void
child_setup (gpointer user_data)
{
  /* Async-signal-safe, between fork and exec. */
  setpgid (0, 0);
}

static GSubprocess *
spawn_hook (const char  *path,
            HookEvent   *event,
            GError     **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) path);
  g_ptr_array_add (argv, event->event);
  for (gsize i = 0; event->args[i] != NULL; i++)
    g_ptr_array_add (argv, event->args[i]);
  g_ptr_array_add (argv, NULL);

  /* stdin is /dev/null unless asked otherwise. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_environ (launcher, event->envp);
  g_subprocess_launcher_set_cwd (launcher, "/");
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  return g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
}

static GDataInputStream *
line_reader (GInputStream *pipe)
{
  GDataInputStream *stream = g_data_input_stream_new (pipe);

  g_data_input_stream_set_newline_type (stream, G_DATA_STREAM_NEWLINE_TYPE_LF);
  return stream;
}

/* Starts the hook at @path for the current event; FALSE when it could not
 * start ("finished" was emitted). */
static gboolean
start_hook (PfHooks    *self,
            const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autofree char *name = g_path_get_basename (path);
  HookRun *run;

  g_debug ("Running hook %s for %s", path, self->current->event);
  process = spawn_hook (path, self->current, &error);
  if (process == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("could not start: %s", error->message);

      emit_finished (self, name, self->current->event, FALSE, reason);
      return FALSE;
    }

  run = g_rc_box_new0 (HookRun);
  run->hooks = self;
  run->name = g_steal_pointer (&name);
  run->event = g_strdup (self->current->event);
  run->process = g_steal_pointer (&process);
  run->cancellable = g_cancellable_new ();
  run->out = line_reader (g_subprocess_get_stdout_pipe (run->process));
  run->err = line_reader (g_subprocess_get_stderr_pipe (run->process));
  run->open_streams = 2;
  self->run = run;    /* the PfHooks' reference */

  g_subprocess_wait_async (run->process, run->cancellable, on_hook_exited, hook_run_ref (run));
  read_next_line (hook_run_ref (run), run->out);
  read_next_line (hook_run_ref (run), run->err);
  run->timeout_id = g_timeout_add (self->timeout_ms, on_hook_timeout, run);
  return TRUE;
}

/* The queue */

static void
clear_current (PfHooks *self)
{
  g_clear_pointer (&self->current, hook_event_free);
  g_clear_pointer (&self->paths, g_ptr_array_unref);
  self->next_path = 0;
}

/* Starts the next hook, of the current event or of the next ones, unless
 * one is running. */
static void
process_queue (PfHooks *self)
{
  g_autoptr(PfHooks) hold = g_object_ref (self);

  while (self->run == NULL)
    {
      if (self->paths != NULL && self->next_path < self->paths->len)
        {
          const char *path = g_ptr_array_index (self->paths, self->next_path++);

          start_hook (self, path);
          continue;
        }

      clear_current (self);
      self->current = g_queue_pop_head (&self->events);
      if (self->current == NULL)
        return;
      self->paths = list_hooks (self->dir);
      g_debug ("Event %s: %u hooks", self->current->event, self->paths->len);
    }
}

static gboolean
on_kick (gpointer user_data)
{
  PfHooks *self = user_data;

  self->kick_id = 0;
  process_queue (self);
  return G_SOURCE_REMOVE;
}

void
pf_hooks_run (PfHooks           *self,
              const char        *event,
              const char *const *env,
              const char *const *args)
{
  HookEvent *queued;

  g_return_if_fail (PF_IS_HOOKS (self));
  g_return_if_fail (event != NULL && *event != '\0');
  for (gsize i = 0; env != NULL && env[i] != NULL; i++)
    g_return_if_fail (env_pair_is_valid (env[i]));

  queued = g_new0 (HookEvent, 1);
  queued->event = g_strdup (event);
  queued->envp = hook_environment (event, env);
  queued->args = args != NULL ? g_strdupv ((char **) args) : g_new0 (char *, 1);
  g_queue_push_tail (&self->events, queued);

  /* Started from the main loop, so that "finished" is never emitted from
   * within this call. */
  if (self->run == NULL && self->kick_id == 0)
    self->kick_id = g_idle_add (on_kick, self);
}

gboolean
pf_hooks_is_idle (PfHooks *self)
{
  g_return_val_if_fail (PF_IS_HOOKS (self), TRUE);

  return self->run == NULL && self->current == NULL && g_queue_is_empty (&self->events);
}

void
pf_hooks_set_kill_delay (PfHooks *self,
                         guint    kill_delay_ms)
{
  g_return_if_fail (PF_IS_HOOKS (self));

  self->kill_delay_ms = kill_delay_ms;
}

/* The object */

static void
pf_hooks_dispose (GObject *object)
{
  PfHooks *self = PF_HOOKS (object);

  g_clear_handle_id (&self->kick_id, g_source_remove);
  g_queue_clear_full (&self->events, (GDestroyNotify) hook_event_free);
  clear_current (self);
  if (self->run != NULL)
    {
      HookRun *run = self->run;

      g_message ("Hook %s for %s: stopped", run->name, run->event);
      hook_run_signal (run, SIGKILL);
      g_cancellable_cancel (run->cancellable);
      hook_run_detach (run);
    }
  G_OBJECT_CLASS (pf_hooks_parent_class)->dispose (object);
}

static void
pf_hooks_finalize (GObject *object)
{
  PfHooks *self = PF_HOOKS (object);

  g_free (self->dir);
  G_OBJECT_CLASS (pf_hooks_parent_class)->finalize (object);
}

static void
pf_hooks_class_init (PfHooksClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_hooks_dispose;
  object_class->finalize = pf_hooks_finalize;

  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_STRING);
}

static void
pf_hooks_init (PfHooks *self)
{
  g_queue_init (&self->events);
  self->kill_delay_ms = PF_HOOKS_DEFAULT_KILL_DELAY_MS;
}

PfHooks *
pf_hooks_new (const char *dir,
              guint       timeout_ms)
{
  PfHooks *self = g_object_new (PF_TYPE_HOOKS, NULL);

  self->dir = g_strdup (dir != NULL ? dir : HOOKS_DEFAULT_DIR);
  self->timeout_ms = timeout_ms != 0 ? timeout_ms : PF_HOOKS_DEFAULT_TIMEOUT_MS;
  return self;
}
