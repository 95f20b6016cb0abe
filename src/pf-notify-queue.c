/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The delivery queue (see pf-notify-queue.h): a list of notices, oldest
 * first, of which the first few may be in flight; one timer that fires when
 * the policy next allows a message (the backoff after a failure, the
 * service's retry_after, the spacing of the rate limit); the file rewritten
 * after every change.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-notify"

#include "pf-notify-queue.h"

#include <errno.h>

#include "pf-error.h"

#define QUEUE_FORMAT 1

/* The request in flight: it covers the queue's first n notices. */
typedef struct {
  PfNotifyQueue *queue;         /* NULL once the queue is gone: the answer goes nowhere */
  GCancellable  *cancellable;
  guint          n;
} Sending;

struct _PfNotifyQueue
{
  GObject              parent_instance;

  PfNotifier          *notifier;
  char                *path;
  PfNotifyQueuePolicy  policy;
  GPtrArray           *notices;           /* PfNotice, oldest first */

  Sending             *sending;
  guint                timer_id;
  guint                backoff_step;      /* doubles the backoff; reset by a delivery or a kick */
  guint                failed_attempts;   /* since the last delivery */
  gint64               backoff_until;     /* monotonic µs, 0: none */
  gint64               retry_after_until; /* monotonic µs, what the service asked for */
  gint64               last_sent;         /* monotonic µs of the last message answered, 0: none */
  gboolean             kicked;            /* kicked while a request was in flight */
  gboolean             save_failed;
};

enum { SIGNAL_DELIVERED, SIGNAL_FAILED, SIGNAL_DROPPED, SIGNAL_IDLE, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PfNotifyQueue, pf_notify_queue, G_TYPE_OBJECT)

static void schedule (PfNotifyQueue *self);

void
pf_notify_queue_policy_init (PfNotifyQueuePolicy *policy)
{
  policy->max_notices = PF_NOTIFY_QUEUE_DEFAULT_MAX_NOTICES;
  policy->rate_per_minute = PF_NOTIFY_QUEUE_DEFAULT_RATE_PER_MINUTE;
  policy->minute_ms = 60 * 1000;
  policy->backoff_ms = PF_NOTIFY_QUEUE_DEFAULT_BACKOFF_MS;
  policy->backoff_max_ms = PF_NOTIFY_QUEUE_DEFAULT_BACKOFF_MAX_MS;
}

static const char *
log_name (PfNotifyQueue *self)
{
  return pf_notifier_get_name (self->notifier);
}

static const char *
notices_word (guint n)
{
  return n == 1 ? "notice" : "notices";
}

/* The file */

static void
save (PfNotifyQueue *self)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *dir = NULL;

  if (self->path == NULL)
    return;

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_int_value (builder, QUEUE_FORMAT);
  json_builder_set_member_name (builder, "notices");
  json_builder_begin_array (builder);
  for (guint i = 0; i < self->notices->len; i++)
    pf_notice_to_json (g_ptr_array_index (self->notices, i), builder);
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  generator = json_generator_new ();
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);

  dir = g_path_get_dirname (self->path);
  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      int saved_errno = errno;

      g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "Cannot create %s: %s", dir, g_strerror (saved_errno));
    }
  /* CONSISTENT + DURABLE: a temporary file, fsync, rename over. */
  else
    g_file_set_contents_full (self->path, text, -1,
                              G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                              0600, &error);

  /* Once per run of failures: the disk will not heal in a second. */
  if (error != NULL && !self->save_failed)
    g_warning ("%s: saving the queue: %s", log_name (self), error->message);
  self->save_failed = error != NULL;
}

static gboolean
load (PfNotifyQueue  *self,
      GError        **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  JsonObject *root;
  JsonNode *format, *notices;
  JsonArray *array;

  if (!json_parser_load_from_file (parser, self->path, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_FAILED, "not a JSON object");
      return FALSE;
    }
  root = json_node_get_object (json_parser_get_root (parser));
  format = json_object_get_member (root, "format");
  if (format == NULL || json_node_get_value_type (format) != G_TYPE_INT64 ||
      json_node_get_int (format) != QUEUE_FORMAT)
    {
      g_set_error_literal (error, PF_ERROR, PF_ERROR_FAILED, "unknown format");
      return FALSE;
    }
  notices = json_object_get_member (root, "notices");
  array = notices != NULL && JSON_NODE_HOLDS_ARRAY (notices) ? json_node_get_array (notices) : NULL;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      PfNotice *notice = JSON_NODE_HOLDS_OBJECT (node) ?
        pf_notice_from_json (json_node_get_object (node)) : NULL;

      if (notice != NULL)
        g_ptr_array_add (self->notices, notice);
    }
  return TRUE;
}

/* The list */

/* Drop the oldest notices not in flight until at most @limit remain (or
 * only one is left that could go), counting them in one "dropped" notice
 * at the head of those not in flight. The number dropped. */
static guint
make_room (PfNotifyQueue *self,
           guint          limit)
{
  guint start = self->sending != NULL ? self->sending->n : 0;
  guint dropped = 0;

  while (self->notices->len > limit && self->notices->len - start >= 2)
    {
      PfNotice *head = g_ptr_array_index (self->notices, start);

      if (g_str_equal (head->kind, "dropped"))
        {
          PfNotice *victim = g_ptr_array_index (self->notices, start + 1);

          head->count += g_str_equal (victim->kind, "dropped") ? victim->count : 1;
          g_ptr_array_remove_index (self->notices, start + 1);
        }
      else
        {
          PfNotice *marker = pf_notice_new (head->time_us, "dropped", NULL, NULL, NULL, NULL);

          marker->count = 1;
          g_ptr_array_index (self->notices, start) = marker;
          pf_notice_free (head);
          if (dropped == 0)
            g_warning ("%s: queue full (%u notices): dropping the oldest",
                       log_name (self), self->notices->len);
        }
      dropped++;
    }
  return dropped;
}

static void
remove_sent (PfNotifyQueue *self,
             guint          n)
{
  g_ptr_array_remove_range (self->notices, 0, MIN (n, self->notices->len));
}

/* Sending */

static void
sending_free (Sending *sending)
{
  g_clear_object (&sending->cancellable);
  g_free (sending);
}

static void
delivered (PfNotifyQueue *self,
           guint          n)
{
  if (self->failed_attempts > 0)
    g_message ("%s: delivered %u queued %s after %u failed %s", log_name (self), n,
               notices_word (n), self->failed_attempts,
               self->failed_attempts == 1 ? "attempt" : "attempts");
  else
    g_debug ("%s: delivered %u %s", log_name (self), n, notices_word (n));
  self->failed_attempts = 0;
  self->backoff_step = 0;
  self->backoff_until = 0;
  remove_sent (self, n);
  save (self);
  g_signal_emit (self, signals[SIGNAL_DELIVERED], 0, n);
}

static void
rejected (PfNotifyQueue *self,
          guint          n,
          const char    *message)
{
  g_warning ("%s: %s; %u %s dropped", log_name (self), message, n, notices_word (n));
  /* The service answered: the link works, only this message was refused. */
  self->failed_attempts = 0;
  self->backoff_step = 0;
  self->backoff_until = 0;
  remove_sent (self, n);
  save (self);
  g_signal_emit (self, signals[SIGNAL_DROPPED], 0, n, message);
}

static void
failed (PfNotifyQueue *self,
        const char    *message,
        guint          retry_after_s)
{
  gint64 now = g_get_monotonic_time ();
  guint64 delay_ms;
  g_autofree char *delay = NULL;

  self->failed_attempts++;
  delay_ms = (guint64) self->policy.backoff_ms << MIN (self->backoff_step, 20);
  delay_ms = MIN (delay_ms, self->policy.backoff_max_ms);
  self->backoff_step++;
  if (retry_after_s > 0)
    {
      delay_ms = (guint64) retry_after_s * 1000;
      self->retry_after_until = now + (gint64) delay_ms * 1000;
    }
  else if (self->kicked)
    delay_ms = 0;
  self->backoff_until = now + (gint64) delay_ms * 1000;

  if (delay_ms < 1000)
    delay = g_strdup_printf ("%u ms", (guint) delay_ms);
  else if (delay_ms % 1000 == 0)
    delay = g_strdup_printf ("%u s", (guint) (delay_ms / 1000));
  else
    delay = g_strdup_printf ("%.1f s", delay_ms / 1000.0);
  g_warning ("%s: %s; retrying in %s (%u %s waiting)", log_name (self), message, delay,
             self->notices->len, notices_word (self->notices->len));
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, message, (guint) MIN (delay_ms, G_MAXUINT));
}

static void
sent_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Sending *sending = user_data;
  PfNotifyQueue *self = sending->queue;
  g_autoptr(GError) error = NULL;
  guint retry_after_s = 0;
  guint n = sending->n;
  gboolean ok;

  ok = pf_notifier_send_finish (PF_NOTIFIER (object), result, &retry_after_s, &error);
  if (self == NULL)
    {
      sending_free (sending);
      return;
    }
  g_assert (self->sending == sending);
  self->sending = NULL;
  sending_free (sending);

  if (!ok && g_error_matches (error, PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_REJECTED))
    {
      self->last_sent = g_get_monotonic_time ();
      rejected (self, n, error->message);
    }
  else if (!ok)
    failed (self, error->message, retry_after_s);
  else
    {
      self->last_sent = g_get_monotonic_time ();
      delivered (self, n);
    }
  self->kicked = FALSE;

  if (self->notices->len == 0)
    g_signal_emit (self, signals[SIGNAL_IDLE], 0);
  schedule (self);
}

static void
send_next (PfNotifyQueue *self)
{
  guint n = MIN (self->notices->len, PF_NOTICE_SUMMARY_MAX);
  g_autoptr(PfNotice) summary = NULL;
  const PfNotice *notice;
  Sending *sending;

  g_assert (self->sending == NULL);
  if (n == 0)
    return;

  if (n == 1)
    notice = g_ptr_array_index (self->notices, 0);
  else
    {
      PfNotice *last = g_ptr_array_index (self->notices, n - 1);
      g_autofree char *text =
        pf_notice_render_summary ((PfNotice *const *) self->notices->pdata, n,
                                  pf_notifier_get_language (self->notifier),
                                  pf_notifier_get_timezone (self->notifier),
                                  g_get_real_time ());

      notice = summary = pf_notice_new (last->time_us, "summary", NULL, NULL, NULL, text);
    }

  sending = g_new0 (Sending, 1);
  sending->queue = self;
  sending->cancellable = g_cancellable_new ();
  sending->n = n;
  self->sending = sending;
  g_debug ("%s: sending %u %s", log_name (self), n, notices_word (n));
  pf_notifier_send_async (self->notifier, notice, sending->cancellable, sent_cb, sending);
}

static gboolean
timer_cb (gpointer user_data)
{
  PfNotifyQueue *self = user_data;

  self->timer_id = 0;
  send_next (self);
  return G_SOURCE_REMOVE;
}

/* Arm the one timer for when the policy next allows a message. */
static void
schedule (PfNotifyQueue *self)
{
  gint64 now, at;

  g_clear_handle_id (&self->timer_id, g_source_remove);
  if (self->sending != NULL || self->notices->len == 0)
    return;

  now = g_get_monotonic_time ();
  at = MAX (now, MAX (self->backoff_until, self->retry_after_until));
  if (self->last_sent != 0 && self->policy.rate_per_minute > 0)
    at = MAX (at, self->last_sent +
                  (gint64) self->policy.minute_ms * 1000 / self->policy.rate_per_minute);

  /* Even "now" waits for the loop's next iteration: what arrives together goes together. */
  self->timer_id = g_timeout_add ((guint) ((at - now + 999) / 1000), timer_cb, self);
}

/* Public */

void
pf_notify_queue_push (PfNotifyQueue *self,
                      PfNotice      *notice)
{
  guint dropped;

  g_return_if_fail (PF_IS_NOTIFY_QUEUE (self));
  g_return_if_fail (notice != NULL);

  dropped = make_room (self, self->policy.max_notices - 1);
  g_ptr_array_add (self->notices, notice);
  save (self);
  if (dropped > 0)
    g_signal_emit (self, signals[SIGNAL_DROPPED], 0, dropped, "queue full");
  schedule (self);
}

void
pf_notify_queue_kick (PfNotifyQueue *self)
{
  g_return_if_fail (PF_IS_NOTIFY_QUEUE (self));

  self->backoff_step = 0;
  self->backoff_until = 0;
  if (self->sending != NULL)
    {
      self->kicked = TRUE;
      return;
    }
  pf_notifier_close_connections (self->notifier);
  schedule (self);
}

PfNotifier *
pf_notify_queue_get_notifier (PfNotifyQueue *self)
{
  g_return_val_if_fail (PF_IS_NOTIFY_QUEUE (self), NULL);
  return self->notifier;
}

guint
pf_notify_queue_get_length (PfNotifyQueue *self)
{
  g_return_val_if_fail (PF_IS_NOTIFY_QUEUE (self), 0);
  return self->notices->len;
}

gboolean
pf_notify_queue_is_idle (PfNotifyQueue *self)
{
  g_return_val_if_fail (PF_IS_NOTIFY_QUEUE (self), TRUE);
  return self->notices->len == 0 && self->sending == NULL;
}

static void
pf_notify_queue_dispose (GObject *object)
{
  PfNotifyQueue *self = PF_NOTIFY_QUEUE (object);

  g_clear_handle_id (&self->timer_id, g_source_remove);
  if (self->sending != NULL)
    {
      /* Orphaned: its callback frees it. The notices stay in the file. */
      self->sending->queue = NULL;
      g_cancellable_cancel (self->sending->cancellable);
      self->sending = NULL;
    }
  g_clear_object (&self->notifier);
  G_OBJECT_CLASS (pf_notify_queue_parent_class)->dispose (object);
}

static void
pf_notify_queue_finalize (GObject *object)
{
  PfNotifyQueue *self = PF_NOTIFY_QUEUE (object);

  g_ptr_array_unref (self->notices);
  g_free (self->path);
  G_OBJECT_CLASS (pf_notify_queue_parent_class)->finalize (object);
}

static void
pf_notify_queue_class_init (PfNotifyQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_notify_queue_dispose;
  object_class->finalize = pf_notify_queue_finalize;

  signals[SIGNAL_DELIVERED] =
    g_signal_new ("delivered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT);
  signals[SIGNAL_DROPPED] =
    g_signal_new ("dropped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_IDLE] =
    g_signal_new ("idle", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pf_notify_queue_init (PfNotifyQueue *self)
{
  self->notices = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_notice_free);
}

PfNotifyQueue *
pf_notify_queue_new (PfNotifier                *notifier,
                     const char                *path,
                     const PfNotifyQueuePolicy *policy)
{
  PfNotifyQueue *self;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (PF_IS_NOTIFIER (notifier), NULL);

  self = g_object_new (PF_TYPE_NOTIFY_QUEUE, NULL);
  self->notifier = g_object_ref (notifier);
  self->path = g_strdup (path);
  if (policy != NULL)
    self->policy = *policy;
  else
    pf_notify_queue_policy_init (&self->policy);
  self->policy.max_notices = MAX (self->policy.max_notices, 2);
  self->policy.minute_ms = MAX (self->policy.minute_ms, 1);
  self->policy.backoff_max_ms = MAX (self->policy.backoff_max_ms, self->policy.backoff_ms);

  if (path != NULL && !load (self, &error))
    g_warning ("%s: %s: %s; starting with an empty queue", log_name (self), path, error->message);
  if (make_room (self, self->policy.max_notices) > 0)
    save (self);
  if (self->notices->len > 0)
    g_message ("%s: %u %s waiting from before", log_name (self), self->notices->len,
               notices_word (self->notices->len));
  schedule (self);
  return self;
}
