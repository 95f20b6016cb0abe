/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Notices, their messages in English and French (one table of templates per
 * kind, one of phrases per language), and the abstract notifier: the kinds'
 * table, the common settings, and the one HTTP POST every kind is made of,
 * with its deadline, its CA and its secrets kept out of the errors.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-notify"

#include "pf-notifier.h"

#include <string.h>

#include <libsoup/soup.h>

#include "pf-error.h"
#include "pf-state.h"
#include "pf-notifier-telegram.h"
#include "pf-notifier-webhook.h"

#define N_LANGUAGES       2
#define DETAIL_MAX_CHARS  120
#define REDACTED          "[…]"

G_DEFINE_QUARK (pf-notifier-error-quark, pf_notifier_error)

/* Notices */

PfNotice *
pf_notice_new (gint64      time_us,
               const char *kind,
               const char *uplink_from,
               const char *uplink_to,
               const char *reason,
               const char *text)
{
  PfNotice *notice;

  g_return_val_if_fail (kind != NULL, NULL);

  notice = g_new0 (PfNotice, 1);
  notice->time_us = time_us;
  notice->kind = g_strdup (kind);
  notice->uplink_from = g_strdup (uplink_from ? uplink_from : "");
  notice->uplink_to = g_strdup (uplink_to ? uplink_to : "");
  notice->reason = g_strdup (reason ? reason : "");
  notice->text = g_strdup (text ? text : "");
  return notice;
}

PfNotice *
pf_notice_copy (const PfNotice *notice)
{
  PfNotice *copy = pf_notice_new (notice->time_us, notice->kind, notice->uplink_from,
                                  notice->uplink_to, notice->reason, notice->text);

  copy->count = notice->count;
  return copy;
}

void
pf_notice_free (PfNotice *notice)
{
  if (notice == NULL)
    return;
  g_free (notice->kind);
  g_free (notice->uplink_from);
  g_free (notice->uplink_to);
  g_free (notice->reason);
  g_free (notice->text);
  g_free (notice);
}

static void
add_member (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

void
pf_notice_to_json (const PfNotice *notice,
                   JsonBuilder    *builder)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "time");
  json_builder_add_int_value (builder, notice->time_us);
  add_member (builder, "kind", notice->kind);
  add_member (builder, "from", notice->uplink_from);
  add_member (builder, "to", notice->uplink_to);
  add_member (builder, "reason", notice->reason);
  add_member (builder, "text", notice->text);
  if (notice->count > 0)
    {
      json_builder_set_member_name (builder, "count");
      json_builder_add_int_value (builder, notice->count);
    }
  json_builder_end_object (builder);
}


PfNotice *
pf_notice_from_json (JsonObject *object)
{
  PfNotice *notice;
  const char *kind = pf_json_member_string (object, "kind");

  if (kind == NULL || *kind == '\0')
    return NULL;
  notice = pf_notice_new (pf_json_member_int (object, "time"), kind,
                          pf_json_member_string (object, "from"), pf_json_member_string (object, "to"),
                          pf_json_member_string (object, "reason"), pf_json_member_string (object, "text"));
  notice->count = (guint) CLAMP (pf_json_member_int (object, "count"), 0, G_MAXUINT);
  return notice;
}

gboolean
pf_language_from_string (const char *text,
                         PfLanguage *lang)
{
  if (g_ascii_strcasecmp (text, "en") == 0)
    *lang = PF_LANGUAGE_EN;
  else if (g_ascii_strcasecmp (text, "fr") == 0)
    *lang = PF_LANGUAGE_FR;
  else
    return FALSE;
  return TRUE;
}

const char *
pf_language_to_string (PfLanguage lang)
{
  return lang == PF_LANGUAGE_FR ? "fr" : "en";
}

/* Messages */

typedef struct {
  const char *kind;
  const char *emoji;
  const char *title[N_LANGUAGES];   /* a message's first words */
  const char *label[N_LANGUAGES];   /* a line of a summary */
} Template;

static const Template templates[] = {
  { "failover",    "⚠️", { "Failover", "Bascule" },               { "failover", "bascule" } },
  { "failback",    "✅", { "Failback", "Retour" },                { "failback", "retour" } },
  { "switch",      "🔀", { "Switch", "Changement de lien" },      { "switch", "changement de lien" } },
  { "uplink-down", "🔻", { "Uplink down", "Lien coupé" },         { "uplink down", "lien coupé" } },
  { "uplink-up",   "🔺", { "Uplink up", "Lien rétabli" },         { "uplink up", "lien rétabli" } },
  { "error",       "❌", { "Error", "Erreur" },                   { "error", "erreur" } },
  { "alert",       "🚨", { "Alert", "Alerte" },                   { "alert", "alerte" } },
  { "remote-down", "🔒", { "Remote access down", "Accès distant coupé" },
                         { "remote access down", "accès distant coupé" } },
  { "remote-up",   "🔓", { "Remote access up", "Accès distant rétabli" },
                         { "remote access up", "accès distant rétabli" } },
  { "remote-repinned", "🔁", { "Remote access moved to the new path", "Accès distant passé sur le nouveau lien" },
                         { "remote access moved", "accès distant déplacé" } },
  { "usage",       "📊", { "Data usage", "Consommation de données" }, { "data usage", "consommation" } },
  { "hook-failed", "⚙️", { "Hook failed", "Échec d'un hook" },    { "hook failed", "échec d'un hook" } },
  { "mode",        "🛠️", { "Mode", "Mode" },                      { "mode", "mode" } },
  { "reload",      "🔄", { "Configuration reloaded", "Configuration rechargée" },
                         { "configuration reloaded", "configuration rechargée" } },
  { "test",        "🔔", { "Test notification", "Notification de test" }, { "test", "test" } },
};

/* The words around the values, per language. */
typedef struct {
  const char *colon;           /* after a title, before what it is about */
  const char *colon_end;       /* at the end of a summary's first line */
  const char *at;              /* before a time */
  const char *on;              /* before a date */
  const char *date_format;     /* g_date_time_format() */
  const char *event_one;
  const char *event_many;
  const char *from;            /* a summary's range */
  const char *to;
  const char *dropped_one;
  const char *dropped_many;
} Phrases;

static const Phrases phrases[N_LANGUAGES] = {
  [PF_LANGUAGE_EN] = {
    .colon = ": ", .colon_end = ":", .at = "at ", .on = "on ", .date_format = "%Y-%m-%d",
    .event_one = "event", .event_many = "events", .from = "from ", .to = " to ",
    .dropped_one = "older notice dropped (queue full)",
    .dropped_many = "older notices dropped (queue full)",
  },
  [PF_LANGUAGE_FR] = {
    .colon = " : ", .colon_end = " :", .at = "à ", .on = "le ", .date_format = "%d/%m/%Y",
    .event_one = "événement", .event_many = "événements", .from = "de ", .to = " à ",
    .dropped_one = "notification plus ancienne perdue (file pleine)",
    .dropped_many = "notifications plus anciennes perdues (file pleine)",
  },
};

static const Template *
find_template (const char *kind)
{
  for (gsize i = 0; i < G_N_ELEMENTS (templates); i++)
    if (g_strcmp0 (templates[i].kind, kind) == 0)
      return &templates[i];
  return NULL;
}

static gboolean
plural (PfLanguage lang,
        guint      n)
{
  /* French: zero and one are singular. */
  return lang == PF_LANGUAGE_FR ? n > 1 : n != 1;
}

static GDateTime *
local_time (gint64     time_us,
            GTimeZone *tz)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);

  if (utc == NULL)
    utc = g_date_time_new_from_unix_utc (0);
  return g_date_time_to_timezone (utc, tz);
}

/* Whether @time_us falls on another day than @now_us (never when now is 0). */
static gboolean
another_day (gint64     time_us,
             GTimeZone *tz,
             gint64     now_us)
{
  g_autoptr(GDateTime) when = local_time (time_us, tz);
  g_autoptr(GDateTime) now = NULL;
  int y1, m1, d1, y2, m2, d2;

  if (now_us == 0)
    return FALSE;
  now = local_time (now_us, tz);
  g_date_time_get_ymd (when, &y1, &m1, &d1);
  g_date_time_get_ymd (now, &y2, &m2, &d2);
  return y1 != y2 || m1 != m2 || d1 != d2;
}

/* The clock time of @time_us in @tz, and its date in @lang's format when
 * it is another day than @now_us's (else NULL). */
static char *
format_clock (gint64      time_us,
              PfLanguage  lang,
              GTimeZone  *tz,
              gint64      now_us,
              char      **date)
{
  g_autoptr(GDateTime) when = local_time (time_us, tz);

  *date = another_day (time_us, tz, now_us) ? g_date_time_format (when, phrases[lang].date_format)
                                            : NULL;
  return g_date_time_format (when, "%H:%M:%S");
}

/* "14:03:12", or with the date when another day: "2024-05-01 14:03:12". */
static char *
time_text (gint64      time_us,
           PfLanguage  lang,
           GTimeZone  *tz,
           gint64      now_us)
{
  g_autofree char *date = NULL;
  g_autofree char *clock = format_clock (time_us, lang, tz, now_us, &date);

  return date != NULL ? g_strdup_printf ("%s %s", date, clock) : g_steal_pointer (&clock);
}

/* " (at 14:03:12)", " (on 2024-05-01 at 14:03:12)". */
static void
append_when (GString    *out,
             gint64      time_us,
             PfLanguage  lang,
             GTimeZone  *tz,
             gint64      now_us)
{
  g_autofree char *date = NULL;
  g_autofree char *clock = format_clock (time_us, lang, tz, now_us, &date);

  g_string_append (out, " (");
  if (date != NULL)
    g_string_append_printf (out, "%s%s ", phrases[lang].on, date);
  g_string_append_printf (out, "%s%s)", phrases[lang].at, clock);
}

/* "primary → lte", or the one uplink named. */
static void
append_route (GString        *out,
              const PfNotice *notice)
{
  const char *from = notice->uplink_from;
  const char *to = notice->uplink_to;

  if (*from != '\0' && *to != '\0')
    g_string_append_printf (out, "%s → %s", from, to);
  else
    g_string_append (out, *from != '\0' ? from : to);
}

static void
append_dropped (GString        *out,
                const PfNotice *notice,
                PfLanguage      lang)
{
  g_string_append_printf (out, "%u %s", notice->count,
                          plural (lang, notice->count) ? phrases[lang].dropped_many
                                                       : phrases[lang].dropped_one);
}

char *
pf_notice_render (const PfNotice *notice,
                  PfLanguage      lang,
                  GTimeZone      *tz,
                  gint64          now_us)
{
  const Template *tpl;
  GString *out;

  g_return_val_if_fail (notice != NULL, NULL);
  g_return_val_if_fail (tz != NULL, NULL);
  g_return_val_if_fail (lang < N_LANGUAGES, NULL);

  if (g_str_equal (notice->kind, "summary"))
    return g_strdup (notice->text);

  out = g_string_new (NULL);
  if (g_str_equal (notice->kind, "dropped"))
    {
      g_string_append (out, "⚠️ ");
      append_dropped (out, notice, lang);
      return g_string_free (out, FALSE);
    }

  tpl = find_template (notice->kind);
  g_string_append_printf (out, "%s %s", tpl ? tpl->emoji : "ℹ️",
                          tpl ? tpl->title[lang] : notice->kind);
  if (*notice->uplink_from != '\0' || *notice->uplink_to != '\0')
    {
      g_string_append (out, phrases[lang].colon);
      append_route (out, notice);
    }
  if (now_us != 0 && now_us - notice->time_us > PF_NOTICE_DELAYED_US)
    append_when (out, notice->time_us, lang, tz, now_us);
  if (*notice->reason != '\0')
    g_string_append_printf (out, "\n%s", notice->reason);
  if (*notice->text != '\0')
    g_string_append_printf (out, "\n%s", notice->text);
  return g_string_free (out, FALSE);
}

/* A summary's line: its first line of detail, kept short. */
static void
append_detail (GString    *out,
               const char *detail,
               PfLanguage  lang)
{
  gsize len = strcspn (detail, "\r\n");
  g_autofree char *line = g_utf8_make_valid (detail, len);

  gboolean cut;

  if (*line == '\0')
    return;
  cut = g_utf8_strlen (line, -1) > DETAIL_MAX_CHARS;
  if (cut)
    *g_utf8_offset_to_pointer (line, DETAIL_MAX_CHARS - 1) = '\0';
  g_string_append_printf (out, "%s%s%s", phrases[lang].colon, line, cut ? "…" : "");
}

static void
append_summary_line (GString        *out,
                     const PfNotice *notice,
                     PfLanguage      lang,
                     GTimeZone      *tz,
                     gint64          now_us)
{
  const Template *tpl;
  g_autofree char *when = NULL;

  g_string_append (out, "\n• ");
  if (g_str_equal (notice->kind, "dropped"))
    {
      append_dropped (out, notice, lang);
      return;
    }
  tpl = find_template (notice->kind);
  when = time_text (notice->time_us, lang, tz, now_us);
  g_string_append_printf (out, "%s %s", when, tpl ? tpl->label[lang] : notice->kind);
  if (*notice->uplink_from != '\0' || *notice->uplink_to != '\0')
    {
      g_string_append_c (out, ' ');
      append_route (out, notice);
    }
  append_detail (out, *notice->reason != '\0' ? notice->reason : notice->text, lang);
}

char *
pf_notice_render_summary (PfNotice *const *notices,
                          guint            n,
                          PfLanguage       lang,
                          GTimeZone       *tz,
                          gint64           now_us)
{
  GString *out = g_string_new ("📋 ");
  g_autofree char *first = NULL;
  g_autofree char *last = NULL;
  gint64 first_us = 0, last_us = 0;
  guint events = 0;

  g_return_val_if_fail (notices != NULL || n == 0, NULL);
  g_return_val_if_fail (tz != NULL, NULL);
  g_return_val_if_fail (lang < N_LANGUAGES, NULL);

  /* The range covers the events; a "dropped" line is no event. */
  for (guint i = 0; i < n; i++)
    {
      if (g_str_equal (notices[i]->kind, "dropped"))
        continue;
      if (events++ == 0)
        first_us = notices[i]->time_us;
      last_us = notices[i]->time_us;
    }

  g_string_append_printf (out, "%u %s", events,
                          plural (lang, events) ? phrases[lang].event_many : phrases[lang].event_one);
  if (events > 0)
    {
      first = time_text (first_us, lang, tz, now_us);
      last = time_text (last_us, lang, tz, now_us);
      if (g_str_equal (first, last))
        g_string_append_printf (out, " %s%s", phrases[lang].at, first);
      else
        g_string_append_printf (out, " %s%s%s%s", phrases[lang].from, first, phrases[lang].to, last);
    }
  g_string_append (out, phrases[lang].colon_end);

  for (guint i = 0; i < n; i++)
    append_summary_line (out, notices[i], lang, tz, now_us);
  return g_string_free (out, FALSE);
}

/* Notifiers */

typedef struct
{
  char        *name;
  PfLanguage   lang;
  GTimeZone   *tz;
  guint        timeout_s;
  SoupSession *session;
} PfNotifierPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (PfNotifier, pf_notifier, G_TYPE_OBJECT)

/* The kinds. */
static const struct {
  const char *kind;
  GType     (*get_type) (void);
} notifier_kinds[] = {
  { "telegram", pf_notifier_telegram_get_type },
  { "webhook",  pf_notifier_webhook_get_type },
};

static const char * const common_keys[] = { "lang", "timeout", "ca-file", NULL };

const char * const *
pf_notifier_list_kinds (void)
{
  static const char *kinds[G_N_ELEMENTS (notifier_kinds) + 1];

  for (gsize i = 0; i < G_N_ELEMENTS (notifier_kinds); i++)
    kinds[i] = notifier_kinds[i].kind;
  return kinds;
}

static GType
kind_type (const char *kind)
{
  for (gsize i = 0; i < G_N_ELEMENTS (notifier_kinds); i++)
    if (g_strcmp0 (notifier_kinds[i].kind, kind) == 0)
      return notifier_kinds[i].get_type ();
  return G_TYPE_INVALID;
}

gboolean
pf_notifier_kind_exists (const char *kind)
{
  return kind_type (kind) != G_TYPE_INVALID;
}

gboolean
pf_notifier_setting_uint (GHashTable  *settings,
                          const char  *key,
                          guint64      min,
                          guint64      max,
                          guint64     *value,
                          GError     **error)
{
  const char *text = g_hash_table_lookup (settings, key);
  g_autoptr(GError) local_error = NULL;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, value, &local_error))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "%s: %s", key, local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
pf_notifier_setting_url (GHashTable  *settings,
                         const char  *key,
                         gboolean     required,
                         char       **value,
                         GError     **error)
{
  const char *text = g_hash_table_lookup (settings, key);
  g_autoptr(GUri) uri = NULL;
  gsize len;

  if (text == NULL)
    {
      if (required)
        g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "%s: missing", key);
      return !required;
    }
  uri = g_uri_parse (text, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
       g_strcmp0 (g_uri_get_scheme (uri), "https") != 0))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "%s: not an http or https URL", key);
      return FALSE;
    }
  len = strlen (text);
  while (len > 0 && text[len - 1] == '/')
    len--;
  g_free (*value);
  *value = g_strndup (text, len);
  return TRUE;
}

static gboolean
check_keys (PfNotifierClass  *klass,
            GHashTable       *settings,
            GError          **error)
{
  GHashTableIter iter;
  const char *key;

  g_hash_table_iter_init (&iter, settings);
  while (g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    if (!g_strv_contains (common_keys, key) &&
        (klass->keys == NULL || !g_strv_contains (klass->keys, key)))
      {
        g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                     "%s: not a setting of a %s notifier", key, klass->kind);
        return FALSE;
      }
  return TRUE;
}

static gboolean
setup_common (PfNotifier  *self,
              GHashTable  *settings,
              GError     **error)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);
  const char *lang = g_hash_table_lookup (settings, "lang");
  const char *ca_file = g_hash_table_lookup (settings, "ca-file");
  guint64 timeout_s = priv->timeout_s;

  if (lang != NULL && !pf_language_from_string (lang, &priv->lang))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "lang: “%s” is neither en nor fr", lang);
      return FALSE;
    }

  if (!pf_notifier_setting_uint (settings, "timeout", 1, 600, &timeout_s, error))
    return FALSE;
  priv->timeout_s = (guint) timeout_s;
  /* libsoup's own I/O timeout only backs up the request's deadline. */
  g_object_set (priv->session, "timeout", priv->timeout_s + 5, NULL);

  if (ca_file != NULL)
    {
      g_autoptr(GTlsDatabase) database = NULL;
      g_autoptr(GError) local_error = NULL;

      database = g_tls_file_database_new (ca_file, &local_error);
      if (database == NULL)
        {
          g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "ca-file: %s: %s",
                       ca_file, local_error->message);
          return FALSE;
        }
      soup_session_set_tls_database (priv->session, database);
    }
  return TRUE;
}

PfNotifier *
pf_notifier_new (const char  *kind,
                 const char  *name,
                 GHashTable  *settings,
                 GError     **error)
{
  g_autoptr(GHashTable) empty = NULL;
  g_autoptr(PfNotifier) self = NULL;
  PfNotifierPrivate *priv;
  PfNotifierClass *klass;
  GType type;

  g_return_val_if_fail (kind != NULL, NULL);

  type = kind_type (kind);
  if (type == G_TYPE_INVALID)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "unknown notifier kind “%s”", kind);
      return NULL;
    }
  if (settings == NULL)
    settings = empty = g_hash_table_new (g_str_hash, g_str_equal);

  self = g_object_new (type, NULL);
  priv = pf_notifier_get_instance_private (self);
  klass = PF_NOTIFIER_GET_CLASS (self);
  g_free (priv->name);
  priv->name = g_strdup (name != NULL && *name != '\0' ? name : kind);

  if (!check_keys (klass, settings, error) ||
      !setup_common (self, settings, error) ||
      (klass->setup != NULL && !klass->setup (self, settings, error)))
    return NULL;
  return g_steal_pointer (&self);
}

const char *
pf_notifier_get_kind (PfNotifier *self)
{
  g_return_val_if_fail (PF_IS_NOTIFIER (self), NULL);
  return PF_NOTIFIER_GET_CLASS (self)->kind;
}

const char *
pf_notifier_get_name (PfNotifier *self)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);

  g_return_val_if_fail (PF_IS_NOTIFIER (self), NULL);
  return priv->name != NULL ? priv->name : PF_NOTIFIER_GET_CLASS (self)->kind;
}

PfLanguage
pf_notifier_get_language (PfNotifier *self)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);

  g_return_val_if_fail (PF_IS_NOTIFIER (self), PF_LANGUAGE_EN);
  return priv->lang;
}

GTimeZone *
pf_notifier_get_timezone (PfNotifier *self)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);

  g_return_val_if_fail (PF_IS_NOTIFIER (self), NULL);
  return priv->tz;
}

char *
pf_notifier_render (PfNotifier     *self,
                    const PfNotice *notice)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);

  g_return_val_if_fail (PF_IS_NOTIFIER (self), NULL);
  return pf_notice_render (notice, priv->lang, priv->tz, g_get_real_time ());
}

void
pf_notifier_send_async (PfNotifier          *self,
                        const PfNotice      *notice,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (PF_IS_NOTIFIER (self));
  g_return_if_fail (notice != NULL);

  PF_NOTIFIER_GET_CLASS (self)->send_async (self, notice, cancellable, callback, user_data);
}

gboolean
pf_notifier_send_finish (PfNotifier    *self,
                         GAsyncResult  *result,
                         guint         *retry_after_s,
                         GError       **error)
{
  guint retry_after = 0;
  gboolean ok;

  g_return_val_if_fail (PF_IS_NOTIFIER (self), FALSE);

  ok = PF_NOTIFIER_GET_CLASS (self)->send_finish (self, result, &retry_after, error);
  if (retry_after_s != NULL)
    *retry_after_s = ok ? 0 : retry_after;
  return ok;
}

void
pf_notifier_return_error (GTask  *task,
                          guint   retry_after_s,
                          GError *error)
{
  g_task_set_task_data (task, GUINT_TO_POINTER (retry_after_s), NULL);
  g_task_return_error (task, error);
}

static gboolean
pf_notifier_real_send_finish (PfNotifier    *self,
                              GAsyncResult  *result,
                              guint         *retry_after_s,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  *retry_after_s = GPOINTER_TO_UINT (g_task_get_task_data (G_TASK (result)));
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
pf_notifier_close_connections (PfNotifier *self)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);

  g_return_if_fail (PF_IS_NOTIFIER (self));
  soup_session_abort (priv->session);
}

char *
pf_notifier_redact (const char *text,
                    const char *secret)
{
  g_autofree char *line = g_utf8_make_valid (text, strcspn (text, "\r\n"));
  g_autofree char *escaped = NULL;
  g_auto(GStrv) parts = NULL;
  g_autofree char *joined = NULL;

  if (secret == NULL || *secret == '\0')
    return g_steal_pointer (&line);

  parts = g_strsplit (line, secret, -1);
  joined = g_strjoinv (REDACTED, parts);
  /* As it would show in a URL, too. */
  escaped = g_uri_escape_string (secret, NULL, FALSE);
  g_strfreev (parts);
  parts = g_strsplit (joined, escaped, -1);
  return g_strjoinv (REDACTED, parts);
}

gboolean
pf_notifier_status_is_temporary (guint status)
{
  return status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600);
}

static const char *
label (PfNotifier *self)
{
  PfNotifierClass *klass = PF_NOTIFIER_GET_CLASS (self);

  return klass->label != NULL ? klass->label : klass->kind;
}

GError *
pf_notifier_http_error (PfNotifier *self,
                        guint       status,
                        const char *description)
{
  g_return_val_if_fail (PF_IS_NOTIFIER (self), NULL);

  return g_error_new (PF_NOTIFIER_ERROR,
                      pf_notifier_status_is_temporary (status) ? PF_NOTIFIER_ERROR_TEMPORARY
                                                               : PF_NOTIFIER_ERROR_REJECTED,
                      "%s: HTTP %u: %s", label (self), status,
                      description != NULL && *description != '\0' ? description
                                                                    : soup_status_get_phrase (status));
}

/* The POST */

typedef struct {
  SoupMessage  *msg;
  GCancellable *cancellable;   /* ours: cancelled at the deadline or with the caller's */
  GCancellable *caller;
  gulong        caller_id;
  guint         timeout_id;
  guint         timeout_s;
  gboolean      timed_out;
  char         *secret;
} Post;

static void
post_free (Post *post)
{
  g_clear_handle_id (&post->timeout_id, g_source_remove);
  if (post->caller_id != 0)
    g_cancellable_disconnect (post->caller, post->caller_id);
  g_clear_object (&post->caller);
  g_clear_object (&post->cancellable);
  g_clear_object (&post->msg);
  g_free (post->secret);
  g_free (post);
}

static gboolean
post_timeout_cb (gpointer user_data)
{
  Post *post = user_data;

  post->timeout_id = 0;
  post->timed_out = TRUE;
  g_cancellable_cancel (post->cancellable);
  return G_SOURCE_REMOVE;
}

static void
post_caller_cancelled_cb (GCancellable *caller,
                          gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/* Why the certificate was refused, in words: "unknown CA, expired". */
static char *
certificate_errors (GTlsCertificateFlags flags)
{
  static const struct {
    GTlsCertificateFlags flag;
    const char          *words;
  } reasons[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA,    "unknown CA" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY,  "not for this host" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not yet valid" },
    { G_TLS_CERTIFICATE_EXPIRED,       "expired" },
    { G_TLS_CERTIFICATE_REVOKED,       "revoked" },
    { G_TLS_CERTIFICATE_INSECURE,      "insecure" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
  };
  GString *out = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (reasons); i++)
    if (flags & reasons[i].flag)
      g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "", reasons[i].words);
  return g_string_free (out, FALSE);
}

static void
post_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Post *post = g_task_get_task_data (task);
  const char *service = label (g_task_get_source_object (task));
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  g_clear_handle_id (&post->timeout_id, g_source_remove);
  if (body != NULL)
    {
      g_task_return_pointer (task, g_steal_pointer (&body), (GDestroyNotify) g_bytes_unref);
      return;
    }

  if (post->timed_out)
    g_task_return_new_error (task, PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_TEMPORARY,
                             "%s: timeout after %u s", service, post->timeout_s);
  else if (post->caller != NULL && g_cancellable_is_cancelled (post->caller))
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  else
    {
      g_autofree char *message = pf_notifier_redact (error->message, post->secret);
      g_autofree char *why = NULL;

      if (g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE))
        why = certificate_errors (soup_message_get_tls_peer_certificate_errors (post->msg));
      g_task_return_new_error (task, PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_TEMPORARY, "%s: %s%s%s%s",
                               service, message, why && *why ? " (" : "", why ? why : "",
                               why && *why ? ")" : "");
    }
}

void
pf_notifier_post_async (PfNotifier          *self,
                        const char          *url,
                        JsonNode            *body,
                        const char          *header_name,
                        const char          *header_value,
                        const char          *secret,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *data = NULL;
  SoupMessageHeaders *headers;
  gsize len = 0;
  Post *post;

  g_return_if_fail (PF_IS_NOTIFIER (self));
  g_return_if_fail (url != NULL && body != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pf_notifier_post_async);
  post = g_new0 (Post, 1);
  post->secret = g_strdup (secret);
  post->timeout_s = priv->timeout_s;
  post->cancellable = g_cancellable_new ();
  g_task_set_task_data (task, post, (GDestroyNotify) post_free);

  post->msg = soup_message_new (SOUP_METHOD_POST, url);
  if (post->msg == NULL)
    {
      g_task_return_new_error (task, PF_NOTIFIER_ERROR, PF_NOTIFIER_ERROR_REJECTED,
                               "%s: invalid URL", label (self));
      return;
    }
  generator = json_generator_new ();
  json_generator_set_root (generator, body);
  data = json_generator_to_data (generator, &len);
  bytes = g_bytes_new_take (g_steal_pointer (&data), len);
  soup_message_set_request_body_from_bytes (post->msg, "application/json", bytes);
  headers = soup_message_get_request_headers (post->msg);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (header_name != NULL && header_value != NULL)
    soup_message_headers_replace (headers, header_name, header_value);
  /* A POST must not turn into a GET somewhere else. */
  soup_message_add_flags (post->msg, SOUP_MESSAGE_NO_REDIRECT);

  if (cancellable != NULL)
    {
      post->caller = g_object_ref (cancellable);
      post->caller_id = g_cancellable_connect (cancellable, G_CALLBACK (post_caller_cancelled_cb),
                                               g_object_ref (post->cancellable), g_object_unref);
    }
  post->timeout_id = g_timeout_add (post->timeout_s * 1000, post_timeout_cb, post);
  soup_session_send_and_read_async (priv->session, post->msg, G_PRIORITY_DEFAULT, post->cancellable,
                                    post_done_cb, g_steal_pointer (&task));
}

GBytes *
pf_notifier_post_finish (PfNotifier    *self,
                         GAsyncResult  *result,
                         guint         *status,
                         char         **reason_phrase,
                         GError       **error)
{
  Post *post;
  GBytes *body;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  body = g_task_propagate_pointer (G_TASK (result), error);
  if (body == NULL)
    return NULL;
  post = g_task_get_task_data (G_TASK (result));
  if (status != NULL)
    *status = soup_message_get_status (post->msg);
  if (reason_phrase != NULL)
    *reason_phrase = pf_notifier_redact (soup_message_get_reason_phrase (post->msg) ?
                                         soup_message_get_reason_phrase (post->msg) : "",
                                         post->secret);
  return body;
}

static void
pf_notifier_dispose (GObject *object)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (PF_NOTIFIER (object));

  if (priv->session != NULL)
    soup_session_abort (priv->session);
  g_clear_object (&priv->session);
  G_OBJECT_CLASS (pf_notifier_parent_class)->dispose (object);
}

static void
pf_notifier_finalize (GObject *object)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (PF_NOTIFIER (object));

  g_free (priv->name);
  g_time_zone_unref (priv->tz);
  G_OBJECT_CLASS (pf_notifier_parent_class)->finalize (object);
}

static void
pf_notifier_class_init (PfNotifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pf_notifier_dispose;
  object_class->finalize = pf_notifier_finalize;
  klass->send_finish = pf_notifier_real_send_finish;
}

static void
pf_notifier_init (PfNotifier *self)
{
  PfNotifierPrivate *priv = pf_notifier_get_instance_private (self);
  g_autofree char *user_agent = g_strdup_printf ("pvefailover/%s", PACKAGE_VERSION);

  priv->lang = PF_LANGUAGE_EN;
  priv->tz = g_time_zone_new_local ();
  priv->timeout_s = PF_NOTIFIER_DEFAULT_TIMEOUT_S;
  priv->session = g_object_new (SOUP_TYPE_SESSION,
                                "max-conns", 2,
                                "max-conns-per-host", 1,
                                "timeout", priv->timeout_s + 5,
                                "idle-timeout", 60,
                                "user-agent", user_agent,
                                NULL);
}
