/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The Telegram notifier (see pf-notifier-telegram.h): the request's body,
 * the reading of Telegram's answer ({"ok": false, "error_code": 429,
 * "description": "Too Many Requests: retry after 3", "parameters":
 * {"retry_after": 3}}), and the token kept out of everything said.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-notify"

#include "pf-notifier-telegram.h"

#include <string.h>

#include <libsoup/soup.h>

#include "pf-error.h"

/* Telegram may ask for a long wait; more than a day is not believed. */
#define RETRY_AFTER_MAX_S  (24 * 3600)
#define DESCRIPTION_MAX    200

struct _PfNotifierTelegram
{
  PfNotifier  parent_instance;

  char       *api_url;
  char       *token;
  char       *chat_id;
  guint64     topic_id;   /* 0: none */
};

G_DEFINE_FINAL_TYPE (PfNotifierTelegram, pf_notifier_telegram, PF_TYPE_NOTIFIER)

static const char * const telegram_keys[] = { "token-file", "chat-id", "topic-id", "api-url", NULL };

char *
pf_notifier_telegram_escape (const char *text)
{
  GString *out = g_string_sized_new (strlen (text) + 16);

  for (const char *p = text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '<':
          g_string_append (out, "&lt;");
          break;
        case '>':
          g_string_append (out, "&gt;");
          break;
        case '&':
          g_string_append (out, "&amp;");
          break;
        default:
          g_string_append_c (out, *p);
          break;
        }
    }
  return g_string_free (out, FALSE);
}

static gboolean
read_token (PfNotifierTelegram  *self,
            const char          *path,
            GError             **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize len;

  if (path == NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "token-file: missing");
      return FALSE;
    }
  if (!g_file_get_contents (path, &contents, &len, &local_error))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "token-file: %s", local_error->message);
      return FALSE;
    }

  contents[strcspn (contents, "\r\n")] = '\0';
  g_strstrip (contents);
  /* Digits, a colon, letters, digits, '-' and '_': nothing that could
   * change the URL it goes into. The token itself is never quoted. */
  if (*contents == '\0' || strchr (contents, ':') == NULL ||
      contents[strspn (contents, "0123456789:abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")] != '\0')
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "token-file: %s does not hold a bot token on its first line", path);
      explicit_bzero (contents, len);
      return FALSE;
    }
  self->token = g_steal_pointer (&contents);
  return TRUE;
}

static gboolean
is_integer (const char *text)
{
  const char *p = *text == '-' ? text + 1 : text;

  return *p != '\0' && strspn (p, "0123456789") == strlen (p) && strlen (p) < 19;
}

static gboolean
pf_notifier_telegram_setup (PfNotifier  *notifier,
                            GHashTable  *settings,
                            GError     **error)
{
  PfNotifierTelegram *self = PF_NOTIFIER_TELEGRAM (notifier);
  const char *chat_id = g_hash_table_lookup (settings, "chat-id");

  if (!pf_notifier_setting_url (settings, "api-url", FALSE, &self->api_url, error) ||
      !pf_notifier_setting_uint (settings, "topic-id", 1, G_MAXINT64, &self->topic_id, error))
    return FALSE;

  if (chat_id == NULL || !(is_integer (chat_id) || (chat_id[0] == '@' && chat_id[1] != '\0')))
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                           chat_id == NULL ? "chat-id: missing"
                                           : "chat-id: neither a number nor @channel");
      return FALSE;
    }
  self->chat_id = g_strdup (chat_id);

  return read_token (self, g_hash_table_lookup (settings, "token-file"), error);
}

static JsonNode *
build_body (PfNotifierTelegram *self,
            const char         *text)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *html = NULL;
  g_autofree char *cut = NULL;

  /* Telegram refuses longer messages; ours are short, but never lose one. */
  if (g_utf8_strlen (text, -1) > PF_NOTIFIER_TELEGRAM_MAX_CHARS)
    {
      cut = g_strdup (text);
      strcpy (g_utf8_offset_to_pointer (cut, PF_NOTIFIER_TELEGRAM_MAX_CHARS - 1), "…");
      text = cut;
    }
  html = pf_notifier_telegram_escape (text);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "chat_id");
  if (is_integer (self->chat_id))
    json_builder_add_int_value (builder, g_ascii_strtoll (self->chat_id, NULL, 10));
  else
    json_builder_add_string_value (builder, self->chat_id);
  if (self->topic_id != 0)
    {
      json_builder_set_member_name (builder, "message_thread_id");
      json_builder_add_int_value (builder, (gint64) self->topic_id);
    }
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, html);
  json_builder_set_member_name (builder, "parse_mode");
  json_builder_add_string_value (builder, "HTML");
  json_builder_set_member_name (builder, "disable_web_page_preview");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* What Telegram's answer says, when it is its usual JSON object. */
typedef struct {
  gboolean  parsed;
  gboolean  ok;
  char     *description;
  guint     retry_after_s;
} Answer;

static void
read_answer (PfNotifierTelegram *self,
             GBytes             *body,
             Answer             *answer)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root, *parameters;
  JsonNode *node;
  gsize len;
  const char *data = g_bytes_get_data (body, &len);

  if (len == 0 || !json_parser_load_from_data (parser, data, len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  root = json_node_get_object (json_parser_get_root (parser));
  answer->parsed = TRUE;

  node = json_object_get_member (root, "ok");
  answer->ok = node != NULL && json_node_get_value_type (node) == G_TYPE_BOOLEAN &&
               json_node_get_boolean (node);

  node = json_object_get_member (root, "description");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      g_autofree char *line = pf_notifier_redact (json_node_get_string (node), self->token);

      if (g_utf8_strlen (line, -1) > DESCRIPTION_MAX)
        strcpy (g_utf8_offset_to_pointer (line, DESCRIPTION_MAX - 1), "…");
      answer->description = g_steal_pointer (&line);
    }

  node = json_object_get_member (root, "parameters");
  parameters = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  node = parameters != NULL ? json_object_get_member (parameters, "retry_after") : NULL;
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_INT64)
    answer->retry_after_s = (guint) CLAMP (json_node_get_int (node), 1, RETRY_AFTER_MAX_S);
}

static void
posted_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PfNotifierTelegram *self = PF_NOTIFIER_TELEGRAM (object);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *phrase = NULL;
  Answer answer = { 0 };
  guint status = 0;

  body = pf_notifier_post_finish (PF_NOTIFIER (self), result, &status, &phrase, &error);
  if (body == NULL)
    {
      pf_notifier_return_error (task, 0, g_steal_pointer (&error));
      return;
    }

  read_answer (self, body, &answer);
  if (SOUP_STATUS_IS_SUCCESSFUL (status) && (!answer.parsed || answer.ok))
    g_task_return_boolean (task, TRUE);
  else if (SOUP_STATUS_IS_SUCCESSFUL (status))
    pf_notifier_return_error (task, 0,
                              g_error_new (PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_REJECTED,
                                           "Telegram: %s", answer.description ? answer.description
                                                                              : "not ok"));
  else
    pf_notifier_return_error (task, status == 429 ? answer.retry_after_s : 0,
                              pf_notifier_http_error (PF_NOTIFIER (object), status,
                                                      answer.description ? answer.description
                                                                         : phrase));
  g_free (answer.description);
}

static void
pf_notifier_telegram_send_async (PfNotifier          *notifier,
                                 const PfNotice      *notice,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  PfNotifierTelegram *self = PF_NOTIFIER_TELEGRAM (notifier);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *text = pf_notifier_render (notifier, notice);
  g_autoptr(JsonNode) body = build_body (self, text);
  g_autofree char *url = g_strconcat (self->api_url, "/bot", self->token, "/sendMessage", NULL);

  g_task_set_source_tag (task, pf_notifier_telegram_send_async);
  pf_notifier_post_async (notifier, url, body, NULL, NULL, self->token, cancellable,
                          posted_cb, g_steal_pointer (&task));
  explicit_bzero (url, strlen (url));
}

static void
pf_notifier_telegram_finalize (GObject *object)
{
  PfNotifierTelegram *self = PF_NOTIFIER_TELEGRAM (object);

  if (self->token != NULL)
    explicit_bzero (self->token, strlen (self->token));
  g_free (self->token);
  g_free (self->api_url);
  g_free (self->chat_id);
  G_OBJECT_CLASS (pf_notifier_telegram_parent_class)->finalize (object);
}

static void
pf_notifier_telegram_class_init (PfNotifierTelegramClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PfNotifierClass *notifier_class = PF_NOTIFIER_CLASS (klass);

  object_class->finalize = pf_notifier_telegram_finalize;
  notifier_class->kind = "telegram";
  notifier_class->label = "Telegram";
  notifier_class->keys = telegram_keys;
  notifier_class->setup = pf_notifier_telegram_setup;
  notifier_class->send_async = pf_notifier_telegram_send_async;
}

static void
pf_notifier_telegram_init (PfNotifierTelegram *self)
{
  self->api_url = g_strdup (PF_NOTIFIER_TELEGRAM_DEFAULT_API_URL);
}
