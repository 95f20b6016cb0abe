/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Notifications of the daemon's events. A notice says what happened and
 * when; it is rendered as a short message in the configured language
 * (English or French, from a table in pf-notifier.c: a Proxmox host has no
 * installed locales for gettext). Notifiers deliver one message per call:
 * subclasses of the abstract PfNotifier, listed in one table by kind name —
 * "telegram" (pf-notifier-telegram.c, the Bot API) and "webhook"
 * (pf-notifier-webhook.c, a JSON POST). Queueing, retries, the rate limit
 * and coalescing are pf-notify-queue.c's business, not the notifiers'.
 *
 * Settings (the keys of the configuration group, values as strings), common
 * to every kind:
 *   lang=en|fr        the messages' language (default en)
 *   timeout=S         each request's deadline in seconds (default 15)
 *   ca-file=PATH      trust only the CAs in this PEM file (a self-hosted
 *                     service with a private CA) instead of the system's
 * Secrets (the bot token, a webhook's header) never appear in logs, errors or
 * anything returned.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Notices */

typedef struct {
  gint64  time_us;      /* when it happened: wall clock, µs since the epoch */
  char   *kind;         /* failover, failback, switch, uplink-down, uplink-up, error, alert,
                         * usage, hook-failed, mode, reload, test; the queue makes "summary"
                         * (text is the whole message) and "dropped" (count notices lost) */
  char   *uplink_from;  /* never NULL: "" when none */
  char   *uplink_to;
  char   *reason;
  char   *text;         /* free text: an alert's or a usage report's words */
  guint   count;        /* "dropped": how many notices; 0 otherwise */
} PfNotice;

PfNotice *pf_notice_new  (gint64      time_us,
                          const char *kind,
                          const char *uplink_from,
                          const char *uplink_to,
                          const char *reason,
                          const char *text);
PfNotice *pf_notice_copy (const PfNotice *notice);
void      pf_notice_free (PfNotice *notice);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNotice, pf_notice_free)

/* One object {time, kind, from, to, reason, text[, count]} for the queue's
 * file; from_json gives NULL for an object without a kind. */
void      pf_notice_to_json   (const PfNotice *notice,
                               JsonBuilder    *builder);
PfNotice *pf_notice_from_json (JsonObject     *object);

typedef enum {
  PF_LANGUAGE_EN,
  PF_LANGUAGE_FR,
} PfLanguage;

/* "en", "fr" (case does not matter). */
gboolean    pf_language_from_string (const char *text,
                                     PfLanguage *lang);
const char *pf_language_to_string   (PfLanguage  lang);

/* A notice sent more than this long after it happened says when it happened. */
#define PF_NOTICE_DELAYED_US (60 * G_USEC_PER_SEC)
/* At most this many notices are listed in one summary message. */
#define PF_NOTICE_SUMMARY_MAX 20

/* The message for one notice, plain text (UTF-8, lines separated by "\n"):
 *   "⚠️ Failover: primary → lte\nprimary down: 5/5 rounds lost"
 *   "⚠️ Bascule : primary → lte\nprimary down: 5/5 rounds lost"
 * When @now_us is more than PF_NOTICE_DELAYED_US after the notice's time, the
 * first line ends with when it happened in @tz: " (at 14:03:12)",
 * " (à 14:03:12)", with the date when that is another day than @now_us's.
 * @now_us 0: never delayed. A "summary" notice renders as its text. */
char *pf_notice_render         (const PfNotice *notice,
                                PfLanguage      lang,
                                GTimeZone      *tz,
                                gint64          now_us);
/* One message for @n notices (oldest first, at most PF_NOTICE_SUMMARY_MAX
 * are expected):
 *   "📋 5 events from 14:03:01 to 14:04:10:\n• 14:03:01 failover primary → lte: …\n• …"
 * Times carry the date when they are not on @now_us's day. */
char *pf_notice_render_summary (PfNotice *const *notices,
                                guint            n,
                                PfLanguage       lang,
                                GTimeZone       *tz,
                                gint64           now_us);

/* Notifiers */

#define PF_NOTIFIER_ERROR (pf_notifier_error_quark ())
GQuark pf_notifier_error_quark (void);

typedef enum {
  /* Worth trying again later: no connection, timeout, TLS, HTTP 408, 429, 5xx. */
  PF_NOTIFIER_ERROR_TEMPORARY,
  /* The service refused this message for good (HTTP 400, 401, 403, 404, …):
   * sending it again would only fail again. */
  PF_NOTIFIER_ERROR_REJECTED,
} PfNotifierError;

#define PF_NOTIFIER_DEFAULT_TIMEOUT_S 15

#define PF_TYPE_NOTIFIER (pf_notifier_get_type ())
G_DECLARE_DERIVABLE_TYPE (PfNotifier, pf_notifier, PF, NOTIFIER, GObject)

struct _PfNotifierClass
{
  GObjectClass parent_class;

  /* The kind's name, set in class_init: "telegram", "webhook". */
  const char         *kind;
  /* How errors name the service: "Telegram", "webhook". */
  const char         *label;
  /* The settings the kind accepts besides the common ones, NULL-terminated. */
  const char * const *keys;

  /* Read the kind's settings (only its own keys and the common ones are in
   * @settings); PF_ERROR_INVALID_CONFIG naming the key when one is wrong. */
  gboolean (*setup)       (PfNotifier     *self,
                           GHashTable     *settings,
                           GError        **error);
  /* Deliver one message for @notice (render it with pf_notifier_render();
   * @notice is only valid during the call). Finish a GTask made with the
   * notifier as its source: g_task_return_boolean() or
   * pf_notifier_return_error(), which keeps the task's data for itself. */
  void     (*send_async)  (PfNotifier          *self,
                           const PfNotice      *notice,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data);
  /* The default reads that GTask. */
  gboolean (*send_finish) (PfNotifier     *self,
                           GAsyncResult   *result,
                           guint          *retry_after_s,
                           GError        **error);
};

/* The kinds in the table, NULL-terminated: "telegram", "webhook". */
const char * const *pf_notifier_list_kinds  (void);
gboolean            pf_notifier_kind_exists (const char *kind);

/* A notifier of @kind from @settings (key → value, both strings; NULL for
 * none). @name names it in logs ("telegram", "notify ops"; NULL: the kind).
 * An unknown kind or key, a missing or invalid value, an unreadable token or
 * CA file: NULL and PF_ERROR_INVALID_CONFIG, never quoting a secret. */
PfNotifier *pf_notifier_new (const char  *kind,
                             const char  *name,
                             GHashTable  *settings,
                             GError     **error);

const char *pf_notifier_get_kind     (PfNotifier *self);
const char *pf_notifier_get_name     (PfNotifier *self);
PfLanguage  pf_notifier_get_language (PfNotifier *self);
GTimeZone  *pf_notifier_get_timezone (PfNotifier *self);

/* The notice's message in the notifier's language and time zone, delayed
 * against the wall clock now. */
char       *pf_notifier_render       (PfNotifier     *self,
                                      const PfNotice *notice);

/* Deliver one message. Fails with PF_NOTIFIER_ERROR (the message names the
 * kind and the reason: "Telegram: HTTP 401: Unauthorized", "webhook: timeout
 * after 15 s") or G_IO_ERROR_CANCELLED. @retry_after_s (may be NULL) is set
 * to the delay the service asked for before the next attempt (Telegram's
 * retry_after on HTTP 429), 0 when it asked for none. */
void        pf_notifier_send_async   (PfNotifier          *self,
                                      const PfNotice      *notice,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
gboolean    pf_notifier_send_finish  (PfNotifier    *self,
                                      GAsyncResult  *result,
                                      guint         *retry_after_s,
                                      GError       **error);

/* Close every connection (a request in flight fails): after a change of
 * uplink the idle ones lead nowhere. The queue calls it only when it has no
 * request in flight. */
void        pf_notifier_close_connections (PfNotifier *self);

/* For subclasses */

/* POST @body to @url with the notifier's session, deadline and CA,
 * adding the header @header_name: @header_value when not NULL. Transport
 * errors are PF_NOTIFIER_ERROR_TEMPORARY, named by the class's label:
 * "Telegram: timeout after 15 s", "webhook: Unacceptable TLS certificate
 * (unknown CA)", with @secret, when not NULL, replaced by "[…]". */
void        pf_notifier_post_async   (PfNotifier          *self,
                                      const char          *url,
                                      JsonNode            *body,
                                      const char          *header_name,
                                      const char          *header_value,
                                      const char          *secret,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
/* The answer's body (never NULL on success), its status and reason phrase. */
GBytes     *pf_notifier_post_finish  (PfNotifier    *self,
                                      GAsyncResult  *result,
                                      guint         *status,
                                      char         **reason_phrase,
                                      GError       **error);

/* Whether a failed HTTP status is worth another try: 408, 425, 429, 5xx.
 * Any other status outside 2xx is a rejection. */
gboolean    pf_notifier_status_is_temporary (guint status);

/* "LABEL: HTTP @status: @description" (@description NULL or "": the
 * status's usual phrase), PF_NOTIFIER_ERROR_TEMPORARY or _REJECTED as the
 * status says. */
GError     *pf_notifier_http_error   (PfNotifier *self,
                                      guint       status,
                                      const char *description);

/* Finish a send task with @error, noting the service's @retry_after_s. */
void        pf_notifier_return_error (GTask  *task,
                                      guint   retry_after_s,
                                      GError *error);

/* A copy of @text with every occurrence of @secret (when not NULL or "")
 * replaced by "[…]", cut at the first line break and made valid UTF-8. */
char       *pf_notifier_redact       (const char *text,
                                      const char *secret);

/* A setting that must be an http or https URL: FALSE and
 * PF_ERROR_INVALID_CONFIG "KEY: …" (never quoting the URL: a webhook's may
 * hold a secret) otherwise. Absent: @value unchanged, an error if @required.
 * The URL is stored without trailing slashes. */
gboolean    pf_notifier_setting_url  (GHashTable  *settings,
                                      const char  *key,
                                      gboolean     required,
                                      char       **value,
                                      GError     **error);

/* A setting that must be a whole number in [min, max]: FALSE and
 * PF_ERROR_INVALID_CONFIG "KEY: …" otherwise. Absent: @value unchanged. */
gboolean    pf_notifier_setting_uint (GHashTable  *settings,
                                      const char  *key,
                                      guint64      min,
                                      guint64      max,
                                      guint64     *value,
                                      GError     **error);

G_END_DECLS
