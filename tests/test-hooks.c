/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * PfHooks against small /bin/sh hooks written to a temporary directory: each
 * records what it was given (argv, its initial environment from
 * /proc/self/environ, its stdin) into files next to the hooks directory.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pf-hooks.h"

#define HOOKS_DOMAIN "pvefailover-hooks"
#define LOOP_LIMIT_S 20

typedef struct {
  char      *name;
  char      *event;
  gboolean   ok;
  char      *reason;
  gint64     time_us;
} Finished;

typedef struct {
  char      *dir;        /* the temporary directory: outputs */
  char      *hooks_dir;  /* its hooks.d */
  PfHooks   *hooks;
  GPtrArray *finished;   /* Finished */
  GPtrArray *logs;       /* char *, the module's messages and warnings */
  guint      log_handler;
} Fixture;

static void
finished_free (Finished *fin)
{
  g_free (fin->name);
  g_free (fin->event);
  g_free (fin->reason);
  g_free (fin);
}

static void
on_finished (PfHooks    *hooks,
             const char *name,
             const char *event,
             gboolean    ok,
             const char *reason,
             gpointer    user_data)
{
  Fixture *f = user_data;
  Finished *fin = g_new0 (Finished, 1);

  fin->name = g_strdup (name);
  fin->event = g_strdup (event);
  fin->ok = ok;
  fin->reason = g_strdup (reason);
  fin->time_us = g_get_monotonic_time ();
  g_ptr_array_add (f->finished, fin);
}

static void
capture_log (const char     *domain,
             GLogLevelFlags  level,
             const char     *message,
             gpointer        user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->logs, g_strdup (message));
  if (g_test_verbose ())
    g_printerr ("# %s\n", message);
}

/* A failing hook is a warning of this module: expected here. */
static gboolean
warnings_not_fatal (const char     *domain,
                    GLogLevelFlags  level,
                    const char     *message,
                    gpointer        user_data)
{
  return g_strcmp0 (domain, HOOKS_DOMAIN) != 0 || (level & G_LOG_LEVEL_CRITICAL) != 0;
}

static void
make_hooks (Fixture *f,
            guint    timeout_ms)
{
  g_clear_object (&f->hooks);
  f->hooks = pf_hooks_new (f->hooks_dir, timeout_ms);
  g_signal_connect (f->hooks, "finished", G_CALLBACK (on_finished), f);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("pf-hooks-XXXXXX", &error);
  g_assert_no_error (error);
  f->hooks_dir = g_build_filename (f->dir, "hooks.d", NULL);
  g_assert_cmpint (g_mkdir (f->hooks_dir, 0755), ==, 0);
  f->finished = g_ptr_array_new_with_free_func ((GDestroyNotify) finished_free);
  f->logs = g_ptr_array_new_with_free_func (g_free);
  /* Warnings are always fatal in tests: the flag is part of their level. */
  f->log_handler = g_log_set_handler (HOOKS_DOMAIN,
                                      G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                                      capture_log, f);
  g_test_log_set_fatal_handler (warnings_not_fatal, NULL);
  make_hooks (f, 5000);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->hooks);
  g_log_remove_handler (HOOKS_DOMAIN, f->log_handler);
  remove_tree (f->dir);
  g_ptr_array_unref (f->finished);
  g_ptr_array_unref (f->logs);
  g_free (f->hooks_dir);
  g_free (f->dir);
}

/* Helpers */

static void
write_file (Fixture    *f,
            const char *name,
            int         mode,
            const char *contents)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->hooks_dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static void
write_hook (Fixture    *f,
            const char *name,
            int         mode,
            const char *body)
{
  g_autofree char *script = g_strconcat ("#!/bin/sh\n", body, "\n", NULL);

  write_file (f, name, mode, script);
}

/* A hook that appends "<its name>:<event>" to $HOOK_OUT/order. */
static void
write_order_hook (Fixture    *f,
                  const char *name,
                  int         mode)
{
  write_hook (f, name, mode, "printf '%s:%s\\n' \"${0##*/}\" \"$1\" >> \"$HOOK_OUT/order\"");
}

static char *
read_output (Fixture    *f,
             const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &error))
    {
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      return g_strdup ("");
    }
  return contents;
}

static gboolean
on_loop_limit (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_poll (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until the hooks are idle, or until @until is true,
 * checked every 10 ms. */
static void
run_until (Fixture  *f,
           gboolean (*until) (Fixture *f))
{
  gboolean expired = FALSE;
  guint limit_id = g_timeout_add_seconds (LOOP_LIMIT_S, on_loop_limit, &expired);
  guint poll_id = until != NULL ? g_timeout_add (10, on_poll, NULL) : 0;

  while (!expired && !(until != NULL ? until (f) : pf_hooks_is_idle (f->hooks)))
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (expired);
  g_source_remove (limit_id);
  g_clear_handle_id (&poll_id, g_source_remove);
}

static void
run_until_idle (Fixture *f)
{
  run_until (f, NULL);
}

static void
queue_event (Fixture           *f,
             const char        *event,
             const char *const *args)
{
  g_autofree char *out = g_strconcat ("HOOK_OUT=", f->dir, NULL);
  const char *env[] = { out, NULL };

  pf_hooks_run (f->hooks, event, env, args);
}

static const Finished *
finished_at (Fixture *f,
             guint    index)
{
  g_assert_cmpuint (index, <, f->finished->len);
  return g_ptr_array_index (f->finished, index);
}

static void
assert_finished (Fixture    *f,
                 guint       index,
                 const char *name,
                 const char *event,
                 gboolean    ok,
                 const char *reason)
{
  const Finished *fin = finished_at (f, index);

  g_assert_cmpstr (fin->name, ==, name);
  g_assert_cmpstr (fin->event, ==, event);
  g_assert_cmpstr (fin->reason, ==, reason);
  g_assert_cmpint (fin->ok, ==, ok);
}

static gboolean
logged (Fixture    *f,
        const char *line)
{
  for (guint i = 0; i < f->logs->len; i++)
    if (g_strcmp0 (g_ptr_array_index (f->logs, i), line) == 0)
      return TRUE;
  return FALSE;
}

/* Tests */

static void
test_argv_and_environment (Fixture *f, gconstpointer data)
{
  g_autofree char *out = g_strconcat ("HOOK_OUT=", f->dir, NULL);
  g_autofree char *path = g_build_filename (f->hooks_dir, "10-record", NULL);
  g_autofree char *argv = NULL;
  g_autofree char *env = NULL;
  g_autofree char *stdin_target = NULL;
  g_autofree char *expected_argv = NULL;
  g_autofree char *expected_env = NULL;
  const char *pairs[] = { "PVEFAILOVER_FROM=primary", "PVEFAILOVER_TO=lte", out,
                          "PVEFAILOVER_REASON=a=b", NULL };
  const char *args[] = { "primary", "lte", "loss 5/5; $(touch /tmp/x) `id`", "", NULL };

  write_hook (f, "10-record", 0755,
              "for a in \"$0\" \"$@\"; do printf '[%s]\\n' \"$a\"; done > \"$HOOK_OUT/argv\"\n"
              "tr '\\0' '\\n' < /proc/$$/environ | sort > \"$HOOK_OUT/env\"\n"
              "readlink /proc/$$/fd/0 > \"$HOOK_OUT/stdin\"\n"
              "echo 'to stdout'\n"
              "echo 'to stderr' >&2");
  pf_hooks_run (f->hooks, "failover", pairs, args);
  g_assert_false (pf_hooks_is_idle (f->hooks));
  /* Nothing happens within the call. */
  g_assert_cmpuint (f->finished->len, ==, 0);
  run_until_idle (f);

  g_assert_cmpuint (f->finished->len, ==, 1);
  assert_finished (f, 0, "10-record", "failover", TRUE, "exited with status 0");

  argv = read_output (f, "argv");
  expected_argv = g_strdup_printf ("[%s]\n[failover]\n[primary]\n[lte]\n"
                                   "[loss 5/5; $(touch /tmp/x) `id`]\n[]\n", path);
  g_assert_cmpstr (argv, ==, expected_argv);

  env = read_output (f, "env");
  expected_env = g_strdup_printf ("%s\nLANG=C.UTF-8\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
                                  "PVEFAILOVER_EVENT=failover\nPVEFAILOVER_FROM=primary\n"
                                  "PVEFAILOVER_REASON=a=b\nPVEFAILOVER_TO=lte\n", out);
  g_assert_cmpstr (env, ==, expected_env);

  stdin_target = read_output (f, "stdin");
  g_assert_cmpstr (stdin_target, ==, "/dev/null\n");

  g_assert_true (logged (f, "hook 10-record: to stdout"));
  g_assert_true (logged (f, "hook 10-record: to stderr"));
}

static void
test_order_and_skipped (Fixture *f, gconstpointer data)
{
  g_autofree char *order = NULL;
  g_autofree char *dir = g_build_filename (f->hooks_dir, "45-directory", NULL);
  g_autofree char *link = g_build_filename (f->hooks_dir, "60-link", NULL);

  write_order_hook (f, "20-b", 0755);
  write_order_hook (f, "10-a", 0700);
  write_order_hook (f, "30_C", 0755);
  write_order_hook (f, "Zz", 0755);
  write_order_hook (f, "40-not-executable", 0644);
  write_order_hook (f, "50-old.dpkg-old", 0755);
  write_order_hook (f, "50-backup~", 0755);
  write_order_hook (f, ".hidden", 0755);
  write_order_hook (f, "55 space", 0755);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_assert_cmpint (symlink ("20-b", link), ==, 0);

  queue_event (f, "failover", NULL);
  run_until_idle (f);

  /* Byte order: digits, then upper case, then lower case. */
  order = read_output (f, "order");
  g_assert_cmpstr (order, ==, "10-a:failover\n20-b:failover\n30_C:failover\n"
                              "60-link:failover\nZz:failover\n");
  g_assert_cmpuint (f->finished->len, ==, 5);
  assert_finished (f, 0, "10-a", "failover", TRUE, "exited with status 0");
  assert_finished (f, 1, "20-b", "failover", TRUE, "exited with status 0");
  assert_finished (f, 2, "30_C", "failover", TRUE, "exited with status 0");
  assert_finished (f, 3, "60-link", "failover", TRUE, "exited with status 0");
  assert_finished (f, 4, "Zz", "failover", TRUE, "exited with status 0");
}

static void
test_events_in_order (Fixture *f, gconstpointer data)
{
  g_autofree char *order = NULL;

  /* The first hook is slow: the next event must wait for the whole run. */
  write_hook (f, "10-slow", 0755,
              "sleep 0.3\n"
              "printf '%s:%s\\n' \"${0##*/}\" \"$1\" >> \"$HOOK_OUT/order\"");
  write_order_hook (f, "20-fast", 0755);

  queue_event (f, "failover", NULL);
  queue_event (f, "failback", NULL);
  queue_event (f, "switch", NULL);
  run_until_idle (f);

  order = read_output (f, "order");
  g_assert_cmpstr (order, ==, "10-slow:failover\n20-fast:failover\n"
                              "10-slow:failback\n20-fast:failback\n"
                              "10-slow:switch\n20-fast:switch\n");
  g_assert_cmpuint (f->finished->len, ==, 6);
  assert_finished (f, 1, "20-fast", "failover", TRUE, "exited with status 0");
  assert_finished (f, 2, "10-slow", "failback", TRUE, "exited with status 0");
  assert_finished (f, 5, "20-fast", "switch", TRUE, "exited with status 0");
}

static void
test_directory_read_per_event (Fixture *f, gconstpointer data)
{
  g_autofree char *order = NULL;

  write_order_hook (f, "20-first", 0755);
  queue_event (f, "failover", NULL);
  run_until_idle (f);

  write_order_hook (f, "10-added", 0755);
  queue_event (f, "failback", NULL);
  run_until_idle (f);

  order = read_output (f, "order");
  g_assert_cmpstr (order, ==, "20-first:failover\n10-added:failback\n20-first:failback\n");
}

static void
test_failures (Fixture *f, gconstpointer data)
{
  g_autofree char *order = NULL;

  write_file (f, "00-bad-interpreter", 0755, "#!/nonexistent/interpreter\n");
  write_hook (f, "10-fails", 0755, "echo 'no luck' >&2\nexit 3");
  write_hook (f, "20-killed", 0755, "kill -9 $$");
  write_order_hook (f, "40-after", 0755);

  queue_event (f, "failover", NULL);
  /* Even a hook that cannot start is reported from the main loop. */
  g_assert_cmpuint (f->finished->len, ==, 0);
  run_until_idle (f);

  g_assert_cmpuint (f->finished->len, ==, 4);
  g_assert_cmpstr (finished_at (f, 0)->name, ==, "00-bad-interpreter");
  g_assert_false (finished_at (f, 0)->ok);
  g_assert_true (g_str_has_prefix (finished_at (f, 0)->reason, "could not start: "));
  assert_finished (f, 1, "10-fails", "failover", FALSE, "exited with status 3");
  assert_finished (f, 2, "20-killed", "failover", FALSE, "killed by signal 9");
  assert_finished (f, 3, "40-after", "failover", TRUE, "exited with status 0");

  order = read_output (f, "order");
  g_assert_cmpstr (order, ==, "40-after:failover\n");
  g_assert_true (logged (f, "hook 10-fails: no luck"));
  g_assert_true (logged (f, "Hook 10-fails for failover failed: exited with status 3"));
}

static void
test_timeout_term (Fixture *f, gconstpointer data)
{
  gint64 start;

  make_hooks (f, 300);
  write_hook (f, "10-sleeps", 0755, "sleep 10");
  write_order_hook (f, "20-after", 0755);

  start = g_get_monotonic_time ();
  queue_event (f, "failover", NULL);
  run_until_idle (f);

  g_assert_cmpuint (f->finished->len, ==, 2);
  assert_finished (f, 0, "10-sleeps", "failover", FALSE,
                   "timed out after 300 ms (killed by signal 15)");
  assert_finished (f, 1, "20-after", "failover", TRUE, "exited with status 0");
  g_assert_cmpint (finished_at (f, 0)->time_us - start, >=, 300 * 1000);
  g_assert_cmpint (finished_at (f, 0)->time_us - start, <, 3 * G_USEC_PER_SEC);
}

/* Gone, or a zombie waiting for its new parent. */
static gboolean
process_is_dead (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return TRUE;
  end = strrchr (stat, ')');
  return end != NULL && g_str_has_prefix (end, ") Z");
}

static void
test_timeout_kill (Fixture *f, gconstpointer data)
{
  g_autofree char *text = NULL;
  gint64 start;
  gint64 deadline;
  pid_t child;

  make_hooks (f, 300);
  pf_hooks_set_kill_delay (f->hooks, 200);
  /* SIGTERM ignored by the hook and by the child it waits for: SIGKILL
   * must reach both. */
  write_hook (f, "10-stubborn", 0755, "trap '' TERM\n"
                                      "sleep 10 &\n"
                                      "echo $! > \"$HOOK_OUT/child\"\n"
                                      "wait\n"
                                      "echo 'not reached'");

  start = g_get_monotonic_time ();
  queue_event (f, "failover", NULL);
  run_until_idle (f);

  g_assert_cmpuint (f->finished->len, ==, 1);
  assert_finished (f, 0, "10-stubborn", "failover", FALSE,
                   "timed out after 300 ms (killed by signal 9)");
  g_assert_cmpint (finished_at (f, 0)->time_us - start, >=, 500 * 1000);
  g_assert_cmpint (finished_at (f, 0)->time_us - start, <, 3 * G_USEC_PER_SEC);
  g_assert_false (logged (f, "hook 10-stubborn: not reached"));

  text = read_output (f, "child");
  child = (pid_t) g_ascii_strtoll (text, NULL, 10);
  g_assert_cmpint (child, >, 1);
  deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (!process_is_dead (child) && g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_assert_true (process_is_dead (child));
}

static void
test_background_output (Fixture *f, gconstpointer data)
{
  gint64 start;

  /* A child left behind keeps the output pipes open. */
  write_hook (f, "10-leaves-child", 0755, "sleep 4 &\necho done");
  start = g_get_monotonic_time ();
  queue_event (f, "failover", NULL);
  run_until_idle (f);

  g_assert_cmpuint (f->finished->len, ==, 1);
  assert_finished (f, 0, "10-leaves-child", "failover", TRUE, "exited with status 0");
  g_assert_cmpint (finished_at (f, 0)->time_us - start, <, 3 * G_USEC_PER_SEC);
  g_assert_true (logged (f, "hook 10-leaves-child: done"));
}

static void
test_missing_directory (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->hooks);
  remove_tree (f->hooks_dir);
  make_hooks (f, 0);

  queue_event (f, "failover", NULL);
  g_assert_false (pf_hooks_is_idle (f->hooks));
  run_until_idle (f);
  g_assert_cmpuint (f->finished->len, ==, 0);
  g_assert_cmpuint (f->logs->len, ==, 0);
}

static gboolean
pid_file_written (Fixture *f)
{
  g_autofree char *pid = read_output (f, "pid");

  return g_str_has_suffix (pid, "\n");
}

static void
test_dispose_kills (Fixture *f, gconstpointer data)
{
  g_autofree char *text = NULL;
  gint64 deadline;
  pid_t pid;

  write_hook (f, "10-long", 0755, "echo $$ > \"$HOOK_OUT/pid.tmp\"\n"
                                  "mv \"$HOOK_OUT/pid.tmp\" \"$HOOK_OUT/pid\"\n"
                                  "sleep 30");
  queue_event (f, "failover", NULL);
  queue_event (f, "failback", NULL);
  run_until (f, pid_file_written);

  text = read_output (f, "pid");
  pid = (pid_t) g_ascii_strtoll (text, NULL, 10);
  g_assert_cmpint (pid, >, 1);
  g_assert_cmpint (kill (pid, 0), ==, 0);

  g_clear_object (&f->hooks);

  /* Killed and reaped, without "finished" and without the queued event. */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (kill (pid, 0) == 0 && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10 * 1000);
    }
  g_assert_cmpint (kill (pid, 0), ==, -1);
  g_assert_cmpint (errno, ==, ESRCH);
  g_assert_cmpuint (f->finished->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/hooks/argv-and-environment", test_argv_and_environment);
  ADD ("/hooks/order-and-skipped", test_order_and_skipped);
  ADD ("/hooks/events-in-order", test_events_in_order);
  ADD ("/hooks/directory-read-per-event", test_directory_read_per_event);
  ADD ("/hooks/failures", test_failures);
  ADD ("/hooks/timeout-term", test_timeout_term);
  ADD ("/hooks/timeout-kill", test_timeout_kill);
  ADD ("/hooks/background-output", test_background_output);
  ADD ("/hooks/missing-directory", test_missing_directory);
  ADD ("/hooks/dispose-kills", test_dispose_kills);
#undef ADD
  return g_test_run ();
}
