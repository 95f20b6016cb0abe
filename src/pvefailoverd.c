/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pvefailoverd: keeps a host online over a backup uplink when the primary
 * internet link fails, and brings it back when the primary is healthy.
 */
#define G_LOG_DOMAIN "pvefailover"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <glib-unix.h>

#include "pf-config.h"
#include "pf-error.h"
#include "pf-manager.h"

#define PF_BUS_NAME "org.pvefailover"

typedef enum {
  EXIT_OK = 0,
  EXIT_FAILURE_GENERIC = 1,
  EXIT_BAD_CONFIG = 2,
  EXIT_NAME_TAKEN = 3,
} PfExitCode;

typedef struct {
  GMainLoop *loop;
  PfManager *manager;
  PfExitCode exit_code;
  gboolean   name_acquired;
} Daemon;

static int verbosity;

static gboolean
on_verbose (const char *option_name,
            const char *value,
            gpointer    data,
            GError    **error)
{
  verbosity++;
  return TRUE;
}

/* -v shows g_info(), -vv also g_debug(); the rest goes through GLib's
 * default writer (the journal when stderr is the journal). */
static GLogWriterOutput
log_writer (GLogLevelFlags   level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  if (level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
    {
      int needed = (level & G_LOG_LEVEL_DEBUG) ? 2 : 1;
      const char *env = g_getenv ("G_MESSAGES_DEBUG");

      if (verbosity < needed && env == NULL)
        return G_LOG_WRITER_HANDLED;
      if (g_log_writer_is_journald (fileno (stderr)) &&
          g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
      return g_log_writer_standard_streams (level, fields, n_fields, user_data);
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* The one place where an error becomes an exit code. */
static PfExitCode
exit_code_for_error (const GError *error)
{
  if (g_error_matches (error, PF_ERROR, PF_ERROR_INVALID_CONFIG) ||
      error->domain == G_KEY_FILE_ERROR || error->domain == G_FILE_ERROR)
    return EXIT_BAD_CONFIG;
  return EXIT_FAILURE_GENERIC;
}

static gboolean
on_sigterm (gpointer user_data)
{
  Daemon *daemon = user_data;

  g_message ("Stopping on signal");
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup (gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  g_message ("Reloading the configuration on SIGHUP");
  if (!pf_manager_reload (daemon->manager, &error))
    g_warning ("Reload refused, keeping the running configuration: %s", error->message);
  return G_SOURCE_CONTINUE;
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  Daemon *daemon = user_data;

  daemon->name_acquired = TRUE;
  g_info ("Owning %s", name);
  pf_manager_start (daemon->manager);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  Daemon *daemon = user_data;

  if (!daemon->name_acquired)
    {
      g_printerr ("Cannot own %s on the system bus: is another pvefailoverd running? "
                  "(use --replace to take over)\n", name);
      daemon->exit_code = EXIT_NAME_TAKEN;
    }
  else
    g_message ("Lost %s (replaced?): stopping", name);
  g_main_loop_quit (daemon->loop);
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  gboolean replace = FALSE;
  gboolean version = FALSE;
  gboolean check_config = FALSE;
  const GOptionEntry entries[] = {
    { "verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_verbose,
      "Log more (repeat for debug messages)", NULL },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " PF_DEFAULT_CONFIG_FILE ")", "FILE" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config,
      "Validate the configuration and exit", NULL },
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      "Replace a running instance", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PfConfig) config = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Daemon daemon = { 0 };
  guint owner_id;

  setlocale (LC_ALL, "");
  g_log_set_writer_func (log_writer, NULL, NULL);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, "Fails a host over to a backup uplink when its internet link dies.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return EXIT_BAD_CONFIG;
    }
  if (version)
    {
      g_print ("pvefailoverd %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }
  if (config_path == NULL)
    {
      const char *dir = g_getenv ("CONFIGURATION_DIRECTORY");
      config_path = dir != NULL && *dir != '\0' ?
        g_build_filename (dir, "pvefailover.conf", NULL) : g_strdup (PF_DEFAULT_CONFIG_FILE);
    }

  /* Refuse a bad file before anything on the host or the bus is touched. */
  config = pf_config_load (config_path, &error);
  if (config == NULL)
    {
      g_printerr ("%s\n", error->message);
      return exit_code_for_error (error);
    }
  if (check_config)
    {
      g_autofree char *summary = pf_config_describe (config);
      g_print ("%s: configuration OK\n%s", config_path, summary);
      return EXIT_OK;
    }

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("Cannot connect to the system bus: %s\n", error->message);
      return EXIT_FAILURE_GENERIC;
    }
  g_dbus_connection_set_exit_on_close (bus, FALSE);

  daemon.manager = pf_manager_new (bus, config_path, g_steal_pointer (&config), &error);
  if (daemon.manager == NULL)
    {
      g_printerr ("%s\n", error->message);
      return exit_code_for_error (error);
    }

  loop = g_main_loop_new (NULL, FALSE);
  daemon.loop = loop;
  g_unix_signal_add (SIGTERM, on_sigterm, &daemon);
  g_unix_signal_add (SIGINT, on_sigterm, &daemon);
  g_unix_signal_add (SIGHUP, on_sighup, &daemon);

  owner_id = g_bus_own_name_on_connection (bus, PF_BUS_NAME,
                                           G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                           (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                                           on_name_acquired, on_name_lost, &daemon, NULL);
  g_main_loop_run (loop);

  g_bus_unown_name (owner_id);
  if (daemon.name_acquired)
    pf_manager_stop (daemon.manager);
  g_clear_object (&daemon.manager);
  g_dbus_connection_flush_sync (bus, NULL, NULL);
  return daemon.exit_code;
}
