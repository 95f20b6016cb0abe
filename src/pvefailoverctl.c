/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pvefailoverctl: the command-line client of pvefailoverd.
 *
 * A table of subcommands, each with its own options, talking to the daemon
 * on the system bus through the proxies generated from
 * dbus/org.pvefailover.xml. Errors travel as GErrors up to main(), where
 * exit_code_for_error() maps them to the documented exit codes.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-ctl"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "pf-config.h"
#include "pf-dbus-generated.h"
#include "pf-error.h"

#define PF_BUS_NAME      "org.pvefailover"
#define PF_MANAGER_PATH  "/org/pvefailover"

/* Mutating calls may wait for an administrator to type a password (polkit
 * interactive authorization) and TestUplink runs a probe round: give them
 * more than the default 25 s. */
#define PF_MUTATING_CALL_TIMEOUT_MS (5 * 60 * 1000)

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_NOT_RUNNING = 3,
  EXIT_NOT_AUTHORIZED = 4,
};

/* Errors of the client itself; the daemon's come as PF_ERROR or G_DBUS_ERROR. */
typedef enum {
  PF_CTL_ERROR_USAGE,        /* bad command line: exit 2 */
  PF_CTL_ERROR_NOT_RUNNING,  /* no owner for org.pvefailover: exit 3 */
  PF_CTL_ERROR_NEGATIVE,     /* the answer is "no" (test failed): exit 1, message already shown */
  PF_CTL_ERROR_FAILED,       /* anything else: exit 1 */
} PfCtlError;

#define PF_CTL_ERROR (pf_ctl_error_quark ())
static G_DEFINE_QUARK (pf-ctl-error-quark, pf_ctl_error)

/* ---------------------------------------------------------------------- */
/* Output helpers                                                          */

static gboolean use_colour;

typedef enum {
  COLOUR_NONE,
  COLOUR_GREEN,
  COLOUR_YELLOW,
  COLOUR_RED,
  COLOUR_BLUE,
} Colour;

static const char *
colour_start (Colour colour)
{
  if (!use_colour)
    return "";
  switch (colour)
    {
    case COLOUR_GREEN:
      return "\033[1;32m";
    case COLOUR_YELLOW:
      return "\033[1;33m";
    case COLOUR_RED:
      return "\033[1;31m";
    case COLOUR_BLUE:
      return "\033[1;34m";
    case COLOUR_NONE:
    default:
      return "";
    }
}

static const char *
colour_end (Colour colour)
{
  return use_colour && colour != COLOUR_NONE ? "\033[0m" : "";
}

static Colour
colour_for_state (const char *state)
{
  if (g_strcmp0 (state, "normal") == 0)
    return COLOUR_GREEN;
  if (g_strcmp0 (state, "failed-over") == 0)
    return COLOUR_YELLOW;
  if (g_strcmp0 (state, "forced") == 0 || g_strcmp0 (state, "maintenance") == 0)
    return COLOUR_BLUE;
  if (g_strcmp0 (state, "degraded") == 0)
    return COLOUR_RED;
  return COLOUR_NONE;
}

/* Alerts stand out in "events" and "watch"; the other kinds stay plain. */
static Colour
colour_for_event_kind (const char *kind)
{
  if (g_strcmp0 (kind, "alert") == 0 || g_strcmp0 (kind, "error") == 0)
    return COLOUR_RED;
  if (g_strcmp0 (kind, "alert-cleared") == 0)
    return COLOUR_GREEN;
  return COLOUR_NONE;
}

/* The event kind, coloured on a terminal. */
static char *
format_event_kind (const char *kind)
{
  Colour colour = colour_for_event_kind (kind);

  return g_strdup_printf ("%s%s%s", colour_start (colour), kind, colour_end (colour));
}

static Colour
colour_for_health (const char *health)
{
  if (g_strcmp0 (health, "up") == 0)
    return COLOUR_GREEN;
  if (g_strcmp0 (health, "degraded") == 0)
    return COLOUR_YELLOW;
  if (g_strcmp0 (health, "down") == 0)
    return COLOUR_RED;
  return COLOUR_NONE;
}

/* Width of @text on a terminal, counting characters, not bytes. */
static glong
text_width (const char *text)
{
  return g_utf8_strlen (text, -1);
}

/* @text padded with spaces to @width, wrapped in @colour (padding outside). */
static void
append_cell (GString *line, const char *text, glong width, Colour colour)
{
  g_string_append_printf (line, "%s%s%s", colour_start (colour), text, colour_end (colour));
  for (glong i = text_width (text); i < width; i++)
    g_string_append_c (line, ' ');
}

static void
print_line (const char *line)
{
  g_print ("%s\n", line);
  fflush (stdout);
}

static void print_linef (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
print_linef (const char *format,
             ...)
{
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  print_line (line);
}

static char *
format_local_time (gint64 time_us)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);

  if (dt == NULL)
    return g_strdup ("?");
  return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S");
}

static char *
format_ago (gint64 time_us, gint64 now_us)
{
  gint64 secs = MAX (now_us - time_us, 0) / G_USEC_PER_SEC;

  if (secs < 60)
    /* TRANSLATORS: how long ago something happened, in seconds */
    return g_strdup_printf (_("%u s ago"), (guint) secs);
  if (secs < 3600)
    /* TRANSLATORS: how long ago something happened, in minutes */
    return g_strdup_printf (_("%u min ago"), (guint) (secs / 60));
  if (secs < 86400)
    /* TRANSLATORS: how long ago something happened, in hours and minutes */
    return g_strdup_printf (_("%u h %u min ago"), (guint) (secs / 3600), (guint) (secs % 3600 / 60));
  /* TRANSLATORS: how long ago something happened, in days and hours */
  return g_strdup_printf (_("%u d %u h ago"), (guint) (secs / 86400), (guint) (secs % 86400 / 3600));
}

/* "primary -> lte", or the one that is set, or "". */
static char *
format_from_to (const char *from, const char *to)
{
  gboolean has_from = from != NULL && *from != '\0';
  gboolean has_to = to != NULL && *to != '\0';

  if (has_from && has_to)
    return g_strdup_printf ("%s -> %s", from, to);
  if (has_from)
    return g_strdup (from);
  if (has_to)
    return g_strdup (to);
  return g_strdup ("");
}

static char *
format_event (guint64 time_us, const char *kind, const char *from, const char *to, const char *reason)
{
  g_autofree char *when = format_local_time ((gint64) time_us);
  g_autofree char *from_to = format_from_to (from, to);
  g_autofree char *kind_text = format_event_kind (kind);

  if (*from_to == '\0')
    /* TRANSLATORS: one event: time, kind ("failover", "mode", ...), reason */
    return g_strdup_printf (_("%s  %s: %s"), when, kind_text, reason);
  /* TRANSLATORS: one event: time, kind ("failover", "alert", ...), "primary -> lte"
   * or the uplink an alert is about, reason */
  return g_strdup_printf (_("%s  %s %s: %s"), when, kind_text, from_to, reason);
}

static char *
json_to_pretty_string (JsonNode *root)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

/* ---------------------------------------------------------------------- */
/* Talking to the daemon                                                    */

typedef struct {
  GDBusConnection *connection;
  PfDBusManager1  *manager;
  GMainLoop       *loop;     /* watch */
} PfCtl;

static void
pf_ctl_clear (PfCtl *ctl)
{
  g_clear_pointer (&ctl->loop, g_main_loop_unref);
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->connection);
}

static gboolean
pf_ctl_connect (PfCtl *ctl, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *owner = NULL;

  /* The system bus; GIO honours $DBUS_SYSTEM_BUS_ADDRESS. */
  ctl->connection = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local_error);
  if (ctl->connection == NULL)
    {
      g_debug ("cannot connect to the system bus: %s", local_error->message);
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_NOT_RUNNING,
                           /* TRANSLATORS: no system bus, so the daemon cannot be reached */
                           _("pvefailoverd is not running (no system bus)"));
      return FALSE;
    }

  /* Without DO_NOT_AUTO_START the bus may start the daemon through its
   * activation file; a name nobody provides just leaves the proxy without
   * an owner. */
  ctl->manager = pf_dbus_manager1_proxy_new_sync (ctl->connection, G_DBUS_PROXY_FLAGS_NONE,
                                                  PF_BUS_NAME, PF_MANAGER_PATH,
                                                  NULL, &local_error);
  if (ctl->manager == NULL)
    {
      g_debug ("cannot create the manager proxy: %s", local_error->message);
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_NOT_RUNNING,
                           /* TRANSLATORS: the daemon could not be reached or started */
                           _("pvefailoverd is not running"));
      return FALSE;
    }

  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (ctl->manager));
  if (owner == NULL)
    {
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_NOT_RUNNING,
                           /* TRANSLATORS: the bus name org.pvefailover has no owner */
                           _("pvefailoverd is not running"));
      return FALSE;
    }
  return TRUE;
}

/* A method that changes something: polkit may ask for a password, so
 * allow interactive authorization and wait long enough for it. The
 * generated wrappers always pass G_DBUS_CALL_FLAGS_NONE. */
static GVariant *
call_mutating (PfCtl *ctl, const char *method, GVariant *parameters,
               const GVariantType *reply_type, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (ctl->manager), method, parameters,
                                  G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                  PF_MUTATING_CALL_TIMEOUT_MS, NULL, error);
  if (reply == NULL)
    return NULL;
  if (!g_variant_is_of_type (reply, reply_type))
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                   /* TRANSLATORS: the daemon answered a method call with unexpected types */
                   _("Unexpected reply to %s: %s"), method, g_variant_get_type_string (reply));
      return NULL;
    }
  return g_steal_pointer (&reply);
}

static const char *
or_empty (const char *text)
{
  return text != NULL ? text : "";
}

static GPtrArray *
get_uplinks (PfCtl *ctl, GError **error)
{
  g_autoptr(GPtrArray) uplinks = g_ptr_array_new_with_free_func (g_object_unref);
  const char *const *paths = pf_dbus_manager1_get_uplinks (ctl->manager);

  for (guint i = 0; paths != NULL && paths[i] != NULL; i++)
    {
      PfDBusUplink1 *uplink;

      uplink = pf_dbus_uplink1_proxy_new_sync (ctl->connection,
                                               G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                               PF_BUS_NAME, paths[i], NULL, error);
      if (uplink == NULL)
        {
          g_prefix_error (error, "%s: ", paths[i]);
          return NULL;
        }
      g_ptr_array_add (uplinks, uplink);
    }
  return g_steal_pointer (&uplinks);
}

/* ---------------------------------------------------------------------- */
/* Commands                                                                 */

typedef struct _PfCommand PfCommand;

struct _PfCommand {
  const char          *name;
  gboolean           (*handler) (PfCtl *ctl, const PfCommand *command, char **args, GError **error);
  const char          *summary;      /* N_() */
  const char          *parameters;   /* positional arguments for --help, N_() */
  const GOptionEntry  *options;      /* NULL-terminated, may be NULL */
  guint                min_args;
  guint                max_args;
  gboolean             needs_daemon;
};

/* Per-command options. */
static gboolean opt_json;
static guint opt_limit = 20;

/* --limit N: checked while parsing, so that a bad value is a usage error
 * (exit 2) whether the daemon runs or not. */
static gboolean
parse_limit (const char *option_name, const char *value, gpointer data, GError **error)
{
  guint64 limit;

  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT, &limit, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   /* TRANSLATORS: --limit was not a number, 0 or more; %s is the value, then the option */
                   _("Invalid value “%s” for %s: expected a number, 0 or more"), value, option_name);
      return FALSE;
    }
  opt_limit = (guint) limit;
  return TRUE;
}

static const GOptionEntry status_options[] = {
  /* TRANSLATORS: --json of "status" */
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, N_("Print the daemon's JSON status document"), NULL },
  { NULL }
};

static const GOptionEntry events_options[] = {
  /* TRANSLATORS: --limit of "events" */
  { "limit", 'n', 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Show at most N events, 0 for all (default 20)"),
    /* TRANSLATORS: the placeholder of --limit, as in "Show at most N events" */
    N_("N") },
  /* TRANSLATORS: --json of "events" */
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, N_("Print the events as JSON"), NULL },
  { NULL }
};

static gboolean opt_identity;

static const GOptionEntry modem_options[] = {
  /* TRANSLATORS: --json of "modem" */
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, N_("Print the modem telemetry as JSON, by uplink"), NULL },
  /* TRANSLATORS: --identity of "modem"; ICCID and IMSI are the SIM's numbers, keep them */
  { "identity", 'i', 0, G_OPTION_ARG_NONE, &opt_identity, N_("Also show the SIM's ICCID and IMSI (needs authorization)"), NULL },
  { NULL }
};

static char *opt_set_usage;
static gboolean opt_reset_usage;

static const GOptionEntry usage_options[] = {
  /* TRANSLATORS: --json of "usage" */
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, N_("Print the usage as JSON, by uplink"), NULL },
  /* TRANSLATORS: --set of "usage" */
  { "set", 's', 0, G_OPTION_ARG_STRING, &opt_set_usage,
    N_("Set the data used this cycle to what the carrier says (needs authorization)"),
    /* TRANSLATORS: the placeholder of --set: a size such as 3.2GB */
    N_("SIZE") },
  /* TRANSLATORS: --reset of "usage" */
  { "reset", 0, 0, G_OPTION_ARG_NONE, &opt_reset_usage,
    N_("Count this cycle again from zero (needs authorization)"), NULL },
  { NULL }
};

/* GetStatus as a JSON tree. */
static JsonNode *
get_status_json (PfCtl *ctl, GError **error)
{
  g_autofree char *json = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!pf_dbus_manager1_call_get_status_sync (ctl->manager, &json, NULL, error))
    return NULL;
  if (!json_parser_load_from_data (parser, json, -1, error))
    {
      /* TRANSLATORS: GetStatus returned something that is not JSON */
      g_prefix_error (error, _("Invalid status from pvefailoverd: "));
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                           /* TRANSLATORS: GetStatus returned JSON that is not an object */
                           _("Invalid status from pvefailoverd: not a JSON object"));
      return NULL;
    }
  return json_node_copy (root);
}

static gboolean
print_status_json (PfCtl *ctl, GError **error)
{
  g_autoptr(JsonNode) root = get_status_json (ctl, error);
  g_autofree char *pretty = NULL;

  if (root == NULL)
    return FALSE;
  pretty = json_to_pretty_string (root);
  print_line (pretty);
  return TRUE;
}

typedef struct {
  const char *label;
  char       *value;
  Colour      colour;
} Field;

/* Labels and values in two columns, each line after @indent. */
static void
print_fields_indented (const Field *fields, guint n_fields, const char *indent)
{
  glong width = 0;

  for (guint i = 0; i < n_fields; i++)
    width = MAX (width, text_width (fields[i].label));
  for (guint i = 0; i < n_fields; i++)
    {
      g_autoptr(GString) line = g_string_new (indent);

      append_cell (line, fields[i].label, width + 1, COLOUR_NONE);
      append_cell (line, fields[i].value, 0, fields[i].colour);
      print_line (line->str);
    }
}

static void
print_fields (const Field *fields, guint n_fields)
{
  print_fields_indented (fields, n_fields, "");
}

/* "12.3 ms", "5%", or "-" when unknown (negative). */
static char *
format_measure (double value, int decimals, const char *unit)
{
  if (value < 0)
    return g_strdup ("-");
  return g_strdup_printf ("%.*f%s", decimals, value, unit);
}

/* "-65 dBm", "-10.5 dB", or "-" when unknown (NaN; also an infinite or
 * huge value, which a writer that cannot store NaN may use instead). */
static char *
format_level (double value, const char *unit)
{
  if (!isfinite (value) || fabs (value) > 1e300)
    return g_strdup ("-");
  if (value == round (value))
    return g_strdup_printf ("%.0f %s", value, unit);
  return g_strdup_printf ("%.1f %s", value, unit);
}

/* How many of 4 bars a signal quality lights: 0-19 % none, 20-39 % one,
 * 40-59 % two, 60-79 % three, 80-100 % four. */
static guint
signal_bars_lit (gint quality)
{
  return (guint) MIN (CLAMP (quality, 0, 100) / 20, 4);
}

/* SignalQuality as bars: "▂▄▆▁" on a UTF-8 locale, "[###.]" elsewhere;
 * "-" when unknown (negative). */
static char *
format_signal_bars (gint quality)
{
  static const char *const lit[] = { "▂", "▄", "▆", "█" };
  GString *bars;
  guint n_lit;

  if (quality < 0)
    return g_strdup ("-");
  n_lit = signal_bars_lit (quality);
  bars = g_string_new (NULL);
  if (g_get_charset (NULL))
    {
      for (guint i = 0; i < G_N_ELEMENTS (lit); i++)
        g_string_append (bars, i < n_lit ? lit[i] : "▁");
    }
  else
    {
      g_string_append_c (bars, '[');
      for (guint i = 0; i < G_N_ELEMENTS (lit); i++)
        g_string_append_c (bars, i < n_lit ? '#' : '.');
      g_string_append_c (bars, ']');
    }
  return g_string_free (bars, FALSE);
}

/* g_format_size(), whose no-break space before the unit becomes a plain
 * one where the locale is not UTF-8 (g_print would show it as "?"). */
static char *
format_bytes (guint64 bytes)
{
  g_autofree char *size = g_format_size (bytes);
  GString *text = g_string_new (size);

  if (!g_get_charset (NULL))
    g_string_replace (text, "\u00a0", " ", 0);
  return g_string_free (text, FALSE);
}

/* A duration in microseconds: "0.3 ms", "250 ms", "1.2 s", "2 min 5 s". */
static char *
format_duration (guint64 duration_us)
{
  guint64 secs = duration_us / G_USEC_PER_SEC;

  if (duration_us < 1000)
    /* TRANSLATORS: a duration under a millisecond, with one decimal, e.g. "0.3 ms" */
    return g_strdup_printf (_("%.1f ms"), (double) duration_us / 1000);
  if (duration_us < G_USEC_PER_SEC)
    /* TRANSLATORS: a duration in milliseconds, e.g. "250 ms" */
    return g_strdup_printf (_("%u ms"), (guint) (duration_us / 1000));
  if (secs < 60)
    /* TRANSLATORS: a duration in seconds with one decimal, e.g. "1.2 s" */
    return g_strdup_printf (_("%.1f s"), (double) duration_us / G_USEC_PER_SEC);
  /* TRANSLATORS: a duration in minutes and seconds, e.g. "2 min 5 s" */
  return g_strdup_printf (_("%u min %u s"), (guint) (secs / 60), (guint) (secs % 60));
}

static gboolean
has_modem (PfDBusUplink1 *uplink)
{
  const char *source = pf_dbus_uplink1_get_modem (uplink);

  return source != NULL && *source != '\0';
}

static gboolean
is_backup (PfDBusUplink1 *uplink)
{
  return g_strcmp0 (pf_dbus_uplink1_get_role (uplink), "backup") == 0;
}

enum {
  COL_ACTIVE,
  COL_NAME,
  COL_ROLE,
  COL_INTERFACE,
  COL_HEALTH,
  COL_LOSS,
  COL_RTT,
  COL_STANDBY,
  COL_SIGNAL,     /* only when an uplink has modem telemetry */
  N_COLUMNS
};

static void
print_uplink_table (GPtrArray *uplinks)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  glong widths[N_COLUMNS] = { 0 };
  char **header = g_new0 (char *, N_COLUMNS + 1);
  guint n_columns = N_COLUMNS - 1;

  for (guint i = 0; i < uplinks->len; i++)
    if (has_modem (g_ptr_array_index (uplinks, i)))
      n_columns = N_COLUMNS;

  header[COL_ACTIVE] = g_strdup ("");
  /* TRANSLATORS: column headings of the uplink table of "status" */
  header[COL_NAME] = g_strdup (_("UPLINK"));
  header[COL_ROLE] = g_strdup (_("ROLE"));
  header[COL_INTERFACE] = g_strdup (_("INTERFACE"));
  header[COL_HEALTH] = g_strdup (_("HEALTH"));
  header[COL_LOSS] = g_strdup (_("LOSS"));
  header[COL_RTT] = g_strdup (_("RTT"));
  header[COL_STANDBY] = g_strdup (_("STANDBY"));
  /* TRANSLATORS: column heading of the uplink table of "status": the modem's signal as bars */
  header[COL_SIGNAL] = g_strdup (_("SIGNAL"));
  g_ptr_array_add (rows, header);

  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);
      char **row = g_new0 (char *, N_COLUMNS + 1);
      const char *interface = pf_dbus_uplink1_get_interface (uplink);
      const char *connection = pf_dbus_uplink1_get_connection (uplink);

      /* The marker of the uplink that carries traffic. */
      row[COL_ACTIVE] = g_strdup (pf_dbus_uplink1_get_active (uplink) ? "*" : "");
      row[COL_NAME] = g_strdup (or_empty (pf_dbus_uplink1_get_name (uplink)));
      row[COL_ROLE] = g_strdup (or_empty (pf_dbus_uplink1_get_role (uplink)));
      if (interface != NULL && *interface != '\0')
        row[COL_INTERFACE] = g_strdup (interface);
      else if (connection != NULL && *connection != '\0')
        row[COL_INTERFACE] = g_strdup_printf ("(%s)", connection);
      else
        row[COL_INTERFACE] = g_strdup ("-");
      row[COL_HEALTH] = g_strdup (or_empty (pf_dbus_uplink1_get_health (uplink)));
      row[COL_LOSS] = format_measure (pf_dbus_uplink1_get_loss (uplink), 0, "%");
      row[COL_RTT] = format_measure (pf_dbus_uplink1_get_rtt (uplink), 1, " ms");
      row[COL_STANDBY] = g_strdup (or_empty (pf_dbus_uplink1_get_standby (uplink)));
      if (has_modem (uplink))
        row[COL_SIGNAL] = format_signal_bars (pf_dbus_uplink1_get_signal_quality (uplink));
      else
        row[COL_SIGNAL] = g_strdup ("");
      g_ptr_array_add (rows, row);
    }

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = g_ptr_array_index (rows, r);
      for (guint c = 0; c < n_columns; c++)
        widths[c] = MAX (widths[c], text_width (row[c]));
    }

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = g_ptr_array_index (rows, r);
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < n_columns; c++)
        {
          gboolean last = c == n_columns - 1;
          Colour colour = (r > 0 && c == COL_HEALTH) ? colour_for_health (row[c]) : COLOUR_NONE;

          append_cell (line, row[c], last ? 0 : widths[c] + (c == COL_ACTIVE ? 1 : 2), colour);
        }
      /* Trailing spaces of empty last columns. */
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      print_line (line->str);
    }
}

/* One line per backup under the table: its last standby test. */
static void
print_standby_tests (GPtrArray *uplinks)
{
  gint64 now = g_get_real_time ();
  gboolean first = TRUE;

  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);
      const char *name = or_empty (pf_dbus_uplink1_get_name (uplink));
      guint64 when = pf_dbus_uplink1_get_last_standby_test (uplink);
      g_autofree char *line = NULL;

      if (!is_backup (uplink))
        continue;
      if (first)
        print_line ("");
      first = FALSE;
      if (when == 0)
        /* TRANSLATORS: under the table of "status": a backup never tested in standby */
        line = g_strdup_printf (_("%s: last standby test: never"), name);
      else
        {
          g_autofree char *ago = format_ago ((gint64) when, now);
          g_autofree char *bytes = format_bytes (pf_dbus_uplink1_get_standby_test_bytes (uplink));
          g_autofree char *duration = format_duration (pf_dbus_uplink1_get_last_standby_test_duration (uplink));

          /* TRANSLATORS: under the table of "status": uplink, "12 min ago", the result
           * ("passed: 1/1 answered: ..."), the data it used ("72 bytes"), how long it took */
          line = g_strdup_printf (_("%s: last standby test %s: %s (%s, %s)"), name, ago,
                                  or_empty (pf_dbus_uplink1_get_last_standby_test_result (uplink)),
                                  bytes, duration);
        }
      print_line (line);
    }
}

/* One line per [remote-access NAME]: "vpn: up, 12.3 ms (wireguard wg0, probe
 * 10.99.0.2, out of band through lte, re-pinned in 1.2 s)". */
static gboolean
print_remote_access (PfCtl *ctl, GError **error)
{
  g_autoptr(JsonNode) root = get_status_json (ctl, error);
  JsonArray *list;

  if (root == NULL)
    return FALSE;
  if (!json_object_has_member (json_node_get_object (root), "remote_access"))
    return TRUE;
  list = json_object_get_array_member (json_node_get_object (root), "remote_access");
  if (list == NULL || json_array_get_length (list) == 0)
    return TRUE;
  print_line ("");
  /* TRANSLATORS: a heading of "status", before the VPNs' lines */
  print_line (_("Remote access:"));
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *r = json_array_get_object_element (list, i);
      const char *state = json_object_get_string_member_with_default (r, "state", "");
      const char *ifname = json_object_get_string_member_with_default (r, "interface", NULL);
      const char *via = json_object_get_string_member_with_default (r, "out_of_band", NULL);
      JsonNode *rtt = json_object_get_member (r, "rtt_ms");
      JsonNode *repin = json_object_get_member (r, "last_repin_seconds");
      Colour colour = g_str_equal (state, "up") ? COLOUR_GREEN : g_str_equal (state, "down") ? COLOUR_RED : COLOUR_NONE;
      g_autoptr(GString) details = g_string_new (NULL);

      g_string_append_printf (details, "%s %s, %s %s",
                              json_object_get_string_member_with_default (r, "type", ""),
                              ifname != NULL ? ifname : "-",
                              /* TRANSLATORS: in a remote access line of "status": "probe 10.99.0.2" */
                              _("probe"),
                              json_object_get_string_member_with_default (r, "probe", ""));
      if (via != NULL)
        /* TRANSLATORS: in a remote access line of "status": "out of band through lte" */
        g_string_append_printf (details, _(", out of band through %s"), via);
      if (repin != NULL && JSON_NODE_HOLDS_VALUE (repin))
        /* TRANSLATORS: in a remote access line of "status": how long the VPN took to answer after the last switch */
        g_string_append_printf (details, _(", re-pinned in %.1f s"), json_node_get_double (repin));
      if (rtt != NULL && JSON_NODE_HOLDS_VALUE (rtt))
        print_linef ("  %s: %s%s%s, %.1f ms (%s)", json_object_get_string_member_with_default (r, "name", ""),
                     colour_start (colour), state, colour_end (colour), json_node_get_double (rtt), details->str);
      else
        print_linef ("  %s: %s%s%s (%s)", json_object_get_string_member_with_default (r, "name", ""),
                     colour_start (colour), state, colour_end (colour), details->str);
    }
  return TRUE;
}

static gboolean
cmd_status (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GPtrArray) uplinks = NULL;
  const char *state = or_empty (pf_dbus_manager1_get_state (ctl->manager));
  const char *mode = or_empty (pf_dbus_manager1_get_mode (ctl->manager));
  const char *forced = or_empty (pf_dbus_manager1_get_forced_uplink (ctl->manager));
  const char *reason = or_empty (pf_dbus_manager1_get_last_reason (ctl->manager));
  guint64 last_change = pf_dbus_manager1_get_last_change (ctl->manager);
  g_autofree char *mode_text = NULL;
  g_autofree char *change_text = NULL;
  Field fields[5];
  guint n = 0;

  if (opt_json)
    return print_status_json (ctl, error);

  uplinks = get_uplinks (ctl, error);
  if (uplinks == NULL)
    return FALSE;

  if (*forced != '\0')
    /* TRANSLATORS: the value of "Mode" in "status" when an uplink is forced: "force (lte)" */
    mode_text = g_strdup_printf (_("%s (%s)"), mode, forced);
  else
    mode_text = g_strdup (mode);

  if (last_change == 0)
    /* TRANSLATORS: the value of "Last change" in "status" when there was none */
    change_text = g_strdup (_("never"));
  else
    {
      g_autofree char *when = format_local_time ((gint64) last_change);
      g_autofree char *ago = format_ago ((gint64) last_change, g_get_real_time ());

      /* TRANSLATORS: the value of "Last change" in "status": "2024-05-01 12:00:00 (3 min ago)" */
      change_text = g_strdup_printf (_("%s (%s)"), when, ago);
    }

  /* TRANSLATORS: a label of "status", with its colon; the values after the labels are not translated */
  fields[n++] = (Field) { _("State:"), g_strdup (state), colour_for_state (state) };
  /* TRANSLATORS: a label of "status" */
  fields[n++] = (Field) { _("Mode:"), g_steal_pointer (&mode_text), COLOUR_NONE };
  /* TRANSLATORS: a label of "status" */
  fields[n++] = (Field) { _("Active uplink:"),
                          g_strdup (or_empty (pf_dbus_manager1_get_active_uplink (ctl->manager))),
                          COLOUR_NONE };
  /* TRANSLATORS: a label of "status": when the active uplink or the mode last changed */
  fields[n++] = (Field) { _("Last change:"), g_steal_pointer (&change_text), COLOUR_NONE };
  /* TRANSLATORS: a label of "status": why the last change happened */
  fields[n++] = (Field) { _("Last reason:"), g_strdup (*reason != '\0' ? reason : "-"), COLOUR_NONE };

  print_fields (fields, n);
  for (guint i = 0; i < n; i++)
    g_free (fields[i].value);

  if (uplinks->len > 0)
    {
      print_line ("");
      print_uplink_table (uplinks);
      print_standby_tests (uplinks);
    }
  return print_remote_access (ctl, error);
}

static gboolean
cmd_events (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GVariant) events = NULL;
  GVariantIter iter;
  guint64 time_us;
  const char *kind, *from, *to, *reason;

  if (!pf_dbus_manager1_call_get_events_sync (ctl->manager, opt_limit, &events, NULL, error))
    return FALSE;

  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *pretty = NULL;

      /* Same members as the "events" of GetStatus. */
      json_builder_begin_array (builder);
      g_variant_iter_init (&iter, events);
      while (g_variant_iter_next (&iter, "(t&s&s&s&s)", &time_us, &kind, &from, &to, &reason))
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "time");
          json_builder_add_int_value (builder, (gint64) time_us);
          json_builder_set_member_name (builder, "kind");
          json_builder_add_string_value (builder, kind);
          json_builder_set_member_name (builder, "from");
          json_builder_add_string_value (builder, from);
          json_builder_set_member_name (builder, "to");
          json_builder_add_string_value (builder, to);
          json_builder_set_member_name (builder, "reason");
          json_builder_add_string_value (builder, reason);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      root = json_builder_get_root (builder);
      pretty = json_to_pretty_string (root);
      print_line (pretty);
      return TRUE;
    }

  if (g_variant_n_children (events) == 0)
    {
      /* TRANSLATORS: "events" found nothing to show */
      print_line (_("No events"));
      return TRUE;
    }
  g_variant_iter_init (&iter, events);
  while (g_variant_iter_next (&iter, "(t&s&s&s&s)", &time_us, &kind, &from, &to, &reason))
    {
      g_autofree char *line = format_event (time_us, kind, from, to, reason);
      print_line (line);
    }
  return TRUE;
}

/* modem */

static PfDBusUplink1 *
find_uplink (GPtrArray *uplinks, const char *name)
{
  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);

      if (g_strcmp0 (pf_dbus_uplink1_get_name (uplink), name) == 0)
        return uplink;
    }
  return NULL;
}

/* The uplinks "modem" talks about: @only, or every backup. */
static gboolean
modem_uplink_wanted (const char *name, const char *role, const char *only)
{
  if (only != NULL)
    return g_strcmp0 (name, only) == 0;
  return g_strcmp0 (role, "backup") == 0;
}

typedef struct {
  char *iccid;
  char *imsi;
} ModemIdentity;

static void
modem_identity_free (ModemIdentity *identity)
{
  g_free (identity->iccid);
  g_free (identity->imsi);
  g_free (identity);
}

/* GetModemIdentity of every wanted uplink with telemetry, by name, before
 * anything is printed: polkit decides and may ask for a password. A modem
 * that went away since the uplinks were listed has no identity to show. */
static GHashTable *
get_modem_identities (PfCtl *ctl, GPtrArray *uplinks, const char *only, GError **error)
{
  g_autoptr(GHashTable) identities = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                            (GDestroyNotify) modem_identity_free);

  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);
      const char *name = or_empty (pf_dbus_uplink1_get_name (uplink));
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GError) local_error = NULL;
      ModemIdentity *identity;

      if (!modem_uplink_wanted (name, pf_dbus_uplink1_get_role (uplink), only) || !has_modem (uplink))
        continue;
      reply = call_mutating (ctl, "GetModemIdentity", g_variant_new ("(s)", name),
                             G_VARIANT_TYPE ("(ss)"), &local_error);
      if (reply == NULL && !g_error_matches (local_error, PF_ERROR, PF_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      identity = g_new0 (ModemIdentity, 1);
      if (reply != NULL)
        g_variant_get (reply, "(ss)", &identity->iccid, &identity->imsi);
      else
        {
          g_debug ("%s: %s", name, local_error->message);
          identity->iccid = g_strdup ("");
          identity->imsi = g_strdup ("");
        }
      g_hash_table_insert (identities, g_strdup (name), identity);
    }
  return g_steal_pointer (&identities);
}

static char *
or_dash (const char *text)
{
  return g_strdup (text != NULL && *text != '\0' ? text : "-");
}

/* "Orange F (20801)", the one that is known, or "-". */
static char *
format_operator (const char *name, const char *code)
{
  gboolean has_name = name != NULL && *name != '\0';
  gboolean has_code = code != NULL && *code != '\0';

  if (has_name && has_code)
    /* TRANSLATORS: the operator in "modem": its name, then its MCC and MNC, e.g. "Orange F (20801)" */
    return g_strdup_printf (_("%s (%s)"), name, code);
  return or_dash (has_name ? name : code);
}

/* One block like mmcli's: the uplink's name, then its modem telemetry. */
static void
print_modem (PfDBusUplink1 *uplink, const ModemIdentity *identity)
{
  const char *failed_reason = pf_dbus_uplink1_get_modem_failed_reason (uplink);
  const char *health = pf_dbus_uplink1_get_modem_health (uplink);
  const char *modem_error = pf_dbus_uplink1_get_modem_error (uplink);
  gint quality = pf_dbus_uplink1_get_signal_quality (uplink);
  guint64 rx = pf_dbus_uplink1_get_modem_rx_bytes (uplink);
  guint64 tx = pf_dbus_uplink1_get_modem_tx_bytes (uplink);
  gboolean present = pf_dbus_uplink1_get_modem_present (uplink);
  g_autofree char *heading = NULL;
  g_autofree char *state = NULL;
  g_autofree char *signal = NULL;
  g_autofree char *session = NULL;
  Field fields[20];
  guint n = 0;

  if (failed_reason != NULL && *failed_reason != '\0')
    /* TRANSLATORS: the modem's state in "modem" when it failed: "failed (sim-missing)" */
    state = g_strdup_printf (_("%s (%s)"), or_empty (pf_dbus_uplink1_get_modem_state (uplink)), failed_reason);
  else
    state = or_dash (pf_dbus_uplink1_get_modem_state (uplink));

  if (quality < 0)
    signal = g_strdup ("-");
  else
    {
      g_autofree char *bars = format_signal_bars (quality);

      signal = g_strdup_printf ("%d%% %s", quality, bars);
    }

  if (rx == 0 && tx == 0)
    session = g_strdup ("-");
  else
    {
      g_autofree char *rx_text = format_bytes (rx);
      g_autofree char *tx_text = format_bytes (tx);

      /* TRANSLATORS: the data of the modem's session in "modem": "1.2 MB received, 300.5 kB sent" */
      session = g_strdup_printf (_("%s received, %s sent"), rx_text, tx_text);
    }

  /* TRANSLATORS: a label of "modem", with its colon: where the telemetry comes from ("modemmanager", "hilink") */
  fields[n++] = (Field) { _("Source:"), or_dash (pf_dbus_uplink1_get_modem (uplink)), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the modem's maker and model */
  fields[n++] = (Field) { _("Model:"), or_dash (pf_dbus_uplink1_get_modem_model (uplink)), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": whether the modem is there; the value is "yes" or "no" */
  fields[n++] = (Field) { _("Present:"),
                          g_strdup (present ?
                                    /* TRANSLATORS: the value of "Present:" in "modem" */
                                    _("yes") :
                                    /* TRANSLATORS: the value of "Present:" in "modem" */
                                    _("no")),
                          present ? COLOUR_NONE : COLOUR_RED };
  /* TRANSLATORS: a label of "modem": the modem's state ("registered", "failed", ...) */
  fields[n++] = (Field) { _("State:"), g_steal_pointer (&state), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the radio access technology ("lte", "umts", ...) */
  fields[n++] = (Field) { _("Access technology:"), or_dash (pf_dbus_uplink1_get_access_technology (uplink)),
                          COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the signal quality in percent, with bars */
  fields[n++] = (Field) { _("Signal quality:"), g_steal_pointer (&signal), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": received signal strength; keep "RSSI" */
  fields[n++] = (Field) { _("RSSI:"), format_level (pf_dbus_uplink1_get_rssi (uplink), "dBm"), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": reference signal received power; keep "RSRP" */
  fields[n++] = (Field) { _("RSRP:"), format_level (pf_dbus_uplink1_get_rsrp (uplink), "dBm"), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": reference signal received quality; keep "RSRQ" */
  fields[n++] = (Field) { _("RSRQ:"), format_level (pf_dbus_uplink1_get_rsrq (uplink), "dB"), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": signal to interference and noise ratio; keep "SINR" */
  fields[n++] = (Field) { _("SINR:"), format_level (pf_dbus_uplink1_get_sinr (uplink), "dB"), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": network registration ("home", "roaming", "searching", ...) */
  fields[n++] = (Field) { _("Registration:"), or_dash (pf_dbus_uplink1_get_registration (uplink)), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the network operator the modem is registered with */
  fields[n++] = (Field) { _("Operator:"),
                          format_operator (pf_dbus_uplink1_get_operator_name (uplink),
                                           pf_dbus_uplink1_get_operator_code (uplink)),
                          COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the operator named by the SIM card */
  fields[n++] = (Field) { _("SIM operator:"), or_dash (pf_dbus_uplink1_get_sim_operator (uplink)), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the SIM card's state ("ok", "missing", "locked", "error") */
  fields[n++] = (Field) { _("SIM state:"), or_dash (pf_dbus_uplink1_get_sim_state (uplink)), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": the bytes of the modem's current data session */
  fields[n++] = (Field) { _("Session data:"), g_steal_pointer (&session), COLOUR_NONE };
  /* TRANSLATORS: a label of "modem": "ok", or why the modem could not carry traffic */
  fields[n++] = (Field) { _("Health:"), or_dash (health),
                          g_strcmp0 (health, "ok") == 0 ? COLOUR_GREEN :
                          (health != NULL && *health != '\0') ? COLOUR_RED : COLOUR_NONE };
  if (modem_error != NULL && *modem_error != '\0')
    /* TRANSLATORS: a label of "modem": why the telemetry is missing or partial */
    fields[n++] = (Field) { _("Error:"), g_strdup (modem_error), COLOUR_YELLOW };
  if (identity != NULL)
    {
      /* TRANSLATORS: a label of "modem --identity": the SIM's ICCID; keep "ICCID" */
      fields[n++] = (Field) { _("ICCID:"), or_dash (identity->iccid), COLOUR_NONE };
      /* TRANSLATORS: a label of "modem --identity": the subscriber's IMSI; keep "IMSI" */
      fields[n++] = (Field) { _("IMSI:"), or_dash (identity->imsi), COLOUR_NONE };
    }
  g_assert (n <= G_N_ELEMENTS (fields));

  /* TRANSLATORS: the heading of a modem's block in "modem": the uplink's name */
  heading = g_strdup_printf (_("%s:"), or_empty (pf_dbus_uplink1_get_name (uplink)));
  print_line (heading);
  print_fields_indented (fields, n, "  ");
  for (guint i = 0; i < n; i++)
    g_free (fields[i].value);
}

/* The "modem" members of GetStatus, keyed by uplink name, with the SIM's
 * identity added when asked for. */
static gboolean
print_modem_json (PfCtl *ctl, const char *only, GHashTable *identities, GError **error)
{
  g_autoptr(JsonNode) status = get_status_json (ctl, error);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *pretty = NULL;
  JsonNode *member;
  JsonArray *uplinks = NULL;

  if (status == NULL)
    return FALSE;
  member = json_object_get_member (json_node_get_object (status), "uplinks");
  if (member != NULL && JSON_NODE_HOLDS_ARRAY (member))
    uplinks = json_node_get_array (member);

  json_builder_begin_object (builder);
  for (guint i = 0; uplinks != NULL && i < json_array_get_length (uplinks); i++)
    {
      JsonNode *node = json_array_get_element (uplinks, i);
      JsonObject *uplink;
      const char *name;
      JsonNode *modem;
      ModemIdentity *identity;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      uplink = json_node_get_object (node);
      name = json_object_get_string_member_with_default (uplink, "name", "");
      if (!modem_uplink_wanted (name, json_object_get_string_member_with_default (uplink, "role", ""), only))
        continue;
      modem = json_object_get_member (uplink, "modem");
      modem = modem != NULL ? json_node_copy (modem) : json_node_new (JSON_NODE_NULL);
      identity = identities != NULL ? g_hash_table_lookup (identities, name) : NULL;
      if (identity != NULL && JSON_NODE_HOLDS_OBJECT (modem))
        {
          json_object_set_string_member (json_node_get_object (modem), "iccid", identity->iccid);
          json_object_set_string_member (json_node_get_object (modem), "imsi", identity->imsi);
        }
      json_builder_set_member_name (builder, name);
      json_builder_add_value (builder, modem);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  pretty = json_to_pretty_string (root);
  print_line (pretty);
  return TRUE;
}

static gboolean
cmd_modem (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  const char *only = args[0];
  g_autoptr(GPtrArray) uplinks = NULL;
  g_autoptr(GHashTable) identities = NULL;
  gboolean any = FALSE;

  uplinks = get_uplinks (ctl, error);
  if (uplinks == NULL)
    return FALSE;
  if (only != NULL && find_uplink (uplinks, only) == NULL)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                   /* TRANSLATORS: "modem UPLINK" with a name that is not configured */
                   _("No uplink named \"%s\""), only);
      return FALSE;
    }
  if (opt_identity)
    {
      identities = get_modem_identities (ctl, uplinks, only, error);
      if (identities == NULL)
        return FALSE;
    }

  if (opt_json)
    return print_modem_json (ctl, only, identities, error);

  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);
      const char *name = or_empty (pf_dbus_uplink1_get_name (uplink));

      if (!modem_uplink_wanted (name, pf_dbus_uplink1_get_role (uplink), only))
        continue;
      if (any)
        print_line ("");
      any = TRUE;
      if (has_modem (uplink))
        print_modem (uplink, identities != NULL ? g_hash_table_lookup (identities, name) : NULL);
      else
        {
          /* TRANSLATORS: "modem": the uplink has no modem telemetry source */
          g_autofree char *line = g_strdup_printf (_("%s: no modem telemetry"), name);

          print_line (line);
        }
    }
  if (!any)
    /* TRANSLATORS: "modem" without an uplink, and no backup to show */
    print_line (_("No backup uplink is configured"));
  return TRUE;
}

/* ---- usage ---------------------------------------------------------------- */

static JsonObject *
get_usage_json (PfCtl *ctl, const char *uplink, JsonParser *parser, GError **error)
{
  g_autofree char *json = NULL;
  JsonNode *root;

  if (!pf_dbus_manager1_call_get_usage_sync (ctl->manager, uplink, &json, NULL, error))
    return NULL;
  if (!json_parser_load_from_data (parser, json, -1, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                   /* TRANSLATORS: GetUsage answered something that is not a JSON object */
                   _("Unexpected reply to %s: %s"), "GetUsage", json);
      return NULL;
    }
  return json_node_get_object (root);
}

/* "5 Nov", in the local time zone. */
static char *
format_day (gint64 time_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);

  /* TRANSLATORS: a day in "usage", strftime format: "5 Nov" */
  return t != NULL ? g_date_time_format (t, _("%-d %b")) : g_strdup ("?");
}

/* One bar of @width cells for @value out of @max: eighths of a cell. */
static char *
usage_bar (guint64 value, guint64 max, guint width)
{
  static const char *const eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
  gboolean utf8 = g_get_charset (NULL);
  guint64 units = max > 0 ? value * width * 8 / max : 0;
  GString *bar = g_string_new (NULL);

  if (value > 0 && units == 0)
    units = 1;
  for (guint64 i = 0; i < units / 8; i++)
    g_string_append (bar, utf8 ? "█" : "#");
  if (units % 8 != 0)
    g_string_append (bar, utf8 ? eighths[units % 8] : (units % 8 >= 4 ? "#" : ""));
  return g_string_free (bar, FALSE);
}

static void
print_usage_days (JsonObject *usage)
{
  JsonArray *days = json_object_get_array_member (usage, "days");
  gint64 start = json_object_get_int_member (usage, "cycle_start");
  gint64 now = g_get_real_time ();
  guint64 max = 0;
  guint n = days != NULL ? json_array_get_length (days) : 0;
  g_autoptr(GDateTime) first = g_date_time_new_from_unix_local (start / G_USEC_PER_SEC);

  if (first == NULL)
    return;
  for (guint i = 0; i < n; i++)
    max = MAX (max, (guint64) json_array_get_int_element (days, i));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GDateTime) day = g_date_time_add_days (first, (gint) i);
      guint64 bytes = (guint64) json_array_get_int_element (days, i);
      g_autofree char *label = NULL;
      g_autofree char *bar = NULL;
      g_autofree char *size = NULL;

      if (g_date_time_to_unix (day) * G_USEC_PER_SEC > now)
        break;
      label = g_date_time_format (day, "%a %d");
      bar = usage_bar (bytes, max, 40);
      size = format_bytes (bytes);
      print_linef ("  %s %s%*s %s", label, bar, (int) (40 - text_width (bar)), "", size);
    }
}

static void
print_usage (JsonObject *usage)
{
  const char *name = json_object_get_string_member_with_default (usage, "uplink", "?");
  guint64 used = (guint64) json_object_get_int_member_with_default (usage, "used", 0);
  guint64 plan = (guint64) json_object_get_int_member_with_default (usage, "plan", 0);
  guint64 monitoring = (guint64) json_object_get_int_member_with_default (usage, "monitoring", 0);
  guint64 projected = (guint64) json_object_get_int_member_with_default (usage, "projected", 0);
  gint64 start = json_object_get_int_member_with_default (usage, "cycle_start", 0);
  gint64 end = json_object_get_int_member_with_default (usage, "cycle_end", 0);
  g_autofree char *used_text = format_bytes (used);
  g_autofree char *plan_text = format_bytes (plan);
  g_autofree char *monitoring_text = format_bytes (monitoring);
  g_autofree char *projected_text = format_bytes (projected);
  g_autofree char *from = NULL;
  g_autofree char *to = NULL;
  JsonArray *history = json_object_get_array_member (usage, "history");

  if (start == 0)
    {
      /* TRANSLATORS: "usage": nothing counted yet for this backup */
      print_linef (_("%s: nothing counted yet"), name);
      return;
    }
  from = format_day (start);
  to = format_day (end);
  if (plan > 0)
    /* TRANSLATORS: "usage": uplink, used, plan, percent, cycle start, cycle end */
    print_linef (_("%s: %s of %s (%.0f %%) used from %s to %s"), name, used_text, plan_text,
                 100.0 * (double) used / (double) plan, from, to);
  else
    /* TRANSLATORS: "usage" without a plan size: uplink, used, cycle start, cycle end */
    print_linef (_("%s: %s used from %s to %s (no plan size)"), name, used_text, from, to);
  /* TRANSLATORS: "usage": monitoring bytes, then the projection to the end of the cycle */
  print_linef (_("  monitoring %s; at this pace %s by the end of the cycle"), monitoring_text, projected_text);
  if (json_object_get_boolean_member_with_default (usage, "capped", FALSE))
    /* TRANSLATORS: "usage": the plan is used up; %s is notify, restrict or block */
    print_linef (_("  plan used up: %s"), json_object_get_string_member_with_default (usage, "cap_action", "?"));
  print_usage_days (usage);
  for (guint i = 0; history != NULL && i < json_array_get_length (history); i++)
    {
      JsonObject *cycle = json_array_get_object_element (history, i);
      g_autofree char *cycle_from = format_day (json_object_get_int_member (cycle, "start"));
      g_autofree char *cycle_to = format_day (json_object_get_int_member (cycle, "end"));
      g_autofree char *size = format_bytes ((guint64) json_object_get_int_member (cycle, "used"));

      if (i == 0)
        /* TRANSLATORS: "usage": heading of the past cycles */
        print_line (_("  past cycles:"));
      print_linef ("    %s – %s  %s", cycle_from, cycle_to, size);
    }
}

static gboolean
change_usage (PfCtl *ctl, const char *uplink, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint64 bytes = 0;

  if (opt_set_usage != NULL && !pf_parse_size (opt_set_usage, &bytes, NULL))
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                   /* TRANSLATORS: "usage --set" with a bad size */
                   _("Invalid size \"%s\" (expected e.g. 3.2GB or 800MB)"), opt_set_usage);
      return FALSE;
    }
  if (opt_set_usage != NULL)
    reply = call_mutating (ctl, "SetUsage", g_variant_new ("(st)", uplink, bytes), G_VARIANT_TYPE_UNIT, error);
  else
    reply = call_mutating (ctl, "ResetUsage", g_variant_new ("(s)", uplink), G_VARIANT_TYPE_UNIT, error);
  return reply != NULL;
}

static gboolean
cmd_usage (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  const char *only = args[0];
  g_autoptr(GPtrArray) uplinks = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  gboolean any = FALSE;

  if ((opt_set_usage != NULL || opt_reset_usage) && only == NULL)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                   /* TRANSLATORS: "usage --set/--reset" without an uplink */
                   _("--set and --reset need an uplink"));
      return FALSE;
    }
  if (opt_set_usage != NULL && opt_reset_usage)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                   /* TRANSLATORS: "usage" with both --set and --reset */
                   _("--set and --reset exclude each other"));
      return FALSE;
    }
  if ((opt_set_usage != NULL || opt_reset_usage) && !change_usage (ctl, only, error))
    return FALSE;

  uplinks = get_uplinks (ctl, error);
  if (uplinks == NULL)
    return FALSE;
  json_builder_begin_object (builder);
  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);
      const char *name = or_empty (pf_dbus_uplink1_get_name (uplink));
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *usage;

      if (!is_backup (uplink) || (only != NULL && !g_str_equal (only, name)))
        continue;
      usage = get_usage_json (ctl, name, parser, error);
      if (usage == NULL)
        return FALSE;
      if (opt_json)
        {
          json_builder_set_member_name (builder, name);
          json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
        }
      else
        {
          if (any)
            print_line ("");
          print_usage (usage);
        }
      any = TRUE;
    }
  json_builder_end_object (builder);
  if (only != NULL && !any)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                   /* TRANSLATORS: "usage UPLINK" with a name that is not a backup */
                   _("No backup uplink named \"%s\""), only);
      return FALSE;
    }
  if (opt_json)
    {
      g_autoptr(JsonNode) root = json_builder_get_root (builder);
      g_autofree char *text = json_to_pretty_string (root);

      print_line (text);
    }
  else if (!any)
    /* TRANSLATORS: "modem" without an uplink, and no backup to show */
    print_line (_("No backup uplink is configured"));
  return TRUE;
}

static gboolean
cmd_notify_test (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  const char *result;
  gboolean all_delivered = TRUE;

  reply = call_mutating (ctl, "NotifyTest", NULL, G_VARIANT_TYPE ("(as)"), error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(as)", &iter);
  while (g_variant_iter_loop (iter, "&s", &result))
    {
      print_line (result);
      if (!g_str_has_suffix (result, ": delivered"))
        all_delivered = FALSE;
    }
  if (!all_delivered)
    {
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_NEGATIVE,
                           /* TRANSLATORS: "notify-test": a notifier did not deliver */
                           _("A test message was not delivered"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_mode (PfCtl *ctl, const char *mode, const char *uplink, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = call_mutating (ctl, "SetMode", g_variant_new ("(ss)", mode, uplink),
                         G_VARIANT_TYPE_UNIT, error);
  return reply != NULL;
}

/* The backup with the best (lowest) priority, the first listed on a tie. */
static char *
find_first_backup (PfCtl *ctl, GError **error)
{
  g_autoptr(GPtrArray) uplinks = get_uplinks (ctl, error);
  PfDBusUplink1 *best = NULL;

  if (uplinks == NULL)
    return NULL;
  for (guint i = 0; i < uplinks->len; i++)
    {
      PfDBusUplink1 *uplink = g_ptr_array_index (uplinks, i);

      if (g_strcmp0 (pf_dbus_uplink1_get_role (uplink), "backup") != 0)
        continue;
      if (best == NULL || pf_dbus_uplink1_get_priority (uplink) < pf_dbus_uplink1_get_priority (best))
        best = uplink;
    }
  if (best == NULL)
    {
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_FAILED,
                           /* TRANSLATORS: "failover" without an uplink, and none to choose */
                           _("No backup uplink is configured"));
      return NULL;
    }
  return g_strdup (pf_dbus_uplink1_get_name (best));
}

static gboolean
cmd_failover (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autofree char *uplink = NULL;
  g_autofree char *message = NULL;

  if (args[0] != NULL)
    uplink = g_strdup (args[0]);
  else
    uplink = find_first_backup (ctl, error);
  if (uplink == NULL)
    return FALSE;

  if (!set_mode (ctl, "force", uplink, error))
    return FALSE;
  /* TRANSLATORS: after "failover": traffic now goes through this uplink */
  message = g_strdup_printf (_("Traffic forced to uplink %s"), uplink);
  print_line (message);
  return TRUE;
}

static gboolean
cmd_auto (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  if (!set_mode (ctl, "auto", "", error))
    return FALSE;
  /* TRANSLATORS: after "auto" */
  print_line (_("Automatic failover enabled"));
  return TRUE;
}

static gboolean
cmd_maintenance (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  if (!set_mode (ctl, "maintenance", "", error))
    return FALSE;
  /* TRANSLATORS: after "maintenance" */
  print_line (_("Maintenance mode: routes and firewall are frozen"));
  return TRUE;
}

static gboolean
cmd_test (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  gboolean ok;
  const char *summary;

  reply = call_mutating (ctl, "TestUplink", g_variant_new ("(s)", args[0]),
                         G_VARIANT_TYPE ("(bs)"), error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(b&s)", &ok, &summary);
  print_line (summary);
  if (!ok)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_NEGATIVE,
                   /* TRANSLATORS: "test" found the uplink not working */
                   _("Uplink %s failed the test"), args[0]);
      return FALSE;
    }
  return TRUE;
}

static gboolean
cmd_reload (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GVariant) reply = NULL;

  reply = call_mutating (ctl, "Reload", NULL, G_VARIANT_TYPE_UNIT, error);
  if (reply == NULL)
    return FALSE;
  /* TRANSLATORS: after "reload" */
  print_line (_("Configuration reloaded"));
  return TRUE;
}

static gboolean
cmd_version (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *client = g_strdup_printf ("pvefailoverctl %s", PACKAGE_VERSION);

  print_line (client);
  /* The daemon's version when it runs; not an error when it does not. */
  if (pf_ctl_connect (ctl, &local_error))
    {
      g_autofree char *daemon = g_strdup_printf ("pvefailoverd %s",
                                                 or_empty (pf_dbus_manager1_get_version (ctl->manager)));
      print_line (daemon);
    }
  else
    g_debug ("%s", local_error->message);
  return TRUE;
}

/* watch */

static void
print_watch_line (const char *text)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *when = g_date_time_format (now, "%Y-%m-%d %H:%M:%S");
  g_autofree char *line = g_strdup_printf ("%s  %s", when, text);

  print_line (line);
}

static void
on_state_changed (PfDBusManager1 *manager, const char *state, const char *active_uplink,
                  const char *reason, gpointer user_data)
{
  Colour colour = colour_for_state (state);
  g_autofree char *coloured = g_strdup_printf ("%s%s%s", colour_start (colour), state, colour_end (colour));
  g_autofree char *text = NULL;

  /* TRANSLATORS: "watch": the StateChanged signal: the state ("normal",
   * "failed-over", ...), the active uplink, the reason */
  text = g_strdup_printf (_("state %s, active uplink %s: %s"), coloured, active_uplink, reason);
  print_watch_line (text);
}

static void
on_event (PfDBusManager1 *manager, guint64 time_us, const char *kind, const char *from,
          const char *to, const char *reason, gpointer user_data)
{
  g_autofree char *from_to = format_from_to (from, to);
  g_autofree char *kind_text = format_event_kind (kind);
  g_autofree char *text = NULL;

  if (*from_to == '\0')
    /* TRANSLATORS: "watch": an Event signal: kind ("failover", "mode", ...), reason */
    text = g_strdup_printf (_("event %s: %s"), kind_text, reason);
  else
    /* TRANSLATORS: "watch": an Event signal: kind, "primary -> lte" or the uplink
     * an alert is about, reason */
    text = g_strdup_printf (_("event %s %s: %s"), kind_text, from_to, reason);
  print_watch_line (text);
}

static void
on_properties_changed (GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       gpointer user_data)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (proxy);
  GVariantIter iter;
  const char *name;
  GVariant *value;

  /* When the daemon leaves the bus the proxy invalidates every cached
   * property; "pvefailoverd stopped" says it better. */
  if (owner == NULL)
    return;

  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr(GVariant) owned = value;
      g_autofree char *printed = g_variant_print (value, FALSE);
      g_autofree char *text = NULL;

      /* TRANSLATORS: "watch": a property of Manager1 changed: name and new value */
      text = g_strdup_printf (_("property %s = %s"), name, printed);
      print_watch_line (text);
    }
  for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
    {
      g_autofree char *text = NULL;

      /* TRANSLATORS: "watch": a property of Manager1 changed, value not sent */
      text = g_strdup_printf (_("property %s changed"), invalidated[i]);
      print_watch_line (text);
    }
}

static void
on_name_owner_changed (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (object));

  if (owner != NULL)
    /* TRANSLATORS: "watch": the daemon appeared on the bus */
    print_watch_line (_("pvefailoverd started"));
  else
    /* TRANSLATORS: "watch": the daemon left the bus */
    print_watch_line (_("pvefailoverd stopped"));
}

static gboolean
on_quit_signal (gpointer user_data)
{
  PfCtl *ctl = user_data;

  g_main_loop_quit (ctl->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
cmd_watch (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  guint sigint_id, sigterm_id;

  ctl->loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (ctl->manager, "state-changed", G_CALLBACK (on_state_changed), ctl);
  g_signal_connect (ctl->manager, "event", G_CALLBACK (on_event), ctl);
  g_signal_connect (ctl->manager, "g-properties-changed", G_CALLBACK (on_properties_changed), ctl);
  g_signal_connect (ctl->manager, "notify::g-name-owner", G_CALLBACK (on_name_owner_changed), ctl);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, ctl);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, ctl);

  /* TRANSLATORS: "watch" started; the lines that follow are what happens */
  print_watch_line (_("watching pvefailoverd, press Ctrl+C to stop"));
  g_main_loop_run (ctl->loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handlers_disconnect_by_data (ctl->manager, ctl);
  return TRUE;
}

static gboolean cmd_help (PfCtl *ctl, const PfCommand *command, char **args, GError **error);

/* Summaries and parameter strings are shown by "help" and COMMAND --help. */
static const PfCommand commands[] = {
  { "status", cmd_status,
    /* TRANSLATORS: summary of "status" */
    N_("Show the state, the mode and the uplinks"),
    "", status_options, 0, 0, TRUE },
  { "watch", cmd_watch,
    /* TRANSLATORS: summary of "watch" */
    N_("Print state changes and events as they happen, until Ctrl+C"),
    "", NULL, 0, 0, TRUE },
  { "events", cmd_events,
    /* TRANSLATORS: summary of "events" */
    N_("List the recent events"),
    "", events_options, 0, 0, TRUE },
  { "modem", cmd_modem,
    /* TRANSLATORS: summary of "modem" */
    N_("Show the modem telemetry of the backups: signal, registration, SIM"),
    /* TRANSLATORS: the argument of "modem" in its --help: an uplink's name, optional */
    N_("[UPLINK]"),
    modem_options, 0, 1, TRUE },
  { "failover", cmd_failover,
    /* TRANSLATORS: summary of "failover" */
    N_("Force traffic through an uplink (default: the first backup)"),
    /* TRANSLATORS: the argument of "failover" in its --help: an uplink's name, optional */
    N_("[UPLINK]"),
    NULL, 0, 1, TRUE },
  { "auto", cmd_auto,
    /* TRANSLATORS: summary of "auto" */
    N_("Return to automatic failover"),
    "", NULL, 0, 0, TRUE },
  { "maintenance", cmd_maintenance,
    /* TRANSLATORS: summary of "maintenance" */
    N_("Freeze routes and firewall as they are"),
    "", NULL, 0, 0, TRUE },
  { "test", cmd_test,
    /* TRANSLATORS: summary of "test" */
    N_("Run one probe round through an uplink now"),
    /* TRANSLATORS: the argument of "test" in its --help: an uplink's name */
    N_("UPLINK"),
    NULL, 1, 1, TRUE },
  { "usage", cmd_usage,
    /* TRANSLATORS: summary of "usage" */
    N_("Show the data used on the backups this billing cycle, day by day"),
    /* TRANSLATORS: the argument of "usage" in its --help: an uplink's name, optional */
    N_("[UPLINK]"),
    usage_options, 0, 1, TRUE },
  { "notify-test", cmd_notify_test,
    /* TRANSLATORS: summary of "notify-test" */
    N_("Send a test message through every notifier"),
    "", NULL, 0, 0, TRUE },
  { "reload", cmd_reload,
    /* TRANSLATORS: summary of "reload" */
    N_("Make the daemon read its configuration again"),
    "", NULL, 0, 0, TRUE },
  { "version", cmd_version,
    /* TRANSLATORS: summary of "version" */
    N_("Show the versions of the client and the daemon"),
    "", NULL, 0, 0, FALSE },
  { "help", cmd_help,
    /* TRANSLATORS: summary of "help" */
    N_("Show this help, or the help of a command"),
    /* TRANSLATORS: the argument of "help" in its --help: a command's name, optional */
    N_("[COMMAND]"),
    NULL, 0, 1, FALSE },
};

static const PfCommand *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static const char *
exit_status_text (void)
{
  /* TRANSLATORS: shown by --help and "help"; keep the numbers */
  return _("Exit status:\n"
           "  0  success\n"
           "  1  the command failed, or the uplink failed its test\n"
           "  2  usage error\n"
           "  3  pvefailoverd is not running\n"
           "  4  not authorized\n");
}

static char *
general_help (void)
{
  g_autoptr(GString) text = g_string_new (NULL);
  glong width = 0;

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    width = MAX (width, text_width (commands[i].name));

  /* TRANSLATORS: the first lines of the help; COMMAND and OPTION are placeholders */
  g_string_append_printf (text, _("Usage:\n  %s COMMAND [OPTION…]\n\n"), g_get_prgname ());
  /* TRANSLATORS: what pvefailoverctl is, in the help */
  g_string_append (text, _("Control pvefailoverd, the internet uplink failover daemon.\n\n"));
  /* TRANSLATORS: heading of the list of commands in the help */
  g_string_append (text, _("Commands:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_string_append (text, "  ");
      append_cell (text, commands[i].name, width + 2, COLOUR_NONE);
      g_string_append_printf (text, "%s\n", _(commands[i].summary));
    }
  g_string_append_c (text, '\n');
  /* TRANSLATORS: %s is the program name */
  g_string_append_printf (text, _("Run “%s COMMAND --help” for the options of a command.\n\n"),
                          g_get_prgname ());
  g_string_append (text, exit_status_text ());
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static GOptionContext *
command_option_context (const PfCommand *command)
{
  GOptionContext *context = g_option_context_new (*command->parameters != '\0' ? _(command->parameters) : NULL);

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _(command->summary));
  g_option_context_set_description (context, exit_status_text ());
  if (command->options != NULL)
    g_option_context_add_main_entries (context, command->options, GETTEXT_PACKAGE);
  return context;
}

static gboolean
cmd_help (PfCtl *ctl, const PfCommand *command, char **args, GError **error)
{
  g_autofree char *text = NULL;

  if (args[0] != NULL)
    {
      const PfCommand *other = find_command (args[0]);
      g_autoptr(GOptionContext) context = NULL;
      g_autofree char *prgname = NULL;
      g_autofree char *command_prgname = NULL;

      if (other == NULL)
        {
          g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                       /* TRANSLATORS: %s is what the user typed */
                       _("Unknown command “%s”"), args[0]);
          return FALSE;
        }
      context = command_option_context (other);
      prgname = g_strdup (g_get_prgname ());
      command_prgname = g_strdup_printf ("%s %s", prgname, other->name);
      g_set_prgname (command_prgname);
      text = g_option_context_get_help (context, TRUE, NULL);
      g_set_prgname (prgname);
    }
  else
    text = general_help ();
  g_print ("%s", text);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Errors to exit codes, in one place                                       */

static gboolean
error_is_not_running (const GError *error)
{
  return g_error_matches (error, PF_CTL_ERROR, PF_CTL_ERROR_NOT_RUNNING) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);
}

static gboolean
error_is_not_authorized (const GError *error)
{
  return g_error_matches (error, PF_ERROR, PF_ERROR_NOT_AUTHORIZED) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_AUTH_FAILED);
}

static int
exit_code_for_error (const GError *error)
{
  if (g_error_matches (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE) || error->domain == G_OPTION_ERROR)
    return EXIT_USAGE;
  if (error_is_not_running (error))
    return EXIT_NOT_RUNNING;
  if (error_is_not_authorized (error))
    return EXIT_NOT_AUTHORIZED;
  return EXIT_FAILED;
}

static void
print_error (GError *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);

  if (g_error_matches (error, PF_CTL_ERROR, PF_CTL_ERROR_NEGATIVE))
    return;  /* the result is already on stdout */
  if (error_is_not_running (error) && !g_error_matches (error, PF_CTL_ERROR, PF_CTL_ERROR_NOT_RUNNING))
    /* TRANSLATORS: the daemon left the bus during the call */
    g_printerr ("%s\n", _("pvefailoverd is not running"));
  else if (error_is_not_authorized (error))
    /* TRANSLATORS: the daemon or polkit refused; %s is the reason */
    g_printerr (_("Not authorized: %s\n"), error->message);
  else
    g_printerr ("%s\n", error->message);

  if (exit_code_for_error (error) == EXIT_USAGE)
    /* TRANSLATORS: after a usage error */
    g_printerr (_("Run “%s help” for usage.\n"), "pvefailoverctl");
}

/* ---------------------------------------------------------------------- */

static gboolean
run_command (PfCtl *ctl, int argc, char **argv, GError **error)
{
  const PfCommand *command;
  g_autoptr(GOptionContext) context = NULL;
  g_auto(GStrv) args = NULL;
  g_autofree char *prgname = NULL;
  g_autofree char *command_prgname = NULL;
  guint n_args;
  gboolean parsed;

  if (argc < 2)
    {
      g_set_error_literal (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                           /* TRANSLATORS: pvefailoverctl was run without a command */
                           _("No command given"));
      return FALSE;
    }
  if (g_strcmp0 (argv[1], "--help") == 0 || g_strcmp0 (argv[1], "-h") == 0)
    command = find_command ("help");
  else if (g_strcmp0 (argv[1], "--version") == 0)
    command = find_command ("version");
  else
    command = find_command (argv[1]);
  if (command == NULL)
    {
      g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                   /* TRANSLATORS: %s is what the user typed */
                   _("Unknown command “%s”"), argv[1]);
      return FALSE;
    }

  /* Parse "COMMAND [OPTION…] ARGS" with the command's own options; the
   * program name shown by --help is "pvefailoverctl COMMAND". */
  args = g_new0 (char *, argc + 1);
  args[0] = g_strdup (argv[0]);
  for (int i = 2; i < argc; i++)
    args[i - 1] = g_strdup (argv[i]);
  context = command_option_context (command);
  prgname = g_strdup (g_get_prgname ());
  command_prgname = g_strdup_printf ("%s %s", prgname, command->name);
  g_set_prgname (command_prgname);
  parsed = g_option_context_parse_strv (context, &args, error);
  g_set_prgname (prgname);
  if (!parsed)
    return FALSE;

  n_args = g_strv_length (args) - 1;
  if (n_args < command->min_args || n_args > command->max_args)
    {
      if (n_args < command->min_args)
        g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                     /* TRANSLATORS: a command misses its argument, e.g. "test" without UPLINK */
                     _("Missing argument for “%s”: %s"), command->name, _(command->parameters));
      else
        g_set_error (error, PF_CTL_ERROR, PF_CTL_ERROR_USAGE,
                     /* TRANSLATORS: a command was given more arguments than it takes */
                     _("Too many arguments for “%s”"), command->name);
      return FALSE;
    }

  if (command->needs_daemon && !pf_ctl_connect (ctl, error))
    return FALSE;

  return command->handler (ctl, command, args + 1, error);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  PfCtl ctl = { NULL };
  const char *no_colour;
  int status = EXIT_OK;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("pvefailoverctl");

  /* Map org.pvefailover.Error.* replies to PF_ERROR before any call. */
  (void) PF_ERROR;

  no_colour = g_getenv ("NO_COLOR");
  use_colour = isatty (STDOUT_FILENO) && (no_colour == NULL || *no_colour == '\0');

  if (!run_command (&ctl, argc, argv, &error))
    {
      status = exit_code_for_error (error);
      print_error (error);
    }
  pf_ctl_clear (&ctl);
  return status;
}
