/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Notices, their messages (English, French, delayed, summaries), the
 * notifiers' settings, and the queue's policy against a scripted notifier
 * (no network): coalescing, spacing, backoff, retry_after, rejection, the
 * bound and the file.
 */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include "pf-error.h"
#include "pf-notifier.h"
#include "pf-notifier-telegram.h"
#include "pf-notify-queue.h"

#define SEC G_GINT64_CONSTANT (1000000)
/* 2024-05-02 14:03:12 UTC */
#define T0 (G_GINT64_CONSTANT (1714658592) * SEC)

/* Rendering */

static char *
render (const PfNotice *notice,
        PfLanguage      lang,
        gint64          now_us)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();

  return pf_notice_render (notice, lang, utc, now_us);
}

static void
test_render_failover (void)
{
  g_autoptr(PfNotice) notice = pf_notice_new (T0, "failover", "primary", "lte",
                                              "primary down: 5/5 rounds lost", NULL);
  g_autofree char *en = render (notice, PF_LANGUAGE_EN, T0 + 2 * SEC);
  g_autofree char *fr = render (notice, PF_LANGUAGE_FR, T0 + 2 * SEC);
  g_autofree char *never = render (notice, PF_LANGUAGE_EN, 0);

  g_assert_cmpstr (en, ==, "⚠️ Failover: primary → lte\nprimary down: 5/5 rounds lost");
  g_assert_cmpstr (fr, ==, "⚠️ Bascule : primary → lte\nprimary down: 5/5 rounds lost");
  g_assert_cmpstr (never, ==, en);
}

static void
test_render_kinds (void)
{
  static const struct {
    const char *kind, *from, *to, *reason, *text;
    const char *en, *fr;
  } cases[] = {
    { "failback", "lte", "primary", "primary healthy for 300 s", NULL,
      "✅ Failback: lte → primary\nprimary healthy for 300 s",
      "✅ Retour : lte → primary\nprimary healthy for 300 s" },
    { "uplink-down", "primary", NULL, "carrier lost", NULL,
      "🔻 Uplink down: primary\ncarrier lost", "🔻 Lien coupé : primary\ncarrier lost" },
    { "uplink-up", "lte", NULL, NULL, NULL, "🔺 Uplink up: lte", "🔺 Lien rétabli : lte" },
    { "usage", "lte", NULL, NULL, "80% of 20 GB used",
      "📊 Data usage: lte\n80% of 20 GB used", "📊 Consommation de données : lte\n80% of 20 GB used" },
    { "test", NULL, NULL, NULL, NULL, "🔔 Test notification", "🔔 Notification de test" },
    { "brand-new", "a", "b", "why", NULL, "ℹ️ brand-new: a → b\nwhy", "ℹ️ brand-new : a → b\nwhy" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PfNotice) notice = pf_notice_new (T0, cases[i].kind, cases[i].from, cases[i].to,
                                                  cases[i].reason, cases[i].text);
      g_autofree char *en = render (notice, PF_LANGUAGE_EN, T0);
      g_autofree char *fr = render (notice, PF_LANGUAGE_FR, T0);

      g_assert_cmpstr (en, ==, cases[i].en);
      g_assert_cmpstr (fr, ==, cases[i].fr);
    }
}

static void
test_render_delayed (void)
{
  g_autoptr(PfNotice) notice = pf_notice_new (T0, "failover", "primary", "lte", "down", NULL);
  g_autofree char *fresh = render (notice, PF_LANGUAGE_EN, T0 + PF_NOTICE_DELAYED_US);
  g_autofree char *en = render (notice, PF_LANGUAGE_EN, T0 + PF_NOTICE_DELAYED_US + 1);
  g_autofree char *fr = render (notice, PF_LANGUAGE_FR, T0 + 3600 * SEC);
  g_autofree char *en_day = render (notice, PF_LANGUAGE_EN, T0 + 11 * 3600 * SEC);
  g_autofree char *fr_day = render (notice, PF_LANGUAGE_FR, T0 + 11 * 3600 * SEC);

  g_assert_cmpstr (fresh, ==, "⚠️ Failover: primary → lte\ndown");
  g_assert_cmpstr (en, ==, "⚠️ Failover: primary → lte (at 14:03:12)\ndown");
  g_assert_cmpstr (fr, ==, "⚠️ Bascule : primary → lte (à 14:03:12)\ndown");
  /* 01:03 the next day, UTC. */
  g_assert_cmpstr (en_day, ==, "⚠️ Failover: primary → lte (on 2024-05-02 at 14:03:12)\ndown");
  g_assert_cmpstr (fr_day, ==, "⚠️ Bascule : primary → lte (le 02/05/2024 à 14:03:12)\ndown");
}

static void
test_render_timezone (void)
{
  g_autoptr(PfNotice) notice = pf_notice_new (T0, "uplink-down", "primary", NULL, NULL, NULL);
  g_autoptr(GTimeZone) paris = g_time_zone_new_identifier ("+02:00");
  g_autofree char *text = NULL;

  g_assert_nonnull (paris);
  text = pf_notice_render (notice, PF_LANGUAGE_FR, paris, T0 + 120 * SEC);
  g_assert_cmpstr (text, ==, "🔻 Lien coupé : primary (à 16:03:12)");
}

static void
test_render_dropped (void)
{
  g_autoptr(PfNotice) one = pf_notice_new (T0, "dropped", NULL, NULL, NULL, NULL);
  g_autoptr(PfNotice) many = pf_notice_new (T0, "dropped", NULL, NULL, NULL, NULL);
  g_autofree char *en1 = NULL, *fr1 = NULL, *en = NULL, *fr = NULL;

  one->count = 1;
  many->count = 12;
  en1 = render (one, PF_LANGUAGE_EN, T0 + 3600 * SEC);
  fr1 = render (one, PF_LANGUAGE_FR, T0);
  en = render (many, PF_LANGUAGE_EN, T0);
  fr = render (many, PF_LANGUAGE_FR, T0);
  g_assert_cmpstr (en1, ==, "⚠️ 1 older notice dropped (queue full)");
  g_assert_cmpstr (fr1, ==, "⚠️ 1 notification plus ancienne perdue (file pleine)");
  g_assert_cmpstr (en, ==, "⚠️ 12 older notices dropped (queue full)");
  g_assert_cmpstr (fr, ==, "⚠️ 12 notifications plus anciennes perdues (file pleine)");
}

static void
test_render_summary (void)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GPtrArray) notices = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_notice_free);
  g_autofree char *long_reason = g_strnfill (200, 'x');
  g_autofree char *en = NULL, *fr = NULL, *other_day = NULL, *cut = NULL;
  PfNotice *dropped = pf_notice_new (T0 - 60 * SEC, "dropped", NULL, NULL, NULL, NULL);

  dropped->count = 3;
  g_ptr_array_add (notices, dropped);
  g_ptr_array_add (notices, pf_notice_new (T0 - 11 * SEC, "failover", "primary", "lte", "primary down", NULL));
  g_ptr_array_add (notices, pf_notice_new (T0 + 58 * SEC, "failback", "lte", "primary", "", NULL));
  g_ptr_array_add (notices, pf_notice_new (T0 + 58 * SEC, "usage", "lte", NULL, "", "80% used\nsecond line"));

  en = pf_notice_render_summary ((PfNotice *const *) notices->pdata, notices->len,
                                 PF_LANGUAGE_EN, utc, T0 + 120 * SEC);
  g_assert_cmpstr (en, ==,
                   "📋 3 events from 14:03:01 to 14:04:10:\n"
                   "• 3 older notices dropped (queue full)\n"
                   "• 14:03:01 failover primary → lte: primary down\n"
                   "• 14:04:10 failback lte → primary\n"
                   "• 14:04:10 data usage lte: 80% used");
  fr = pf_notice_render_summary ((PfNotice *const *) notices->pdata + 1, 2,
                                 PF_LANGUAGE_FR, utc, T0 + 120 * SEC);
  g_assert_cmpstr (fr, ==,
                   "📋 2 événements de 14:03:01 à 14:04:10 :\n"
                   "• 14:03:01 bascule primary → lte : primary down\n"
                   "• 14:04:10 retour lte → primary");
  other_day = pf_notice_render_summary ((PfNotice *const *) notices->pdata + 2, 2,
                                        PF_LANGUAGE_EN, utc, T0 + 86400 * SEC);
  g_assert_cmpstr (other_day, ==,
                   "📋 2 events at 2024-05-02 14:04:10:\n"
                   "• 2024-05-02 14:04:10 failback lte → primary\n"
                   "• 2024-05-02 14:04:10 data usage lte: 80% used");

  g_ptr_array_set_size (notices, 0);
  g_ptr_array_add (notices, pf_notice_new (T0, "error", NULL, NULL, long_reason, NULL));
  cut = pf_notice_render_summary ((PfNotice *const *) notices->pdata, 1, PF_LANGUAGE_EN, utc, T0);
  g_assert_true (g_str_has_prefix (cut, "📋 1 event at 14:03:12:\n• 14:03:12 error: xxx"));
  g_assert_true (g_str_has_suffix (cut, "x…"));
  g_assert_cmpuint (g_utf8_strlen (strstr (cut, ": xx") + 2, -1), ==, 120);
}

static void
test_notice_json (void)
{
  g_autoptr(PfNotice) notice = pf_notice_new (T0, "dropped", "a", "b", "c", "d");
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(PfNotice) back = NULL;

  notice->count = 7;
  pf_notice_to_json (notice, builder);
  root = json_builder_get_root (builder);
  back = pf_notice_from_json (json_node_get_object (root));
  g_assert_nonnull (back);
  g_assert_cmpint (back->time_us, ==, T0);
  g_assert_cmpstr (back->kind, ==, "dropped");
  g_assert_cmpstr (back->uplink_from, ==, "a");
  g_assert_cmpstr (back->uplink_to, ==, "b");
  g_assert_cmpstr (back->reason, ==, "c");
  g_assert_cmpstr (back->text, ==, "d");
  g_assert_cmpuint (back->count, ==, 7);
}

static void
test_escape_redact (void)
{
  g_autofree char *html = pf_notifier_telegram_escape ("a <b> & \"c\" → d");
  g_autofree char *redacted = pf_notifier_redact ("POST /bot123:AB-c/send failed: 123%3AAB-c\nmore",
                                                  "123:AB-c");
  g_autofree char *plain = pf_notifier_redact ("nothing to hide", NULL);

  g_assert_cmpstr (html, ==, "a &lt;b&gt; &amp; \"c\" → d");
  g_assert_cmpstr (redacted, ==, "POST /bot[…]/send failed: […]");
  g_assert_cmpstr (plain, ==, "nothing to hide");
}

/* A scripted notifier: each send takes the next outcome of the script
 * (default: delivered) and completes from the main loop. */

typedef enum { OUTCOME_OK, OUTCOME_TEMPORARY, OUTCOME_REJECTED } Outcome;

typedef struct {
  Outcome outcome;
  guint   retry_after_s;
} Step;

#define TEST_TYPE_NOTIFIER (test_notifier_get_type ())
G_DECLARE_FINAL_TYPE (TestNotifier, test_notifier, TEST, NOTIFIER, PfNotifier)

struct _TestNotifier
{
  PfNotifier  parent_instance;
  GArray     *script;   /* Step, taken from the front */
  GPtrArray  *sent;     /* PfNotice copies, in order of sending */
  GArray     *when;     /* gint64 monotonic time of each send */
  GPtrArray  *texts;    /* the rendered messages */
};

G_DEFINE_FINAL_TYPE (TestNotifier, test_notifier, PF_TYPE_NOTIFIER)

static void
test_notifier_send_async (PfNotifier          *notifier,
                          const PfNotice      *notice,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  TestNotifier *self = TEST_NOTIFIER (notifier);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  gint64 now = g_get_monotonic_time ();
  Step step = { OUTCOME_OK, 0 };

  g_ptr_array_add (self->sent, pf_notice_copy (notice));
  g_ptr_array_add (self->texts, pf_notifier_render (notifier, notice));
  g_array_append_val (self->when, now);
  if (self->script->len > 0)
    {
      step = g_array_index (self->script, Step, 0);
      g_array_remove_index (self->script, 0);
    }
  switch (step.outcome)
    {
    case OUTCOME_OK:
      g_task_return_boolean (task, TRUE);
      break;
    case OUTCOME_TEMPORARY:
      pf_notifier_return_error (task, step.retry_after_s,
                                g_error_new_literal (PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_TEMPORARY,
                                                     "test: HTTP 502: Bad Gateway"));
      break;
    case OUTCOME_REJECTED:
    default:
      pf_notifier_return_error (task, 0,
                                g_error_new_literal (PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_REJECTED,
                                                     "test: HTTP 401: Unauthorized"));
      break;
    }
  g_object_unref (task);
}

static void
test_notifier_finalize (GObject *object)
{
  TestNotifier *self = TEST_NOTIFIER (object);

  g_array_unref (self->script);
  g_ptr_array_unref (self->sent);
  g_array_unref (self->when);
  g_ptr_array_unref (self->texts);
  G_OBJECT_CLASS (test_notifier_parent_class)->finalize (object);
}

static void
test_notifier_class_init (TestNotifierClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_notifier_finalize;
  PF_NOTIFIER_CLASS (klass)->kind = "test";
  PF_NOTIFIER_CLASS (klass)->send_async = test_notifier_send_async;
}

static void
test_notifier_init (TestNotifier *self)
{
  self->script = g_array_new (FALSE, FALSE, sizeof (Step));
  self->sent = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_notice_free);
  self->when = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->texts = g_ptr_array_new_with_free_func (g_free);
}

static void
script (TestNotifier *self,
        Outcome       outcome,
        guint         retry_after_s)
{
  Step step = { outcome, retry_after_s };

  g_array_append_val (self->script, step);
}

/* Settings */

typedef struct {
  char         *dir;
  char         *token_file;
  char         *queue_file;
  TestNotifier *n;     /* for the queue's tests */
  GString      *log;   /* what the queue said, in order */
} Fixture;

#define TOKEN "123456:SECRET-token_value"

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("pf-notify-XXXXXX", &error);
  g_assert_no_error (error);
  f->token_file = g_build_filename (f->dir, "token", NULL);
  f->queue_file = g_build_filename (f->dir, "sub", "queue.json", NULL);
  g_file_set_contents (f->token_file, "  " TOKEN "  \nsecond line\n", -1, &error);
  g_assert_no_error (error);
  f->n = g_object_new (TEST_TYPE_NOTIFIER, NULL);
  f->log = g_string_new (NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = g_path_get_dirname (f->queue_file);

  g_unlink (f->queue_file);
  g_unlink (f->token_file);
  g_rmdir (sub);
  g_rmdir (f->dir);
  g_free (f->queue_file);
  g_free (f->token_file);
  g_free (f->dir);
  g_object_unref (f->n);
  g_string_free (f->log, TRUE);
}

static GHashTable *
settings_new (const char *first_key,
              ...)
{
  GHashTable *settings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *key = first_key;
  va_list args;

  va_start (args, first_key);
  while (key != NULL)
    {
      g_hash_table_insert (settings, g_strdup (key), g_strdup (va_arg (args, const char *)));
      key = va_arg (args, const char *);
    }
  va_end (args);
  return settings;
}

static void
expect_config_error (const char *kind,
                     GHashTable *settings,
                     const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfNotifier) notifier = pf_notifier_new (kind, NULL, settings, &error);

  g_assert_null (notifier);
  g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, message);
  g_assert_null (strstr (error->message, "SECRET"));
  g_clear_pointer (&settings, g_hash_table_unref);
}

static void
test_settings (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) good = settings_new ("token-file", f->token_file, "chat-id", "-1001234",
                                             "topic-id", "42", "lang", "FR", "timeout", "3",
                                             NULL);
  g_autoptr(PfNotifier) telegram = pf_notifier_new ("telegram", "ops", good, &error);
  g_autofree char *bad_token = g_build_filename (f->dir, "bad-token", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *message = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (pf_notifier_get_kind (telegram), ==, "telegram");
  g_assert_cmpstr (pf_notifier_get_name (telegram), ==, "ops");
  g_assert_cmpint (pf_notifier_get_language (telegram), ==, PF_LANGUAGE_FR);
  g_assert_true (pf_notifier_kind_exists ("webhook"));
  g_assert_false (pf_notifier_kind_exists ("pigeon"));
  g_assert_cmpuint (g_strv_length ((char **) pf_notifier_list_kinds ()), ==, 2);

  expect_config_error ("pigeon", NULL, "unknown notifier kind “pigeon”");
  expect_config_error ("telegram", settings_new ("chat-id", "1", NULL), "token-file: missing");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, NULL), "chat-id: missing");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, "chat-id", "me", NULL),
                       "chat-id: neither a number nor @channel");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, "chat-id", "1",
                                                 "url", "http://x", NULL),
                       "url: not a setting of a telegram notifier");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, "chat-id", "1",
                                                 "api-url", "ftp://x", NULL),
                       "api-url: not an http or https URL");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, "chat-id", "1",
                                                 "lang", "de", NULL),
                       "lang: “de” is neither en nor fr");
  expect_config_error ("telegram", settings_new ("token-file", f->token_file, "chat-id", "1",
                                                 "timeout", "0", NULL),
                       "timeout: Number “0” is out of bounds [1, 600]");

  g_file_set_contents (bad_token, "123:SECRET/../x\n", -1, &error);
  g_assert_no_error (error);
  message = g_strdup_printf ("token-file: %s does not hold a bot token on its first line", bad_token);
  expect_config_error ("telegram", settings_new ("token-file", bad_token, "chat-id", "1", NULL), message);
  g_unlink (bad_token);
  g_clear_pointer (&message, g_free);
  message = g_strdup_printf ("ca-file: %s: ", missing);
  {
    g_autoptr(GHashTable) settings = settings_new ("url", "https://hooks.example/x", "ca-file", missing, NULL);
    g_autoptr(PfNotifier) none = pf_notifier_new ("webhook", NULL, settings, &error);

    g_assert_null (none);
    g_assert_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG);
    g_assert_true (g_str_has_prefix (error->message, message));
    g_clear_error (&error);
  }

  expect_config_error ("webhook", settings_new ("header", "X: y", NULL), "url: missing");
  expect_config_error ("webhook", settings_new ("url", "https://h.example/SECRET", "header", "Bearer SECRET", NULL),
                       "header: expected “Name: value” on one line");
  expect_config_error ("webhook", settings_new ("url", "not a url SECRET", NULL), "url: not an http or https URL");
}

static void
delivered_cb (PfNotifyQueue *queue, guint n, Fixture *f)
{
  g_string_append_printf (f->log, "delivered %u;", n);
}

static void
failed_cb (PfNotifyQueue *queue, const char *error, guint retry_ms, Fixture *f)
{
  g_string_append_printf (f->log, "failed %u;", retry_ms);
}

static void
dropped_cb (PfNotifyQueue *queue, guint n, const char *error, Fixture *f)
{
  g_string_append_printf (f->log, "dropped %u %s;", n, error);
}

static PfNotifyQueue *
queue_new (Fixture    *f,
           const char *path,
           guint       max,
           guint       rate,
           guint       minute_ms,
           guint       backoff_ms)
{
  PfNotifyQueuePolicy policy = { max, rate, minute_ms, backoff_ms, backoff_ms * 4 };
  PfNotifyQueue *queue = pf_notify_queue_new (PF_NOTIFIER (f->n), path, &policy);

  g_signal_connect (queue, "delivered", G_CALLBACK (delivered_cb), f);
  g_signal_connect (queue, "failed", G_CALLBACK (failed_cb), f);
  g_signal_connect (queue, "dropped", G_CALLBACK (dropped_cb), f);
  return queue;
}

/* µs between the notifier's sends @i - 1 and @i. */
static gint64
gap (TestNotifier *n,
     guint         i)
{
  return g_array_index (n->when, gint64, i) - g_array_index (n->when, gint64, i - 1);
}

static gboolean
timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Run the main loop until the queue is idle, or for @ms when @ms > 0. */
static void
run (PfNotifyQueue *queue,
     guint          ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (ms > 0 ? ms : 5000, timeout_cb, &expired);

  while (!expired && (ms > 0 || !pf_notify_queue_is_idle (queue)))
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_true (ms > 0 || pf_notify_queue_is_idle (queue));
}

static PfNotice *
notice (const char *kind,
        const char *from,
        const char *to)
{
  return pf_notice_new (g_get_real_time (), kind, from, to, "why", NULL);
}

static void
test_queue_single_and_burst (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  g_autoptr(PfNotifyQueue) q = queue_new (f, NULL, 100, 0, 60000, 50);

  pf_notify_queue_push (q, notice ("failover", "primary", "lte"));
  g_assert_cmpuint (n->sent->len, ==, 0);   /* not before the next iteration */
  run (q, 0);
  g_assert_cmpuint (n->sent->len, ==, 1);
  g_assert_cmpstr (((PfNotice *) n->sent->pdata[0])->kind, ==, "failover");

  /* Five in one iteration: one summary, in order. */
  pf_notify_queue_push (q, notice ("uplink-down", "primary", NULL));
  pf_notify_queue_push (q, notice ("failover", "primary", "lte"));
  pf_notify_queue_push (q, notice ("uplink-up", "primary", NULL));
  pf_notify_queue_push (q, notice ("failback", "lte", "primary"));
  pf_notify_queue_push (q, notice ("hook-failed", NULL, NULL));
  run (q, 0);
  g_assert_cmpuint (n->sent->len, ==, 2);
  g_assert_cmpstr (((PfNotice *) n->sent->pdata[1])->kind, ==, "summary");
  g_assert_true (g_str_has_prefix (n->texts->pdata[1], "📋 5 events "));
  g_assert_nonnull (strstr (n->texts->pdata[1], " uplink down primary: why\n• "));
  g_assert_true (strstr (n->texts->pdata[1], "uplink down") < strstr (n->texts->pdata[1], "failover") &&
                 strstr (n->texts->pdata[1], "failover") < strstr (n->texts->pdata[1], "uplink up") &&
                 strstr (n->texts->pdata[1], "uplink up") < strstr (n->texts->pdata[1], "failback") &&
                 strstr (n->texts->pdata[1], "failback") < strstr (n->texts->pdata[1], "hook failed"));
  g_assert_cmpstr (f->log->str, ==, "delivered 1;delivered 5;");
}

static void
test_queue_rate_limit (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  /* 4 a "minute" of 800 ms: one every 200 ms. */
  g_autoptr(PfNotifyQueue) q = queue_new (f, NULL, 100, 4, 800, 50);
  gint64 start = g_get_monotonic_time ();

  /* A flapping link: 20 notices over ~300 ms. */
  for (guint i = 0; i < 20; i++)
    {
      pf_notify_queue_push (q, notice (i % 2 ? "uplink-up" : "uplink-down", "primary", NULL));
      run (q, 15);
    }
  run (q, 0);
  g_assert_cmpuint (n->sent->len, >=, 2);
  g_assert_cmpuint (n->sent->len, <=, 3);
  /* Spaced by the rate, never closer. */
  for (guint i = 1; i < n->when->len; i++)
    g_assert_cmpint (gap (n, i), >=, 200 * 1000 - 2000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  /* Every notice went out, once. */
  {
    guint total = 0;

    for (guint i = 0; i < n->texts->len; i++)
      {
        const char *text = n->texts->pdata[i];
        const char *p = text;

        if (!g_str_has_prefix (text, "📋"))
          total++;
        while ((p = strstr (p, "\n• ")) != NULL)
          total++, p++;
      }
    g_assert_cmpuint (total, ==, 20);
  }
}

static void
test_queue_backoff (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  g_autoptr(PfNotifyQueue) q = queue_new (f, NULL, 100, 0, 60000, 40);

  script (n, OUTCOME_TEMPORARY, 0);
  script (n, OUTCOME_TEMPORARY, 0);
  script (n, OUTCOME_TEMPORARY, 0);
  pf_notify_queue_push (q, notice ("failover", "primary", "lte"));
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "test: test: HTTP 502: Bad Gateway; retrying in 40 ms (1 notice waiting)");
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "*retrying in 80 ms*");
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "*retrying in 160 ms*");
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_MESSAGE, "test: delivered 1 queued notice after 3 failed attempts");
  run (q, 0);
  g_test_assert_expected_messages ();
  /* 40, 80, 160 (the maximum) ms between attempts. */
  g_assert_cmpuint (n->when->len, ==, 4);
  g_assert_cmpint (gap (n, 1), >=, 40000);
  g_assert_cmpint (gap (n, 2), >=, 80000);
  g_assert_cmpint (gap (n, 3), >=, 160000);
  g_assert_cmpstr (f->log->str, ==, "failed 40;failed 80;failed 160;delivered 1;");
}

static void
test_queue_retry_after_and_kick (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  g_autoptr(PfNotifyQueue) q = queue_new (f, NULL, 100, 0, 60000, 20);

  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "*retrying in 1 s*");
  script (n, OUTCOME_TEMPORARY, 1);
  pf_notify_queue_push (q, notice ("failover", "primary", "lte"));
  run (q, 100);
  /* A kick does not override what the service asked for. */
  pf_notify_queue_kick (q);
  run (q, 100);
  g_assert_cmpuint (n->when->len, ==, 1);
  run (q, 0);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (n->when->len, ==, 2);
  g_assert_cmpint (gap (n, 1), >=, G_USEC_PER_SEC);

  /* A kick forgets a long backoff. */
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "*retrying in*");
  {
    g_autoptr(PfNotifyQueue) slow = queue_new (f, NULL, 100, 0, 60000, 60000);

    script (n, OUTCOME_TEMPORARY, 0);
    pf_notify_queue_push (slow, notice ("switch", "a", "b"));
    run (slow, 100);
    g_assert_cmpuint (n->when->len, ==, 3);
    pf_notify_queue_kick (slow);
    run (slow, 0);
    g_assert_cmpuint (n->when->len, ==, 4);
  }
  g_test_assert_expected_messages ();
}

static void
test_queue_rejected (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  g_autoptr(PfNotifyQueue) q = queue_new (f, NULL, 100, 0, 60000, 20);

  script (n, OUTCOME_REJECTED, 0);
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING,
                         "test: test: HTTP 401: Unauthorized; 1 notice dropped");
  pf_notify_queue_push (q, notice ("failover", "primary", "lte"));
  run (q, 0);
  run (q, 100);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (n->when->len, ==, 1);   /* not retried */
  pf_notify_queue_push (q, notice ("failback", "lte", "primary"));
  run (q, 0);
  g_assert_cmpstr (f->log->str, ==, "dropped 1 test: HTTP 401: Unauthorized;delivered 1;");
}

static void
test_queue_bound_and_file (Fixture *f, gconstpointer data)
{
  TestNotifier *n = f->n;
  g_autoptr(PfNotifyQueue) q = NULL;
  g_autofree char *contents = NULL;
  PfNotice *summary;

  /* Every attempt fails, with a backoff longer than the test. */
  for (guint i = 0; i < 10; i++)
    script (n, OUTCOME_TEMPORARY, 0);
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "*retrying in 60 s*");
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING, "test: queue full (5 notices): dropping the oldest");
  q = queue_new (f, f->queue_file, 5, 0, 60000, 60000);
  for (guint i = 1; i <= 8; i++)
    {
      g_autofree char *reason = g_strdup_printf ("event %u", i);

      pf_notify_queue_push (q, pf_notice_new (T0 + i * SEC, "uplink-down", "primary", NULL, reason, NULL));
      run (q, 5);
    }
  g_test_assert_expected_messages ();
  g_assert_cmpuint (pf_notify_queue_get_length (q), ==, 5);
  g_assert_cmpuint (n->when->len, ==, 1);
  g_assert_true (g_file_get_contents (f->queue_file, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "\"event 8\""));
  g_assert_null (strstr (contents, "\"event 4\""));
  g_clear_object (&q);

  /* A new queue on the same file, and sending works again. */
  g_array_set_size (n->script, 0);
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_MESSAGE, "test: 5 notices waiting from before");
  q = queue_new (f, f->queue_file, 5, 0, 60000, 60000);
  g_test_assert_expected_messages ();
  run (q, 0);
  g_assert_cmpuint (n->when->len, ==, 2);
  summary = n->sent->pdata[1];
  g_assert_cmpstr (summary->kind, ==, "summary");
  g_assert_nonnull (strstr (summary->text, "📋 4 events "));
  g_assert_nonnull (strstr (summary->text, "\n• 4 older notices dropped (queue full)\n• "));
  g_assert_nonnull (strstr (summary->text, "primary: event 5\n• "));
  g_assert_true (g_str_has_suffix (summary->text, "primary: event 8"));
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (f->queue_file, &contents, NULL, NULL));
  g_assert_null (strstr (contents, "event"));
  g_assert_cmpstr (f->log->str, ==, "failed 60000;dropped 2 queue full;dropped 1 queue full;"
                                   "dropped 1 queue full;delivered 5;");
}

static void
test_queue_corrupt_file (Fixture *f, gconstpointer data)
{
  g_autoptr(PfNotifyQueue) q = NULL;
  g_autofree char *sub = g_path_get_dirname (f->queue_file);
  g_autoptr(GError) error = NULL;

  g_mkdir_with_parents (sub, 0755);
  g_file_set_contents (f->queue_file, "{\"format\": 99}", -1, &error);
  g_assert_no_error (error);
  g_test_expect_message ("pvefailover-notify", G_LOG_LEVEL_WARNING,
                         "*queue.json: unknown format; starting with an empty queue");
  q = queue_new (f, f->queue_file, 10, 0, 60000, 60000);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (pf_notify_queue_get_length (q), ==, 0);
}

int
main (int argc, char *argv[])
{
  g_setenv ("TZ", "UTC", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/notify/render/failover", test_render_failover);
  g_test_add_func ("/notify/render/kinds", test_render_kinds);
  g_test_add_func ("/notify/render/delayed", test_render_delayed);
  g_test_add_func ("/notify/render/timezone", test_render_timezone);
  g_test_add_func ("/notify/render/dropped", test_render_dropped);
  g_test_add_func ("/notify/render/summary", test_render_summary);
  g_test_add_func ("/notify/notice/json", test_notice_json);
  g_test_add_func ("/notify/escape-redact", test_escape_redact);
  g_test_add ("/notify/settings", Fixture, NULL, fixture_set_up, test_settings, fixture_tear_down);
  g_test_add ("/notify/queue/single-and-burst", Fixture, NULL, fixture_set_up, test_queue_single_and_burst, fixture_tear_down);
  g_test_add ("/notify/queue/rate-limit", Fixture, NULL, fixture_set_up, test_queue_rate_limit, fixture_tear_down);
  g_test_add ("/notify/queue/backoff", Fixture, NULL, fixture_set_up, test_queue_backoff, fixture_tear_down);
  g_test_add ("/notify/queue/retry-after-and-kick", Fixture, NULL, fixture_set_up, test_queue_retry_after_and_kick, fixture_tear_down);
  g_test_add ("/notify/queue/rejected", Fixture, NULL, fixture_set_up, test_queue_rejected, fixture_tear_down);
  g_test_add ("/notify/queue/bound-and-file", Fixture, NULL, fixture_set_up,
              test_queue_bound_and_file, fixture_tear_down);
  g_test_add ("/notify/queue/corrupt-file", Fixture, NULL, fixture_set_up,
              test_queue_corrupt_file, fixture_tear_down);
  return g_test_run ();
}
