/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Events to the notifiers and the hooks (see pf-announcer.h).
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-announce"

#include "pf-announcer.h"
#include "pf-error.h"
#include "pf-hooks.h"
#include "pf-notifier.h"
#include "pf-notify-queue.h"

struct _PfAnnouncer
{
  GObject     parent_instance;

  GPtrArray  *queues;      /* PfNotifyQueue, one per notifier, config order */
  PfHooks    *hooks;
  char       *state_dir;
};

enum { SIGNAL_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PfAnnouncer, pf_announcer, G_TYPE_OBJECT)

/* Kinds the notifiers do not send: a reload is the admin's own doing, and a
 * notifier's failure cannot be told through the notifiers. */
static const char *const unnotified_kinds[] = { "reload", "notify-failed", NULL };

static void
on_queue_dropped (PfNotifyQueue *queue,
                  guint          notices,
                  const char    *error,
                  gpointer       user_data)
{
  PfAnnouncer *self = user_data;
  g_autofree char *reason = g_strdup_printf ("%u notice%s dropped: %s", notices,
                                             notices == 1 ? "" : "s", error);

  g_signal_emit (self, signals[SIGNAL_FAILED], 0, "notify-failed",
                 pf_notifier_get_name (pf_notify_queue_get_notifier (queue)), reason);
}

static void
on_hook_finished (PfHooks    *hooks,
                  const char *hook,
                  const char *event,
                  gboolean    ok,
                  const char *reason,
                  gpointer    user_data)
{
  g_autofree char *text = NULL;

  if (ok)
    return;
  text = g_strdup_printf ("hook %s on %s: %s", hook, event, reason);
  g_signal_emit (user_data, signals[SIGNAL_FAILED], 0, "hook-failed", hook, text);
}

/* The [notify NAME] group as the notifier's settings. */
static GHashTable *
notifier_settings (const PfConfig         *config,
                   const PfNotifierConfig *n)
{
  GHashTable *settings = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (settings, "lang", g_strdup (config->language));
  g_hash_table_insert (settings, "timeout", g_strdup_printf ("%u", MAX (n->timeout_ms / 1000, 1)));
  if (n->ca_file != NULL)
    g_hash_table_insert (settings, "ca-file", g_strdup (n->ca_file));
  if (n->kind == PF_NOTIFIER_TELEGRAM)
    {
      g_hash_table_insert (settings, "token-file", g_strdup (n->token_file));
      g_hash_table_insert (settings, "chat-id", g_strdup (n->chat_id));
      if (n->topic_id != 0)
        g_hash_table_insert (settings, "topic-id", g_strdup_printf ("%" G_GINT64_FORMAT, n->topic_id));
      if (n->api_url != NULL)
        g_hash_table_insert (settings, "api-url", g_strdup (n->api_url));
    }
  else
    {
      g_hash_table_insert (settings, "url", g_strdup (n->url));
      if (n->header != NULL)
        g_hash_table_insert (settings, "header", g_strdup (n->header));
    }
  return settings;
}

PfAnnouncer *
pf_announcer_new (const PfConfig  *config,
                  const char      *state_dir,
                  GError         **error)
{
  g_autoptr(PfAnnouncer) self = g_object_new (PF_TYPE_ANNOUNCER, NULL);

  g_return_val_if_fail (config != NULL && state_dir != NULL, NULL);

  self->state_dir = g_strdup (state_dir);
  for (guint i = 0; i < config->notifiers->len; i++)
    {
      const PfNotifierConfig *n = g_ptr_array_index (config->notifiers, i);
      g_autoptr(GHashTable) settings = notifier_settings (config, n);
      g_autoptr(PfNotifier) notifier = NULL;
      g_autofree char *file = g_strdup_printf ("notify-%s.json", n->name);
      g_autofree char *path = g_build_filename (state_dir, file, NULL);
      PfNotifyQueuePolicy policy;
      PfNotifyQueue *queue;

      notifier = pf_notifier_new (pf_notifier_kind_to_string (n->kind), n->name, settings, error);
      if (notifier == NULL)
        {
          g_prefix_error (error, "[notify %s]: ", n->name);
          return NULL;
        }
      pf_notify_queue_policy_init (&policy);
      policy.rate_per_minute = n->rate_limit;
      queue = pf_notify_queue_new (notifier, path, &policy);
      g_signal_connect (queue, "dropped", G_CALLBACK (on_queue_dropped), self);
      g_ptr_array_add (self->queues, queue);
    }
  self->hooks = pf_hooks_new (config->hooks_dir, config->hook_timeout_ms);
  g_signal_connect (self->hooks, "finished", G_CALLBACK (on_hook_finished), self);
  return g_steal_pointer (&self);
}

static void
run_hooks (PfAnnouncer        *self,
           const PfEvent      *event,
           const char * const *extra_env)
{
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (event->time_us / G_USEC_PER_SEC);
  g_autofree char *iso = g_date_time_format_iso8601 (when);
  g_auto(GStrv) pairs = NULL;
  const char *args[] = { event->from, event->to, event->reason, NULL };
  struct { const char *name; const char *value; } vars[] = {
    { "PVEFAILOVER_FROM", event->from },
    { "PVEFAILOVER_TO", event->to },
    { "PVEFAILOVER_REASON", event->reason },
    { "PVEFAILOVER_TIME", iso },
    { "STATE_DIRECTORY", self->state_dir },
  };

  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    {
      g_autofree char *pair = g_strconcat (vars[i].name, "=", vars[i].value, NULL);

      g_strv_builder_add (env, pair);
    }
  if (extra_env != NULL)
    g_strv_builder_addv (env, (const char **) extra_env);
  pairs = g_strv_builder_end (env);
  pf_hooks_run (self->hooks, event->kind, (const char * const *) pairs, args);
}

void
pf_announcer_event (PfAnnouncer        *self,
                    const PfEvent      *event,
                    const char * const *env)
{
  g_return_if_fail (PF_IS_ANNOUNCER (self));
  g_return_if_fail (event != NULL);

  if (!g_strv_contains (unnotified_kinds, event->kind))
    for (guint i = 0; i < self->queues->len; i++)
      pf_notify_queue_push (g_ptr_array_index (self->queues, i),
                            pf_notice_new (event->time_us, event->kind, event->from, event->to,
                                           event->reason, NULL));
  /* A failing hook must not run the hooks again. */
  if (!g_str_equal (event->kind, "hook-failed"))
    run_hooks (self, event, env);
}

void
pf_announcer_kick (PfAnnouncer *self)
{
  g_return_if_fail (PF_IS_ANNOUNCER (self));

  for (guint i = 0; i < self->queues->len; i++)
    pf_notify_queue_kick (g_ptr_array_index (self->queues, i));
}

guint
pf_announcer_n_notifiers (PfAnnouncer *self)
{
  g_return_val_if_fail (PF_IS_ANNOUNCER (self), 0);
  return self->queues->len;
}

/* ---- NotifyTest ------------------------------------------------------- */

typedef struct {
  GStrv  lines;     /* one per notifier, in order */
  guint  pending;
} TestData;

static void
test_data_free (TestData *data)
{
  g_strfreev (data->lines);
  g_free (data);
}

typedef struct {
  GTask *task;
  guint  index;
} TestOne;

static void
on_test_sent (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  TestOne *one = user_data;
  g_autoptr(GTask) task = one->task;
  TestData *data = g_task_get_task_data (task);
  PfNotifier *notifier = PF_NOTIFIER (source);
  g_autoptr(GError) error = NULL;
  guint retry_after = 0;

  if (pf_notifier_send_finish (notifier, res, &retry_after, &error))
    data->lines[one->index] = g_strdup_printf ("%s: delivered", pf_notifier_get_name (notifier));
  else
    data->lines[one->index] = g_strdup_printf ("%s: %s", pf_notifier_get_name (notifier), error->message);
  g_message ("notify test: %s", data->lines[one->index]);
  g_free (one);
  if (--data->pending == 0)
    g_task_return_pointer (task, g_strdupv (data->lines), (GDestroyNotify) g_strfreev);
}

void
pf_announcer_test_async (PfAnnouncer         *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(PfNotice) notice = NULL;
  TestData *data;

  g_return_if_fail (PF_IS_ANNOUNCER (self));

  if (self->queues->len == 0)
    {
      g_task_return_new_error (task, PF_ERROR, PF_ERROR_NOT_FOUND, "No notifier is configured");
      return;
    }
  data = g_new0 (TestData, 1);
  data->lines = g_new0 (char *, self->queues->len + 1);
  data->pending = self->queues->len;
  g_task_set_task_data (task, data, (GDestroyNotify) test_data_free);
  notice = pf_notice_new (g_get_real_time (), "test", NULL, NULL, "test message from pvefailoverd", NULL);
  for (guint i = 0; i < self->queues->len; i++)
    {
      PfNotifier *notifier = pf_notify_queue_get_notifier (g_ptr_array_index (self->queues, i));
      TestOne *one = g_new0 (TestOne, 1);

      one->task = g_object_ref (task);
      one->index = i;
      pf_notifier_send_async (notifier, notice, cancellable, on_test_sent, one);
    }
}

GStrv
pf_announcer_test_finish (PfAnnouncer   *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
pf_announcer_dispose (GObject *object)
{
  PfAnnouncer *self = PF_ANNOUNCER (object);

  for (guint i = 0; self->queues != NULL && i < self->queues->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->queues, i), self);
  g_clear_pointer (&self->queues, g_ptr_array_unref);
  if (self->hooks != NULL)
    g_signal_handlers_disconnect_by_data (self->hooks, self);
  g_clear_object (&self->hooks);
  G_OBJECT_CLASS (pf_announcer_parent_class)->dispose (object);
}

static void
pf_announcer_finalize (GObject *object)
{
  g_free (PF_ANNOUNCER (object)->state_dir);
  G_OBJECT_CLASS (pf_announcer_parent_class)->finalize (object);
}

static void
pf_announcer_class_init (PfAnnouncerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_announcer_dispose;
  object_class->finalize = pf_announcer_finalize;

  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
pf_announcer_init (PfAnnouncer *self)
{
  self->queues = g_ptr_array_new_with_free_func (g_object_unref);
}
