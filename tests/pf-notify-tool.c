/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pf-notify-tool: one notifier and its queue, driven from stdin, reporting
 * on stdout as JSON lines (flushed each time). Used by the tests.
 *
 *   pf-notify-tool --telegram --token-file F --chat-id ID [--topic-id N] [--api-url URL]
 *   pf-notify-tool --webhook --url URL [--header 'Name: value']
 *     common:  [--lang en|fr] [--timeout S] [--ca-file PEM] [--name NAME]
 *     queue:   [--queue FILE] [--max N] [--rate N] [--minute-ms MS]
 *              [--backoff-ms MS] [--backoff-max-ms MS]
 *
 * stdin, one command a line:
 *   KIND|FROM|TO|REASON[|TEXT[|TIME]]   queue a notice; TIME in seconds since
 *                                       the epoch, or negative: that many
 *                                       seconds ago (default now)
 *   kick                                pf_notify_queue_kick()
 *   wait-idle                           read nothing more until the queue is empty
 *   sleep MS                            read nothing more for MS milliseconds
 * End of input or SIGTERM ends the tool (the queue stays in its file).
 *
 * stdout: {"event": "ready", "length": N} once, then
 *   {"event": "queued", "kind": K, "length": N}
 *   {"event": "delivered", "notices": N}
 *   {"event": "failed", "error": "...", "retry_ms": N}
 *   {"event": "dropped", "notices": N, "error": "..."}
 *   {"event": "idle"}                   after wait-idle, once the queue is empty
 * Logs go to stderr. Exit status: 0, or 2 for bad usage or settings.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-notify-tool"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>

#include "pf-notifier.h"
#include "pf-notify-queue.h"

typedef struct
{
  GMainLoop        *loop;
  PfNotifyQueue    *queue;
  GDataInputStream *input;
  GCancellable     *cancellable;
  gboolean          waiting_idle;
} Tool;

static void read_next (Tool *tool);

/* One JSON line: "event" then name/value pairs, values strings or (with a
 * name starting with '#') unsigned numbers, NULL-terminated. */
static void
print_event (const char *event,
             ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  const char *name;
  va_list args;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, event);
  va_start (args, event);
  while ((name = va_arg (args, const char *)) != NULL)
    {
      if (name[0] == '#')
        {
          json_builder_set_member_name (builder, name + 1);
          json_builder_add_int_value (builder, va_arg (args, guint));
        }
      else
        {
          json_builder_set_member_name (builder, name);
          json_builder_add_string_value (builder, va_arg (args, const char *));
        }
    }
  va_end (args);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
  fflush (stdout);
}

static void
check_idle (Tool *tool)
{
  if (!tool->waiting_idle || !pf_notify_queue_is_idle (tool->queue))
    return;
  tool->waiting_idle = FALSE;
  print_event ("idle", NULL);
  read_next (tool);
}

static void
delivered_cb (PfNotifyQueue *queue,
              guint          n,
              Tool          *tool)
{
  print_event ("delivered", "#notices", n, NULL);
}

static void
failed_cb (PfNotifyQueue *queue,
           const char    *error,
           guint          retry_ms,
           Tool          *tool)
{
  print_event ("failed", "error", error, "#retry_ms", retry_ms, NULL);
}

static void
dropped_cb (PfNotifyQueue *queue,
            guint          n,
            const char    *error,
            Tool          *tool)
{
  print_event ("dropped", "#notices", n, "error", error, NULL);
}

static void
idle_cb (PfNotifyQueue *queue,
         Tool          *tool)
{
  check_idle (tool);
}

static gboolean
resume_cb (gpointer user_data)
{
  read_next (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
push_notice (Tool       *tool,
             const char *line)
{
  g_auto(GStrv) fields = g_strsplit (line, "|", 6);
  guint n = g_strv_length (fields);
  gint64 time_us = g_get_real_time ();
  PfNotice *notice;

  if (n < 4 || *fields[0] == '\0')
    return FALSE;
  if (n == 6)
    {
      gint64 t;

      if (!g_ascii_string_to_signed (fields[5], 10, G_MININT32, G_MAXINT64 / G_USEC_PER_SEC, &t, NULL))
        return FALSE;
      time_us = t < 0 ? time_us + t * G_USEC_PER_SEC : t * G_USEC_PER_SEC;
    }
  notice = pf_notice_new (time_us, fields[0], fields[1], fields[2], fields[3], n >= 5 ? fields[4] : NULL);
  pf_notify_queue_push (tool->queue, notice);
  print_event ("queued", "kind", fields[0], "#length", pf_notify_queue_get_length (tool->queue), NULL);
  return TRUE;
}

/* One command; FALSE when reading waits for something. */
static gboolean
run_command (Tool       *tool,
             const char *line)
{
  guint64 ms;

  if (*line == '\0' || *line == '#')
    return TRUE;
  if (g_str_equal (line, "kick"))
    pf_notify_queue_kick (tool->queue);
  else if (g_str_equal (line, "wait-idle"))
    {
      tool->waiting_idle = TRUE;
      g_idle_add_once ((GSourceOnceFunc) check_idle, tool);
      return FALSE;
    }
  else if (g_str_has_prefix (line, "sleep ") &&
           g_ascii_string_to_unsigned (line + 6, 10, 0, G_MAXUINT, &ms, NULL))
    {
      g_timeout_add ((guint) ms, resume_cb, tool);
      return FALSE;
    }
  else if (!push_notice (tool, line))
    g_printerr ("pf-notify-tool: not a command: %s\n", line);
  return TRUE;
}

static void
line_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Tool *tool = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize len;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, &len, &error);
  if (line == NULL)
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_printerr ("pf-notify-tool: stdin: %s\n", error->message);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_main_loop_quit (tool->loop);
      return;
    }
  if (run_command (tool, g_strstrip (line)))
    read_next (tool);
}

static void
read_next (Tool *tool)
{
  g_data_input_stream_read_line_async (tool->input, G_PRIORITY_DEFAULT, tool->cancellable,
                                       line_cb, tool);
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static void
set (GHashTable *settings,
     const char *key,
     const char *value)
{
  if (value != NULL)
    g_hash_table_insert (settings, (gpointer) key, (gpointer) value);
}

int
main (int   argc,
      char *argv[])
{
  gboolean telegram = FALSE, webhook = FALSE;
  g_autofree char *name = NULL, *api_url = NULL, *url = NULL, *token_file = NULL;
  g_autofree char *chat_id = NULL, *topic_id = NULL, *ca_file = NULL, *header = NULL;
  g_autofree char *lang = NULL, *timeout = NULL, *queue_path = NULL;
  int max = -1, rate = -1, minute_ms = -1, backoff_ms = -1, backoff_max_ms = -1;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GHashTable) settings = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  g_autoptr(PfNotifier) notifier = NULL;
  g_autoptr(PfNotifyQueue) queue = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GInputStream) stdin_stream = NULL;
  g_autoptr(GDataInputStream) input = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  PfNotifyQueuePolicy policy;
  Tool tool = { 0 };
  const GOptionEntry entries[] = {
    { "telegram", 0, 0, G_OPTION_ARG_NONE, &telegram, "A Telegram notifier", NULL },
    { "webhook", 0, 0, G_OPTION_ARG_NONE, &webhook, "A webhook notifier", NULL },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "The notifier's name in logs", "NAME" },
    { "api-url", 0, 0, G_OPTION_ARG_STRING, &api_url, "Telegram's API base URL", "URL" },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file, "The bot token's file", "PATH" },
    { "chat-id", 0, 0, G_OPTION_ARG_STRING, &chat_id, "The chat", "ID" },
    { "topic-id", 0, 0, G_OPTION_ARG_STRING, &topic_id, "The forum topic", "N" },
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "The webhook's URL", "URL" },
    { "header", 0, 0, G_OPTION_ARG_STRING, &header, "An extra request header", "NAME: VALUE" },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "Trust only these CAs", "PEM" },
    { "lang", 0, 0, G_OPTION_ARG_STRING, &lang, "en or fr", "LANG" },
    { "timeout", 0, 0, G_OPTION_ARG_STRING, &timeout, "Each request's deadline", "S" },
    { "queue", 0, 0, G_OPTION_ARG_FILENAME, &queue_path, "The queue's file", "FILE" },
    { "max", 0, 0, G_OPTION_ARG_INT, &max, "At most N notices queued", "N" },
    { "rate", 0, 0, G_OPTION_ARG_INT, &rate, "At most N messages a minute", "N" },
    { "minute-ms", 0, 0, G_OPTION_ARG_INT, &minute_ms, "The rate limit's minute", "MS" },
    { "backoff-ms", 0, 0, G_OPTION_ARG_INT, &backoff_ms, "The first retry's delay", "MS" },
    { "backoff-max-ms", 0, 0, G_OPTION_ARG_INT, &backoff_max_ms, "The longest retry delay", "MS" },
    { NULL }
  };

  setlocale (LC_ALL, "");
  /* stdout is for the JSON lines only, even with G_MESSAGES_DEBUG. */
  g_log_writer_default_set_use_stderr (TRUE);

  context = g_option_context_new ("— deliver notices read from stdin");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (telegram == webhook || argc > 1)
    {
      g_printerr ("usage: %s --telegram|--webhook [OPTION…]; see --help\n", g_get_prgname ());
      return 2;
    }

  set (settings, "api-url", api_url);
  set (settings, "token-file", token_file);
  set (settings, "chat-id", chat_id);
  set (settings, "topic-id", topic_id);
  set (settings, "url", url);
  set (settings, "header", header);
  set (settings, "ca-file", ca_file);
  set (settings, "lang", lang);
  set (settings, "timeout", timeout);
  notifier = pf_notifier_new (telegram ? "telegram" : "webhook", name, settings, &error);
  if (notifier == NULL)
    {
      g_printerr ("pf-notify-tool: %s\n", error->message);
      return 2;
    }

  pf_notify_queue_policy_init (&policy);
  if (max >= 0)
    policy.max_notices = (guint) max;
  if (rate >= 0)
    policy.rate_per_minute = (guint) rate;
  if (minute_ms > 0)
    policy.minute_ms = (guint) minute_ms;
  if (backoff_ms > 0)
    policy.backoff_ms = (guint) backoff_ms;
  if (backoff_max_ms > 0)
    policy.backoff_max_ms = (guint) backoff_max_ms;

  loop = g_main_loop_new (NULL, FALSE);
  queue = pf_notify_queue_new (notifier, queue_path, &policy);
  stdin_stream = g_unix_input_stream_new (0, FALSE);
  input = g_data_input_stream_new (stdin_stream);
  cancellable = g_cancellable_new ();
  tool.loop = loop;
  tool.queue = queue;
  tool.input = input;
  tool.cancellable = cancellable;
  g_signal_connect (queue, "delivered", G_CALLBACK (delivered_cb), &tool);
  g_signal_connect (queue, "failed", G_CALLBACK (failed_cb), &tool);
  g_signal_connect (queue, "dropped", G_CALLBACK (dropped_cb), &tool);
  g_signal_connect (queue, "idle", G_CALLBACK (idle_cb), &tool);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);

  print_event ("ready", "#length", pf_notify_queue_get_length (queue), NULL);
  read_next (&tool);
  g_main_loop_run (loop);

  g_cancellable_cancel (cancellable);
  g_signal_handlers_disconnect_by_data (queue, &tool);
  return 0;
}
