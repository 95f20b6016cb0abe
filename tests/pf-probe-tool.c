/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pf-probe-tool: run PfProber rounds against targets through one interface and
 * print one JSON line per round. Used by the network lab tests.
 *
 *   pf-probe-tool --interface IF [--mark 0x70f0] [--timeout 400] [--quorum 1]
 *                 [--rounds N] TARGET...
 *   pf-probe-tool --interface IF ... --run-for MS [--interval MS]
 *                 [--fast-interval MS] [--fast] TARGET...
 *
 * TARGET: icmp:ADDR  tcp:ADDR:PORT  dns:ADDR[:PORT][/QNAME]
 *         http://HOST[:PORT]/PATH  https://HOST[:PORT]/PATH   (IPv6 in brackets)
 *
 * With --run-for the prober runs on its own schedule for that long and every
 * "round-finished" is printed (rounds may overlap).
 *
 * Exit status: 0 when the last round met the quorum, 1 when it did not,
 * 2 on bad usage.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-probe-tool"

#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pf-config.h"
#include "pf-error.h"
#include "pf-prober.h"

static void
target_free (gpointer data)
{
  PfProbeTarget *target = data;

  g_free (target->spec);
  g_free (target->address);
  g_free (target->path);
  g_free (target->qname);
  g_free (target);
}

/* "ADDR:PORT" or "[V6]:PORT" (port optional when @default_port != 0). */
static gboolean
split_host_port (const char  *text,
                 guint16      default_port,
                 char       **out_host,
                 guint16     *out_port,
                 GError     **error)
{
  g_autofree char *host = NULL;
  const char *port_text = NULL;
  guint64 port = default_port;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "missing ‘]’");
          return FALSE;
        }
      host = g_strndup (text + 1, end - text - 1);
      if (end[1] == ':')
        port_text = end + 2;
      else if (end[1] != '\0')
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "junk after ‘]’");
          return FALSE;
        }
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon != NULL && strchr (text, ':') == colon)
        {
          host = g_strndup (text, colon - text);
          port_text = colon + 1;
        }
      else
        {
          host = g_strdup (text);    /* IPv4 without port, or bare IPv6 */
        }
    }

  if (port_text != NULL && !g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, error))
    return FALSE;
  if (port == 0)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "a port is needed");
      return FALSE;
    }

  *out_host = g_steal_pointer (&host);
  *out_port = (guint16) port;
  return TRUE;
}

static gboolean
target_fill (PfProbeTarget  *target,
             const char     *spec,
             GError        **error)
{
  if (g_str_has_prefix (spec, "icmp:"))
    {
      target->kind = PF_PROBE_ICMP;
      target->address = g_strdup (spec + 5);
    }
  else if (g_str_has_prefix (spec, "tcp:"))
    {
      target->kind = PF_PROBE_TCP;
      if (!split_host_port (spec + 4, 0, &target->address, &target->port, error))
        return FALSE;
    }
  else if (g_str_has_prefix (spec, "dns:"))
    {
      const char *slash = strchr (spec + 4, '/');
      g_autofree char *server = slash != NULL ? g_strndup (spec + 4, slash - spec - 4) : g_strdup (spec + 4);

      target->kind = PF_PROBE_DNS;
      target->qname = g_strdup (slash != NULL && slash[1] != '\0' ? slash + 1 : ".");
      if (!split_host_port (server, 53, &target->address, &target->port, error))
        return FALSE;
    }
  else if (g_str_has_prefix (spec, "http://") || g_str_has_prefix (spec, "https://"))
    {
      g_autoptr(GUri) uri = g_uri_parse (spec, G_URI_FLAGS_NONE, error);
      const char *path;
      const char *query;

      if (uri == NULL)
        return FALSE;
      target->kind = g_str_equal (g_uri_get_scheme (uri), "https") ? PF_PROBE_HTTPS : PF_PROBE_HTTP;
      target->address = g_strdup (g_uri_get_host (uri));
      target->port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri)
                                              : (target->kind == PF_PROBE_HTTPS ? 443 : 80);
      path = g_uri_get_path (uri);
      query = g_uri_get_query (uri);
      target->path = g_strdup_printf ("%s%s%s", path[0] != '\0' ? path : "/",
                                      query != NULL ? "?" : "", query != NULL ? query : "");
    }
  else
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "unknown kind");
      return FALSE;
    }

  if (target->address == NULL || target->address[0] == '\0')
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_ARGS, "no address");
      return FALSE;
    }

  return TRUE;
}

static PfProbeTarget *
target_parse (const char  *spec,
              GError     **error)
{
  PfProbeTarget *target = g_new0 (PfProbeTarget, 1);

  target->spec = g_strdup (spec);
  if (!target_fill (target, spec, error))
    {
      g_prefix_error (error, "target “%s”: ", spec);
      target_free (target);
      return NULL;
    }
  return target;
}

typedef struct {
  gint64    start_us;
  gboolean  last_ok;
  guint     rounds;
} ScheduleData;

static void print_round (const PfRoundResult *result, gint64 duration_us, gint64 at_us);

static void
round_finished_cb (PfProber      *prober,
                   PfRoundResult *result,
                   gpointer       user_data)
{
  ScheduleData *data = user_data;

  print_round (result, -1, result->finished_us - data->start_us);
  data->last_ok = result->answered >= result->quorum;
  data->rounds++;
}

static void
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
}

typedef struct {
  GMainLoop     *loop;
  PfRoundResult *result;
  GError        *error;
} RunData;

static void
round_done_cb (GObject      *object,
               GAsyncResult *res,
               gpointer      user_data)
{
  RunData *data = user_data;

  data->result = pf_prober_run_once_finish (PF_PROBER (object), res, &data->error);
  g_main_loop_quit (data->loop);
}

static void
print_round (const PfRoundResult *result,
             gint64               duration_us,
             gint64               at_us)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sent");
  json_builder_add_int_value (builder, result->sent);
  json_builder_set_member_name (builder, "answered");
  json_builder_add_int_value (builder, result->answered);
  json_builder_set_member_name (builder, "quorum");
  json_builder_add_int_value (builder, result->quorum);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, result->answered >= result->quorum);
  json_builder_set_member_name (builder, "rtt_us");
  json_builder_add_int_value (builder, result->rtt_us);
  json_builder_set_member_name (builder, "bytes");
  json_builder_add_int_value (builder, (gint64) result->bytes);
  json_builder_set_member_name (builder, "duration_us");
  json_builder_add_int_value (builder, duration_us);
  if (at_us >= 0)
    {
      json_builder_set_member_name (builder, "at_us");
      json_builder_add_int_value (builder, at_us);
    }
  json_builder_set_member_name (builder, "summary");
  json_builder_add_string_value (builder, result->summary);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *interface = NULL;
  g_autofree char *mark_text = NULL;
  g_auto(GStrv) specs = NULL;
  int timeout_ms = 400;
  int quorum = 1;
  int rounds = 1;
  int run_for_ms = 0;
  int interval_ms = 1000;
  int fast_interval_ms = 100;
  gboolean fast = FALSE;
  guint64 mark = PF_DEFAULT_PROBE_MARK;
  gboolean last_ok = FALSE;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func (target_free);
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(PfProber) prober = NULL;
  PfUplinkConfig config = { 0 };
  const GOptionEntry entries[] = {
    { "interface", 'i', 0, G_OPTION_ARG_STRING, &interface, "Interface to bind the probes to", "IF" },
    { "mark", 'm', 0, G_OPTION_ARG_STRING, &mark_text, "Probe mark (default 0x70f0)", "MARK" },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_ms, "Probe timeout in ms (default 400)", "MS" },
    { "quorum", 'q', 0, G_OPTION_ARG_INT, &quorum, "Targets that must answer (default 1)", "N" },
    { "rounds", 'n', 0, G_OPTION_ARG_INT, &rounds, "Rounds, one after the other (default 1)", "N" },
    { "run-for", 0, 0, G_OPTION_ARG_INT, &run_for_ms, "Run the prober's own schedule this long", "MS" },
    { "interval", 0, 0, G_OPTION_ARG_INT, &interval_ms, "Between rounds (default 1000)", "MS" },
    { "fast-interval", 0, 0, G_OPTION_ARG_INT, &fast_interval_ms, "Between rounds when fast (default 100)", "MS" },
    { "fast", 0, 0, G_OPTION_ARG_NONE, &fast, "Use the fast interval", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &specs, NULL, "TARGET..." },
    { NULL }
  };

  context = g_option_context_new ("TARGET... - probe targets through one interface");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (interface == NULL || specs == NULL || specs[0] == NULL
      || timeout_ms <= 0 || quorum <= 0 || rounds <= 0 || run_for_ms < 0
      || interval_ms <= 0 || fast_interval_ms <= 0)
    {
      g_printerr ("usage: pf-probe-tool --interface IF [--mark 0x70f0] [--timeout 400] "
                  "[--quorum 1] [--rounds N | --run-for MS [--interval MS] [--fast-interval MS] [--fast]] TARGET...\n");
      return 2;
    }
  if (mark_text != NULL)
    {
      char *end = NULL;

      mark = g_ascii_strtoull (mark_text, &end, 0);
      if (end == mark_text || *end != '\0' || mark > G_MAXUINT32)
        {
          g_printerr ("bad mark “%s”\n", mark_text);
          return 2;
        }
    }

  for (guint i = 0; specs[i] != NULL; i++)
    {
      PfProbeTarget *target = target_parse (specs[i], &error);

      if (target == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 2;
        }
      g_ptr_array_add (targets, target);
    }

  config.name = (char *) "probe-tool";
  config.interface = interface;
  config.targets = targets;
  config.quorum = quorum;
  config.timeout_ms = timeout_ms;
  config.interval_ms = interval_ms;
  config.fast_interval_ms = fast_interval_ms;

  loop = g_main_loop_new (NULL, FALSE);
  prober = pf_prober_new (&config, interface, (guint32) mark);

  if (run_for_ms > 0)
    {
      ScheduleData data = { .start_us = g_get_monotonic_time () };

      g_signal_connect (prober, "round-finished", G_CALLBACK (round_finished_cb), &data);
      pf_prober_set_fast (prober, fast);
      pf_prober_start (prober);
      g_timeout_add_once (run_for_ms, quit_cb, loop);
      g_main_loop_run (loop);
      pf_prober_stop (prober);
      return data.rounds > 0 && data.last_ok ? 0 : 1;
    }

  for (int i = 0; i < rounds; i++)
    {
      RunData data = { .loop = loop };
      gint64 start = g_get_monotonic_time ();

      pf_prober_run_once_async (prober, NULL, round_done_cb, &data);
      g_main_loop_run (loop);
      if (data.result == NULL)
        {
          g_printerr ("round failed: %s\n", data.error->message);
          g_clear_error (&data.error);
          return 1;
        }
      print_round (data.result, data.result->finished_us - start, -1);
      last_ok = data.result->answered >= data.result->quorum;
      pf_round_result_free (data.result);
    }

  return last_ok ? 0 : 1;
}
