/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The webhook notifier (see pf-notifier-webhook.h): one JSON document per
 * message, its optional header kept out of everything said, and any 2xx
 * answer taken as delivered.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-notify"

#include "pf-notifier-webhook.h"

#include <string.h>

#include <libsoup/soup.h>

#include "pf-error.h"

struct _PfNotifierWebhook
{
  PfNotifier  parent_instance;

  char       *url;
  char       *header_name;   /* NULL: none */
  char       *header_value;
};

G_DEFINE_FINAL_TYPE (PfNotifierWebhook, pf_notifier_webhook, PF_TYPE_NOTIFIER)

static const char * const webhook_keys[] = { "url", "header", NULL };

/* "Name: value": a token, a colon, a value on one line. The value is a
 * secret: no error quotes it. */
static gboolean
parse_header (PfNotifierWebhook  *self,
              const char         *header,
              GError            **error)
{
  const char *colon = strchr (header, ':');
  g_autofree char *name = NULL;
  g_autofree char *value = NULL;

  if (colon != NULL)
    {
      name = g_strstrip (g_strndup (header, colon - header));
      value = g_strstrip (g_strdup (colon + 1));
    }
  if (name == NULL || *name == '\0' || *value == '\0' ||
      name[strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")] != '\0' ||
      strpbrk (value, "\r\n") != NULL)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                           "header: expected “Name: value” on one line");
      return FALSE;
    }
  self->header_name = g_steal_pointer (&name);
  self->header_value = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
pf_notifier_webhook_setup (PfNotifier  *notifier,
                           GHashTable  *settings,
                           GError     **error)
{
  PfNotifierWebhook *self = PF_NOTIFIER_WEBHOOK (notifier);
  const char *header = g_hash_table_lookup (settings, "header");

  if (!pf_notifier_setting_url (settings, "url", TRUE, &self->url, error))
    return FALSE;
  return header == NULL || parse_header (self, header, error);
}

static char *
format_time (gint64     time_us,
             GTimeZone *tz)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = NULL;

  if (utc == NULL)
    return g_strdup ("");
  local = g_date_time_to_timezone (utc, tz);
  return g_date_time_format (local, "%Y-%m-%dT%H:%M:%S%:z");
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static JsonNode *
build_body (PfNotifier     *notifier,
            const PfNotice *notice)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *time = format_time (notice->time_us, pf_notifier_get_timezone (notifier));
  g_autofree char *text = pf_notifier_render (notifier, notice);

  json_builder_begin_object (builder);
  add_string (builder, "event", notice->kind);
  add_string (builder, "time", time);
  add_string (builder, "from", notice->uplink_from);
  add_string (builder, "to", notice->uplink_to);
  add_string (builder, "reason", notice->reason);
  add_string (builder, "text", text);
  add_string (builder, "host", g_get_host_name ());
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static void
posted_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *phrase = NULL;
  guint status = 0;

  body = pf_notifier_post_finish (PF_NOTIFIER (object), result, &status, &phrase, &error);
  if (body == NULL)
    pf_notifier_return_error (task, 0, g_steal_pointer (&error));
  else if (SOUP_STATUS_IS_SUCCESSFUL (status))
    g_task_return_boolean (task, TRUE);
  else
    pf_notifier_return_error (task, 0, pf_notifier_http_error (PF_NOTIFIER (object), status, phrase));
}

static void
pf_notifier_webhook_send_async (PfNotifier          *notifier,
                                const PfNotice      *notice,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  PfNotifierWebhook *self = PF_NOTIFIER_WEBHOOK (notifier);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(JsonNode) body = build_body (notifier, notice);

  g_task_set_source_tag (task, pf_notifier_webhook_send_async);
  pf_notifier_post_async (notifier, self->url, body, self->header_name, self->header_value,
                          self->header_value, cancellable, posted_cb, g_steal_pointer (&task));
}

static void
pf_notifier_webhook_finalize (GObject *object)
{
  PfNotifierWebhook *self = PF_NOTIFIER_WEBHOOK (object);

  if (self->header_value != NULL)
    explicit_bzero (self->header_value, strlen (self->header_value));
  g_free (self->header_value);
  g_free (self->header_name);
  g_free (self->url);
  G_OBJECT_CLASS (pf_notifier_webhook_parent_class)->finalize (object);
}

static void
pf_notifier_webhook_class_init (PfNotifierWebhookClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PfNotifierClass *notifier_class = PF_NOTIFIER_CLASS (klass);

  object_class->finalize = pf_notifier_webhook_finalize;
  notifier_class->kind = "webhook";
  notifier_class->label = "webhook";
  notifier_class->keys = webhook_keys;
  notifier_class->setup = pf_notifier_webhook_setup;
  notifier_class->send_async = pf_notifier_webhook_send_async;
}

static void
pf_notifier_webhook_init (PfNotifierWebhook *self)
{
}
