/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pf-modem-tool: run one modem telemetry source and print every snapshot it
 * publishes as one JSON line (stdout flushed each time). Used by the tests.
 *
 *   pf-modem-tool --modemmanager [PATH] [--signal-rate S]
 *   pf-modem-tool --hilink URL [--interface IF] [--poll S]
 *
 *   --once       print the first snapshot with "present": true and exit
 *   --timeout S  give up after S seconds (with --once: exit 1 after printing
 *                the latest snapshot; otherwise: exit 0)
 *   --private    include "iccid" and "imsi"
 *
 * The ModemManager source uses the system bus (DBUS_SYSTEM_BUS_ADDRESS).
 * Unknown numbers are null. Exit status: 0 done, 1 --once timed out, 2 bad
 * usage or no bus.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-modem-tool"

#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pf-modem.h"
#include "pf-modem-hilink.h"
#include "pf-modem-mm.h"

typedef struct
{
  GMainLoop *loop;
  gboolean   once;
  gboolean   show_private;
  gboolean   found;
} Tool;

static void
print_info (Tool    *tool,
            PfModem *modem)
{
  const PfModemInfo *info = pf_modem_get_info (modem);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "source");
  json_builder_add_string_value (builder, pf_modem_get_source (modem));
  pf_modem_info_to_json (info, builder, tool->show_private);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
  fflush (stdout);
}

static void
changed_cb (PfModem *modem,
            Tool    *tool)
{
  if (tool->once)
    {
      if (!pf_modem_get_info (modem)->present)
        return;
      tool->found = TRUE;
      print_info (tool, modem);
      g_main_loop_quit (tool->loop);
      return;
    }
  print_info (tool, modem);
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  gboolean use_mm = FALSE, once = FALSE, show_private = FALSE;
  g_autofree char *hilink_url = NULL;
  g_autofree char *interface = NULL;
  int signal_rate = 0, poll = 0, timeout = 0;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PfModem) modem = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Tool tool = { 0 };
  const GOptionEntry entries[] = {
    { "modemmanager", 0, 0, G_OPTION_ARG_NONE, &use_mm, "ModemManager source (PATH: the modem, default the first)", NULL },
    { "signal-rate", 0, 0, G_OPTION_ARG_INT, &signal_rate, "Extended signal rate asked of ModemManager", "S" },
    { "hilink", 0, 0, G_OPTION_ARG_STRING, &hilink_url, "HiLink source at this base URL", "URL" },
    { "interface", 0, 0, G_OPTION_ARG_STRING, &interface, "Interface the HiLink requests are bound to", "IF" },
    { "poll", 0, 0, G_OPTION_ARG_INT, &poll, "HiLink poll interval", "S" },
    { "once", 0, 0, G_OPTION_ARG_NONE, &once, "Print the first present snapshot and exit", NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Stop after S seconds", "S" },
    { "private", 0, 0, G_OPTION_ARG_NONE, &show_private, "Include ICCID and IMSI", NULL },
    { NULL }
  };

  /* stdout is for the JSON lines only, even with G_MESSAGES_DEBUG. */
  g_log_writer_default_set_use_stderr (TRUE);

  context = g_option_context_new ("[PATH] — print modem telemetry snapshots as JSON lines");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (use_mm == (hilink_url != NULL) || argc > (use_mm ? 2 : 1) ||
      signal_rate < 0 || poll < 0 || timeout < 0)
    {
      g_printerr ("usage: %s --modemmanager [PATH] [--signal-rate S] | --hilink URL [--interface IF] [--poll S]\n"
                  "       [--once] [--timeout S] [--private]\n", g_get_prgname ());
      return 2;
    }

  if (use_mm)
    {
      g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
      const char *path = argc > 1 ? argv[1] : NULL;

      if (bus == NULL)
        {
          g_printerr ("cannot connect to the system bus: %s\n", error->message);
          return 2;
        }
      if (path != NULL && !g_variant_is_object_path (path))
        {
          g_printerr ("not an object path: %s\n", path);
          return 2;
        }
      modem = pf_modem_mm_new (bus, path, (guint) signal_rate);
    }
  else
    modem = pf_modem_hilink_new (hilink_url, interface, (guint) poll);

  loop = g_main_loop_new (NULL, FALSE);
  tool.loop = loop;
  tool.once = once;
  tool.show_private = show_private;
  g_signal_connect (modem, "changed", G_CALLBACK (changed_cb), &tool);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  if (timeout > 0)
    g_timeout_add_seconds (timeout, quit_cb, loop);

  pf_modem_start (modem);
  g_main_loop_run (loop);
  pf_modem_stop (modem);

  if (once && !tool.found)
    {
      print_info (&tool, modem);
      return 1;
    }
  return 0;
}
