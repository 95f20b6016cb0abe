/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * HiLink telemetry: the HTTP API of a Huawei or ZTE USB modem on its
 * management address (see pf-modem-hilink.h for what the snapshot says in
 * each case). One poll is a short sequence of GETs, one at a time, each with
 * its own 5 s deadline; the connections are bound to the stick's interface
 * from the message's "network-event" at G_SOCKET_CLIENT_CONNECTING, before
 * connect(), like the HTTP probes. ICCID and IMSI are read into the private
 * fields only: no document body, and no field of /api/device/information
 * but the model, is ever logged.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-hilink"

#include "pf-modem-hilink.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define MAX_BODY_BYTES      (256 * 1024)
#define READ_CHUNK_BYTES    16384
#define FIRST_RETRY_S       2
#define TOKEN_HEADER        "__RequestVerificationToken"
#define SESSION_PATH        "/api/webserver/SesTokInfo"
#define INFORMATION_PATH    "/api/device/information"
#define ZTE_PATH            "/goform/goform_get_cmd_process?isTest=false&multi_data=1&cmd=" \
                            "modem_main_state%2Csignalbar%2Cnetwork_type%2Clte_rsrp%2Clte_rsrq%2C" \
                            "lte_snr%2Clte_rssi%2Crssi%2Cppp_status%2Cnetwork_provider%2Crmcc%2C" \
                            "rmnc%2Csimcard_roam%2Crealtime_tx_bytes%2Crealtime_rx_bytes%2C" \
                            "model_name%2Csim_iccid%2Csim_imsi"

G_DEFINE_QUARK (pf-hilink-error-quark, pf_hilink_error)

/* Parsers */

double
pf_hilink_parse_level (const char *text)
{
  const char *p = text;
  char *end = NULL;
  double value;

  if (p == NULL)
    return NAN;
  while (g_ascii_isspace (*p))
    p++;
  /* ">=-51dBm", "<=-113dBm": the limits of the scale, close enough. */
  while (*p == '>' || *p == '<' || *p == '=')
    p++;
  if (*p == '\0')
    return NAN;

  value = g_ascii_strtod (p, &end);
  if (end == p || !isfinite (value))
    return NAN;
  while (g_ascii_isspace (*end))
    end++;
  if (*end != '\0' && g_ascii_strcasecmp (end, "dBm") != 0 && g_ascii_strcasecmp (end, "dB") != 0)
    return NAN;
  return value;
}

const char *
pf_hilink_huawei_network_type (guint code)
{
  /* CurrentNetworkType and CurrentNetworkTypeEx share most codes. */
  static const struct { guint code; const char *name; } types[] = {
    { 1, "gsm" }, { 2, "gprs" }, { 3, "edge" }, { 4, "umts" }, { 5, "hsdpa" },
    { 6, "hsupa" }, { 7, "hspa" }, { 8, "umts" }, { 9, "hspa-plus" }, { 10, "evdo0" },
    { 11, "evdoa" }, { 12, "evdob" }, { 13, "1xrtt" }, { 17, "hspa-plus" },
    { 18, "hspa-plus" }, { 19, "lte" }, { 21, "1xrtt" }, { 22, "1xrtt" }, { 23, "1xrtt" },
    { 24, "evdo0" }, { 25, "evdoa" }, { 26, "evdob" }, { 41, "umts" }, { 42, "hsdpa" },
    { 43, "hsupa" }, { 44, "hspa" }, { 45, "hspa-plus" }, { 46, "hspa-plus" },
    { 61, "umts" }, { 62, "hsdpa" }, { 63, "hsupa" }, { 64, "hspa" }, { 65, "hspa-plus" },
    { 101, "lte" }, { 1011, "lte" }, { 111, "5gnr" }, { 112, "5gnr" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (types[i].code == code)
      return types[i].name;
  return "";
}

static void
set_string (char       **field,
            const char  *value)
{
  g_free (*field);
  *field = g_strdup (value != NULL ? value : "");
}

/* A flat Huawei document: the text of the root's children by name. */
typedef struct {
  int         depth;
  char       *root;
  char       *child;
  GString    *text;
  GHashTable *fields;
} XmlState;

static void
xml_start (GMarkupParseContext  *context,
           const char           *element_name,
           const char          **attribute_names,
           const char          **attribute_values,
           gpointer              user_data,
           GError              **error)
{
  XmlState *st = user_data;

  st->depth++;
  if (st->depth == 1)
    {
      if (st->root != NULL)
        {
          g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                               "more than one root element");
          return;
        }
      st->root = g_strdup (element_name);
    }
  else if (st->depth == 2)
    {
      g_free (st->child);
      st->child = g_strdup (element_name);
      g_string_truncate (st->text, 0);
    }
}

static void
xml_end (GMarkupParseContext  *context,
         const char           *element_name,
         gpointer              user_data,
         GError              **error)
{
  XmlState *st = user_data;

  if (st->depth == 2 && st->child != NULL)
    g_hash_table_replace (st->fields, g_steal_pointer (&st->child),
                          g_strstrip (g_strdup (st->text->str)));
  st->depth--;
}

static void
xml_text (GMarkupParseContext  *context,
          const char           *text,
          gsize                 text_len,
          gpointer              user_data,
          GError              **error)
{
  XmlState *st = user_data;

  if (st->depth == 2)
    g_string_append_len (st->text, text, text_len);
}

/* A quoted span of a parser's message is kept when it looks like an element
 * name; anything else may be the document's content (an ICCID). */
static gboolean
looks_like_name (const char *text,
                 gsize       len)
{
  if (len == 0 || len > 32 || !(g_ascii_isalpha (text[0]) || text[0] == '_'))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!g_ascii_isalnum (text[i]) && strchr ("_.:-", text[i]) == NULL)
      return FALSE;
  return TRUE;
}

static char *
sanitize_reason (const char *reason)
{
  g_autofree char *valid = g_utf8_make_valid (reason, strcspn (reason, "\r\n"));
  GString *out = g_string_new (NULL);
  const char *p = valid;

  for (;;)
    {
      const char *open = strstr (p, "\u201c");    /* GLib quotes with “…” */
      const char *close;

      if (open == NULL || (close = strstr (open + 3, "\u201d")) == NULL)
        break;
      g_string_append_len (out, p, open - p);
      if (looks_like_name (open + 3, close - (open + 3)))
        g_string_append_len (out, open, close + 3 - open);
      else
        g_string_append (out, "\u201c\u2026\u201d");
      p = close + 3;
    }
  g_string_append (out, p);
  return g_string_free (out, FALSE);
}

static void
set_garbage (GError     **error,
             const char  *reason)
{
  g_autofree char *first_line = sanitize_reason (reason);

  /* Short, and never a copy of the document: it may hold private data. */
  if (g_utf8_strlen (first_line, -1) > 80)
    {
      char *cut = g_utf8_offset_to_pointer (first_line, 77);
      strcpy (cut, "...");
    }
  g_set_error (error, PF_HILINK_ERROR, PF_HILINK_ERROR_GARBAGE, "garbage: %s", first_line);
}

static void
set_api_error (GError **error,
               guint64  code)
{
  PfHilinkError kind;
  const char *what;

  switch (code)
    {
    case 125001:
    case 125002:
    case 125003:
      kind = PF_HILINK_ERROR_TOKEN;
      what = " (token or session rejected)";
      break;
    case 100003:
    case 108003:
      kind = PF_HILINK_ERROR_LOGIN_REQUIRED;
      what = " (login required)";
      break;
    case 100002:
      kind = PF_HILINK_ERROR_NOT_SUPPORTED;
      what = " (not supported)";
      break;
    default:
      kind = PF_HILINK_ERROR_API;
      what = "";
      break;
    }
  g_set_error (error, PF_HILINK_ERROR, kind, "API error %" G_GUINT64_FORMAT "%s", code, what);
}

/* The fields of a <response> document, or the error of an <error> one. */
static GHashTable *
parse_huawei_document (const char  *xml,
                       gssize       len,
                       GError     **error)
{
  static const GMarkupParser parser = { xml_start, xml_end, xml_text, NULL, NULL };
  g_autoptr(GMarkupParseContext) context = NULL;
  g_autoptr(GHashTable) fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GError) local_error = NULL;
  g_autofree char *root = NULL;
  g_autofree char *child = NULL;
  XmlState st = { 0, NULL, NULL, text, fields };
  gboolean ok;

  if (xml == NULL)
    {
      set_garbage (error, "empty answer");
      return NULL;
    }

  context = g_markup_parse_context_new (&parser, 0, &st, NULL);
  ok = g_markup_parse_context_parse (context, xml, len, &local_error) &&
       g_markup_parse_context_end_parse (context, &local_error);
  root = g_steal_pointer (&st.root);
  child = g_steal_pointer (&st.child);

  if (!ok)
    {
      set_garbage (error, local_error->message);
      return NULL;
    }

  if (g_strcmp0 (root, "error") == 0)
    {
      const char *code_text = g_hash_table_lookup (fields, "code");
      guint64 code;

      if (code_text == NULL ||
          !g_ascii_string_to_unsigned (code_text, 10, 0, G_MAXUINT32, &code, NULL))
        {
          set_garbage (error, "an <error> document without a code");
          return NULL;
        }
      set_api_error (error, code);
      return NULL;
    }

  if (g_strcmp0 (root, "response") != 0)
    {
      g_autofree char *reason = g_strdup_printf ("<%s> instead of <response>", root ? root : "?");
      set_garbage (error, reason);
      return NULL;
    }

  return g_steal_pointer (&fields);
}

static const char *
field (GHashTable *fields,
       const char *name)
{
  const char *value = g_hash_table_lookup (fields, name);

  return value != NULL ? value : "";
}

static gboolean
field_uint (GHashTable *fields,
            const char *name,
            guint64    *value)
{
  const char *text = g_hash_table_lookup (fields, name);

  return text != NULL && *text != '\0' &&
         g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, value, NULL);
}

gboolean
pf_hilink_parse_huawei_session (const char  *xml,
                                gssize       len,
                                char       **cookie,
                                char       **token,
                                GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;
  const char *ses, *tok;

  g_return_val_if_fail (cookie != NULL && token != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  ses = field (fields, "SesInfo");
  tok = field (fields, "TokInfo");
  if (*ses == '\0' || *tok == '\0')
    {
      set_garbage (error, "no SesInfo or TokInfo in SesTokInfo");
      return FALSE;
    }

  /* "SessionID=…", the whole cookie; a few firmwares give the bare value. */
  *cookie = g_str_has_prefix (ses, "SessionID=") ? g_strdup (ses) : g_strconcat ("SessionID=", ses, NULL);
  *token = g_strdup (tok);
  return TRUE;
}

gboolean
pf_hilink_parse_huawei_signal (const char  *xml,
                               gssize       len,
                               PfModemInfo *info,
                               GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;

  g_return_val_if_fail (info != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  info->rssi = pf_hilink_parse_level (field (fields, "rssi"));
  info->rsrp = pf_hilink_parse_level (field (fields, "rsrp"));
  info->rsrq = pf_hilink_parse_level (field (fields, "rsrq"));
  info->sinr = pf_hilink_parse_level (field (fields, "sinr"));

  /* mode: 0 GSM, 2 WCDMA, 7 LTE; only when the status gave no network type. */
  if (info->access_technology[0] == '\0')
    {
      guint64 mode;

      if (field_uint (fields, "mode", &mode))
        set_string (&info->access_technology,
                    mode == 7 ? "lte" : mode == 2 ? "umts" : mode == 0 ? "gsm" : "");
    }

  /* Signal quality from RSSI when the status had no signal icon, the way
   * ModemManager maps CSQ: -113 dBm is 0 %, -51 dBm is 100 %. */
  if (info->signal_quality < 0 && !isnan (info->rssi))
    {
      double percent = CLAMP ((info->rssi + 113.0) * 100.0 / 62.0, 0.0, 100.0);

      info->signal_quality = (int) (percent + 0.5);
    }

  return TRUE;
}

static void
set_state_from_registration (PfModemInfo *info,
                             guint64      connection_status,
                             gboolean     have_connection_status)
{
  gboolean registered = g_str_equal (info->registration, "home") ||
                        g_str_equal (info->registration, "roaming");

  if (g_str_equal (info->state, "failed") || g_str_equal (info->state, "locked"))
    return;

  if (have_connection_status && connection_status == 901)
    set_string (&info->state, "connected");
  else if (have_connection_status && connection_status == 900)
    set_string (&info->state, "connecting");
  else if (have_connection_status && connection_status == 903)
    set_string (&info->state, "disconnecting");
  else if (registered)
    set_string (&info->state, "registered");
  else if (have_connection_status || !g_str_equal (info->registration, "unknown"))
    set_string (&info->state, "searching");
}

gboolean
pf_hilink_parse_huawei_status (const char  *xml,
                               gssize       len,
                               PfModemInfo *info,
                               GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;
  guint64 connection = 0, service, roaming = 0, sim, icon, max = 5, strength, type;
  gboolean have_connection, have_type = FALSE;

  g_return_val_if_fail (info != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  /* Network type: the extended code when the firmware has it. */
  if (field_uint (fields, "CurrentNetworkTypeEx", &type) ||
      field_uint (fields, "CurrentNetworkType", &type))
    {
      have_type = TRUE;
      set_string (&info->access_technology, pf_hilink_huawei_network_type ((guint) MIN (type, G_MAXUINT)));
    }

  /* Signal: bars out of maxsignal, else the firmware's own percentage. */
  if (!field_uint (fields, "maxsignal", &max) || max == 0)
    max = 5;
  if (field_uint (fields, "SignalIcon", &icon))
    info->signal_quality = (int) MIN (icon * 100 / max, 100);
  else if (field_uint (fields, "SignalStrength", &strength))
    info->signal_quality = (int) MIN (strength, 100);

  /* Registration: ServiceStatus 2 is full service; without it a network
   * type other than "no service" means the stick is attached. */
  (void) field_uint (fields, "RoamingStatus", &roaming);
  if (field_uint (fields, "ServiceStatus", &service))
    {
      if (service == 2)
        set_string (&info->registration, roaming == 1 ? "roaming" : "home");
      else if (service == 0)
        set_string (&info->registration, "searching");
      else if (service == 1 || service == 3)
        set_string (&info->registration, "denied");   /* limited service */
      else if (service == 4)
        set_string (&info->registration, "idle");     /* power saving */
      else
        set_string (&info->registration, "unknown");
    }
  else if (have_type)
    {
      set_string (&info->registration, type == 0 ? "searching" : roaming == 1 ? "roaming" : "home");
    }

  /* SIM: 1 valid, 255 none, 0 and 2..4 invalid (for CS, PS or both). */
  if (field_uint (fields, "SimStatus", &sim))
    {
      if (sim == 1 || sim == 240)
        {
          set_string (&info->sim_state, "ok");
        }
      else if (sim == 255)
        {
          set_string (&info->sim_state, "missing");
          set_string (&info->state, "failed");
          set_string (&info->failed_reason, "sim-missing");
        }
      else if (sim <= 4)
        {
          set_string (&info->sim_state, "error");
          set_string (&info->state, "failed");
          set_string (&info->failed_reason, "sim-error");
        }
    }

  have_connection = field_uint (fields, "ConnectionStatus", &connection);
  set_state_from_registration (info, connection, have_connection);
  return TRUE;
}

gboolean
pf_hilink_parse_huawei_plmn (const char  *xml,
                             gssize       len,
                             PfModemInfo *info,
                             GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;
  const char *name, *numeric;

  g_return_val_if_fail (info != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  name = field (fields, "FullName");
  if (*name == '\0')
    name = field (fields, "ShortName");
  numeric = field (fields, "Numeric");
  set_string (&info->operator_name, name);
  set_string (&info->operator_code, numeric);
  set_string (&info->sim_operator, field (fields, "Spn"));

  /* An operator in use means registered, when the status could not tell. */
  if (g_str_equal (info->registration, "unknown") && *numeric != '\0')
    {
      set_string (&info->registration, "home");
      if (g_str_equal (info->state, "searching") || info->state[0] == '\0')
        set_string (&info->state, "registered");
    }
  return TRUE;
}

gboolean
pf_hilink_parse_huawei_traffic (const char  *xml,
                                gssize       len,
                                PfModemInfo *info,
                                GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;
  guint64 value;

  g_return_val_if_fail (info != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  info->rx_bytes = field_uint (fields, "CurrentDownload", &value) ? value : 0;
  info->tx_bytes = field_uint (fields, "CurrentUpload", &value) ? value : 0;
  return TRUE;
}

gboolean
pf_hilink_parse_huawei_information (const char  *xml,
                                    gssize       len,
                                    PfModemInfo *info,
                                    GError     **error)
{
  g_autoptr(GHashTable) fields = NULL;
  const char *name;

  g_return_val_if_fail (info != NULL, FALSE);

  fields = parse_huawei_document (xml, len, error);
  if (fields == NULL)
    return FALSE;

  name = field (fields, "DeviceName");
  if (*name == '\0' || g_ascii_strncasecmp (name, "huawei", 6) == 0)
    set_string (&info->model, name);
  else
    {
      g_autofree char *model = g_strconcat ("Huawei ", name, NULL);
      set_string (&info->model, model);
    }
  set_string (&info->iccid, field (fields, "Iccid"));
  set_string (&info->imsi, field (fields, "Imsi"));
  return TRUE;
}

/* ZTE: every value is a string, a few firmwares send numbers. */
static const char *
json_field (JsonObject *object,
            const char *name,
            char      **scratch)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return "";
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      return json_node_get_string (node);
    case G_TYPE_INT64:
      g_free (*scratch);
      *scratch = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      return *scratch;
    case G_TYPE_DOUBLE:
      g_free (*scratch);
      *scratch = g_strdup_printf ("%.1f", json_node_get_double (node));
      return *scratch;
    default:
      return "";
    }
}

static const char *
zte_network_type (const char *type)
{
  g_autofree char *t = g_ascii_strdown (type, -1);

  if (*t == '\0' || g_str_equal (t, "no_service") || g_str_has_prefix (t, "limited"))
    return "";
  if (g_str_has_prefix (t, "lte") || g_str_equal (t, "4g") || g_str_has_prefix (t, "e-utra"))
    return "lte";
  if (g_str_equal (t, "endc") || g_str_equal (t, "sa") || g_str_has_prefix (t, "5g") ||
      g_str_has_prefix (t, "nr"))
    return "5gnr";
  if (g_str_has_suffix (t, "hspa+") || g_str_has_suffix (t, "hspa_plus") || g_str_equal (t, "hspap"))
    return "hspa-plus";
  if (g_str_equal (t, "hspa"))
    return "hspa";
  if (g_str_equal (t, "hsdpa"))
    return "hsdpa";
  if (g_str_equal (t, "hsupa"))
    return "hsupa";
  if (g_str_equal (t, "wcdma") || g_str_equal (t, "umts") || g_str_equal (t, "td-scdma") ||
      g_str_equal (t, "tds") || g_str_equal (t, "3g"))
    return "umts";
  if (g_str_equal (t, "edge"))
    return "edge";
  if (g_str_equal (t, "gprs"))
    return "gprs";
  if (g_str_equal (t, "gsm") || g_str_equal (t, "2g"))
    return "gsm";
  return "";
}

gboolean
pf_hilink_parse_zte (const char  *json,
                     gssize       len,
                     PfModemInfo *info,
                     GError     **error)
{
  static const char *const known[] = {
    "modem_main_state", "signalbar", "network_type", "ppp_status", "lte_rsrp",
  };
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *scratch = NULL;
  JsonNode *root;
  JsonObject *object;
  const char *main_state, *ppp, *type, *roam, *mcc, *mnc, *value;
  gboolean found = FALSE;
  guint64 number;
  gboolean registered;

  g_return_val_if_fail (info != NULL, FALSE);

  if (json == NULL || !json_parser_load_from_data (parser, json, len, &local_error))
    {
      set_garbage (error, local_error != NULL ? local_error->message : "empty answer");
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      set_garbage (error, "not a JSON object");
      return FALSE;
    }
  object = json_node_get_object (root);
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    found = found || json_object_has_member (object, known[i]);
  if (!found)
    {
      set_garbage (error, "no telemetry in the JSON object");
      return FALSE;
    }

  /* Signal */
  if (g_ascii_string_to_unsigned (json_field (object, "signalbar", &scratch), 10, 0, 5, &number, NULL))
    info->signal_quality = (int) number * 20;
  info->rsrp = pf_hilink_parse_level (json_field (object, "lte_rsrp", &scratch));
  info->rsrq = pf_hilink_parse_level (json_field (object, "lte_rsrq", &scratch));
  info->sinr = pf_hilink_parse_level (json_field (object, "lte_snr", &scratch));
  info->rssi = pf_hilink_parse_level (json_field (object, "lte_rssi", &scratch));
  if (isnan (info->rssi))
    info->rssi = pf_hilink_parse_level (json_field (object, "rssi", &scratch));

  /* Network */
  type = json_field (object, "network_type", &scratch);
  set_string (&info->access_technology, zte_network_type (type));
  roam = json_field (object, "simcard_roam", &scratch);
  if (g_ascii_strncasecmp (type, "limited", 7) == 0)
    set_string (&info->registration, "denied");
  else if (info->access_technology[0] != '\0')
    set_string (&info->registration,
                (*roam != '\0' && g_ascii_strcasecmp (roam, "Home") != 0) ? "roaming" : "home");
  else if (*type != '\0')
    set_string (&info->registration, "searching");
  set_string (&info->operator_name, json_field (object, "network_provider", &scratch));
  mcc = json_field (object, "rmcc", &scratch);
  if (*mcc != '\0')
    {
      g_autofree char *mcc_copy = g_strdup (mcc);

      mnc = json_field (object, "rmnc", &scratch);
      if (*mnc != '\0')
        {
          g_autofree char *code = g_strdup_printf ("%s%s%s", mcc_copy, strlen (mnc) == 1 ? "0" : "", mnc);
          set_string (&info->operator_code, code);
        }
    }

  /* SIM and modem */
  main_state = json_field (object, "modem_main_state", &scratch);
  if (g_str_equal (main_state, "modem_init_complete"))
    set_string (&info->sim_state, "ok");
  else if (g_str_equal (main_state, "modem_sim_undetected") || g_str_equal (main_state, "modem_undetected"))
    {
      set_string (&info->sim_state, "missing");
      set_string (&info->state, "failed");
      set_string (&info->failed_reason, "sim-missing");
    }
  else if (g_str_equal (main_state, "modem_waitpin") || g_str_equal (main_state, "modem_waitpuk") ||
           g_str_equal (main_state, "modem_imsi_waitnck"))
    {
      set_string (&info->sim_state, "locked");
      set_string (&info->state, "locked");
    }
  else if (g_str_equal (main_state, "modem_sim_destroy"))
    {
      set_string (&info->sim_state, "error");
      set_string (&info->state, "failed");
      set_string (&info->failed_reason, "sim-error");
    }

  ppp = json_field (object, "ppp_status", &scratch);
  registered = g_str_equal (info->registration, "home") || g_str_equal (info->registration, "roaming");
  if (g_str_equal (info->state, "failed") || g_str_equal (info->state, "locked"))
    ;
  else if (g_str_has_suffix (ppp, "_connected"))
    set_string (&info->state, "connected");
  else if (g_str_has_suffix (ppp, "_connecting"))
    set_string (&info->state, "connecting");
  else if (g_str_has_suffix (ppp, "_disconnecting"))
    set_string (&info->state, "disconnecting");
  else if (registered)
    set_string (&info->state, "registered");
  else if (*ppp != '\0' || *type != '\0')
    set_string (&info->state, "searching");

  /* Counters of the current connection */
  if (g_ascii_string_to_unsigned (json_field (object, "realtime_rx_bytes", &scratch), 10, 0, G_MAXUINT64, &number, NULL))
    info->rx_bytes = number;
  if (g_ascii_string_to_unsigned (json_field (object, "realtime_tx_bytes", &scratch), 10, 0, G_MAXUINT64, &number, NULL))
    info->tx_bytes = number;

  /* Identity */
  value = json_field (object, "model_name", &scratch);
  if (*value != '\0')
    {
      g_autofree char *model = g_ascii_strncasecmp (value, "zte", 3) == 0
                               ? g_strdup (value) : g_strconcat ("ZTE ", value, NULL);
      set_string (&info->model, model);
    }
  set_string (&info->iccid, json_field (object, "sim_iccid", &scratch));
  set_string (&info->imsi, json_field (object, "sim_imsi", &scratch));
  return TRUE;
}

/* The source */

typedef enum {
  FLAVOUR_UNKNOWN,
  FLAVOUR_HUAWEI,
  FLAVOUR_ZTE,
  FLAVOUR_NONE,
} Flavour;

typedef gboolean (*HuaweiParseFunc) (const char *xml, gssize len, PfModemInfo *info, GError **error);

/* One poll of a Huawei stick; the device information once per session. */
static const struct {
  const char      *path;
  HuaweiParseFunc  parse;
} huawei_steps[] = {
  { INFORMATION_PATH, pf_hilink_parse_huawei_information },
  { "/api/monitoring/status", pf_hilink_parse_huawei_status },
  { "/api/device/signal", pf_hilink_parse_huawei_signal },
  { "/api/net/current-plmn", pf_hilink_parse_huawei_plmn },
  { "/api/monitoring/traffic-statistics", pf_hilink_parse_huawei_traffic },
};

typedef struct _Request Request;
typedef void (*ResponseFunc) (PfModemHilink *self, Request *request);

/* One GET: the answer, or why there is none. */
struct _Request
{
  PfModemHilink *self;          /* NULL once stopped: the answer goes nowhere */
  char          *path;
  ResponseFunc   done;
  GCancellable  *cancellable;
  SoupMessage   *msg;
  GInputStream  *stream;
  GByteArray    *body;
  guint          timeout_id;
  gboolean       timed_out;
  gboolean       refused;       /* something answered with a reset: no web server there */
  char          *bind_error;
  char          *ifname;
  /* the outcome, for done() */
  guint          status;
  char          *failure;       /* NULL when an HTTP answer came */
};

struct _PfModemHilink
{
  PfModem       parent_instance;

  char         *base_url;
  char         *ifname;
  guint         poll_s;
  SoupSession  *session;

  Flavour       flavour;
  gboolean      ever_detected;  /* an API answered once: its loss is a failure */
  char         *cookie;         /* "SessionID=…" */
  char         *token;
  PfModemInfo  *device;         /* model, iccid, imsi from /api/device/information */
  gboolean      have_device;

  gboolean      running;
  guint         poll_id;
  Request      *request;        /* the one in flight, or NULL */
  guint         failures;       /* consecutive failed polls */

  /* the poll in progress */
  PfModemInfo  *building;
  guint         step;
  gboolean      token_retried;  /* the current step already refreshed the session */
  gboolean      got_data;
  char         *note;           /* why the telemetry is partial */
  char         *detect_reason;  /* what the Huawei detection saw */
};

G_DEFINE_TYPE (PfModemHilink, pf_modem_hilink, PF_TYPE_MODEM)

static void poll_schedule (PfModemHilink *self, guint delay_s);
static void huawei_next_step (PfModemHilink *self);

static const char *
log_name (PfModemHilink *self)
{
  return self->base_url;
}

static void
request_free (Request *request)
{
  g_clear_handle_id (&request->timeout_id, g_source_remove);
  g_clear_object (&request->cancellable);
  g_clear_object (&request->msg);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->body, g_byte_array_unref);
  g_free (request->path);
  g_free (request->bind_error);
  g_free (request->ifname);
  g_free (request->failure);
  g_free (request);
}

static void
request_finish (Request    *request,
                const char *failure)
{
  PfModemHilink *self = request->self;

  g_clear_handle_id (&request->timeout_id, g_source_remove);
  if (request->stream != NULL)
    g_input_stream_close_async (request->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);

  /* Stopped or dropped meanwhile: nobody waits for it any more. */
  if (self == NULL)
    {
      request_free (request);
      return;
    }
  g_assert (self->request == request);
  self->request = NULL;

  if (request->timed_out)
    request->failure = g_strdup ("timeout");
  else if (request->bind_error != NULL)
    request->failure = g_strdup (request->bind_error);
  else if (failure != NULL)
    request->failure = g_strdup (failure);

  if (request->failure != NULL)
    g_debug ("%s: GET %s: %s", log_name (self), request->path, request->failure);
  else
    g_debug ("%s: GET %s: HTTP %u, %u bytes", log_name (self), request->path,
             request->status, request->body->len);

  request->done (self, request);
  request_free (request);
}

static gboolean
request_timeout_cb (gpointer user_data)
{
  Request *request = user_data;

  request->timeout_id = 0;
  request->timed_out = TRUE;
  g_cancellable_cancel (request->cancellable);
  return G_SOURCE_REMOVE;
}

static void
request_network_event_cb (SoupMessage        *msg,
                          GSocketClientEvent  event,
                          GIOStream          *connection,
                          gpointer            user_data)
{
  Request *request = user_data;
  GSocket *socket;
  int fd;

  if (event != G_SOCKET_CLIENT_CONNECTING || !G_IS_SOCKET_CONNECTION (connection) ||
      request->ifname == NULL)
    return;

  /* The socket exists, connect() has not been called yet. */
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection));
  fd = g_socket_get_fd (socket);
  if (setsockopt (fd, SOL_SOCKET, SO_BINDTODEVICE, request->ifname, strlen (request->ifname) + 1) < 0)
    {
      int saved_errno = errno;

      /* Never let it connect unbound: it would follow the main table. */
      g_free (request->bind_error);
      request->bind_error = g_strdup_printf ("bind to %s: %s", request->ifname, g_strerror (saved_errno));
      g_socket_close (socket, NULL);
      g_cancellable_cancel (request->cancellable);
    }
}

static void request_read_cb (GObject *object, GAsyncResult *result, gpointer user_data);

static void
request_read_more (Request *request)
{
  g_input_stream_read_bytes_async (request->stream, READ_CHUNK_BYTES, G_PRIORITY_DEFAULT,
                                   request->cancellable, request_read_cb, request);
}

static void
request_read_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (bytes == NULL)
    {
      request_finish (request, error->message);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      request_finish (request, NULL);
      return;
    }
  g_byte_array_append (request->body, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  if (request->body->len > MAX_BODY_BYTES)
    {
      /* Only garbage can be that long: the documents are small. */
      request_finish (request, "garbage: an answer of more than 256 KiB");
      return;
    }
  request_read_more (request);
}

static void
request_sent_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(GError) error = NULL;

  request->stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  if (request->stream == NULL)
    {
      request->refused = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
      request_finish (request, error->message);
      return;
    }
  request->status = soup_message_get_status (request->msg);
  request_read_more (request);
}

static void
request_start (PfModemHilink *self,
               const char    *path,
               ResponseFunc   done)
{
  g_autofree char *uri = g_strconcat (self->base_url, path, NULL);
  Request *request = g_new0 (Request, 1);
  SoupMessageHeaders *headers;

  g_assert (self->request == NULL);

  request->self = self;
  request->path = g_strdup (path);
  request->done = done;
  request->cancellable = g_cancellable_new ();
  request->body = g_byte_array_new ();
  request->ifname = self->ifname != NULL ? g_strdup (self->ifname) : NULL;
  self->request = request;

  request->msg = soup_message_new (SOUP_METHOD_GET, uri);
  if (request->msg == NULL)
    {
      g_autofree char *failure = g_strdup_printf ("bad URL %s", uri);

      request_finish (request, failure);
      return;
    }

  headers = soup_message_get_request_headers (request->msg);
  if (g_str_has_prefix (path, "/api/"))
    {
      soup_message_headers_replace (headers, "X-Requested-With", "XMLHttpRequest");
      if (self->cookie != NULL)
        soup_message_headers_replace (headers, "Cookie", self->cookie);
      if (self->token != NULL)
        soup_message_headers_replace (headers, TOKEN_HEADER, self->token);
    }
  else
    {
      /* ZTE's web server only answers its own pages. */
      g_autofree char *referer = g_strconcat (self->base_url, "/index.html", NULL);

      soup_message_headers_replace (headers, "Referer", referer);
    }
  soup_message_add_flags (request->msg, SOUP_MESSAGE_NO_REDIRECT);

  g_signal_connect (request->msg, "network-event", G_CALLBACK (request_network_event_cb), request);
  request->timeout_id = g_timeout_add_seconds (PF_MODEM_HILINK_REQUEST_TIMEOUT_S, request_timeout_cb, request);
  soup_session_send_async (self->session, request->msg, G_PRIORITY_DEFAULT, request->cancellable,
                           request_sent_cb, request);
}

static void
request_cancel (PfModemHilink *self)
{
  Request *request = g_steal_pointer (&self->request);

  /* Orphaned: its callback frees it when libsoup returns. */
  if (request != NULL)
    {
      request->self = NULL;
      g_cancellable_cancel (request->cancellable);
    }
}

static const char *
request_body (Request *request,
              gsize   *len)
{
  *len = request->body->len;
  /* NUL-terminated for the parsers' error paths; len is what counts. */
  g_byte_array_append (request->body, (const guint8 *) "", 1);
  return (const char *) request->body->data;
}

/* Ending a poll */

static void
poll_clear (PfModemHilink *self)
{
  g_clear_pointer (&self->building, pf_modem_info_free);
  g_clear_pointer (&self->note, g_free);
  g_clear_pointer (&self->detect_reason, g_free);
  self->step = 0;
  self->got_data = FALSE;
  self->token_retried = FALSE;
}

static void
forget_session (PfModemHilink *self)
{
  g_clear_pointer (&self->cookie, g_free);
  g_clear_pointer (&self->token, g_free);
}

static void
publish (PfModemHilink *self,
         PfModemInfo   *info)
{
  pf_modem_update (PF_MODEM (self), info);
}

static void
poll_failed (PfModemHilink *self,
             const char    *reason)
{
  PfModemInfo *info = pf_modem_info_copy (pf_modem_get_info (PF_MODEM (self)));
  guint delay = FIRST_RETRY_S;

  self->failures++;
  if (self->failures == 1)
    g_warning ("%s: telemetry failed: %s", log_name (self), reason);
  else
    g_debug ("%s: telemetry failed %u times in a row: %s", log_name (self), self->failures, reason);

  g_free (info->error);
  if (self->failures >= PF_MODEM_HILINK_MAX_FAILURES)
    {
      if (self->failures == PF_MODEM_HILINK_MAX_FAILURES)
        g_warning ("%s: HiLink API not answering (%s)", log_name (self), reason);
      info->present = FALSE;
      info->error = g_strdup_printf ("HiLink API not answering (%s)", reason);
      /* It may come back as something else (rebooted, reflashed). */
      self->flavour = FLAVOUR_UNKNOWN;
      forget_session (self);
    }
  else
    {
      info->error = g_strdup (reason);
    }
  publish (self, info);
  poll_clear (self);

  for (guint i = 1; i < self->failures && delay < self->poll_s; i++)
    delay *= 2;
  poll_schedule (self, MIN (delay, self->poll_s));
}

static void
poll_recovered (PfModemHilink *self)
{
  if (self->failures > 0)
    g_message ("%s: telemetry is back after %u failed polls", log_name (self), self->failures);
  self->failures = 0;
}

static void
poll_succeeded (PfModemHilink *self)
{
  PfModemInfo *info;

  poll_recovered (self);

  if (self->got_data)
    {
      info = g_steal_pointer (&self->building);
      if (self->have_device && self->flavour == FLAVOUR_HUAWEI)
        {
          g_free (info->model);
          info->model = g_strdup (self->device->model);
          g_free (info->iccid);
          info->iccid = g_strdup (self->device->iccid);
          g_free (info->imsi);
          info->imsi = g_strdup (self->device->imsi);
        }
    }
  else
    {
      /* It answers, with nothing usable: keep what we had. */
      info = pf_modem_info_copy (pf_modem_get_info (PF_MODEM (self)));
    }
  info->present = TRUE;
  g_free (info->error);
  info->error = g_strdup (self->note != NULL ? self->note
                          : self->got_data ? "" : "the API gives no telemetry");
  publish (self, info);
  poll_clear (self);
  poll_schedule (self, self->poll_s);
}

static void
poll_no_api (PfModemHilink *self,
             const char    *reason)
{
  PfModemInfo *info;

  /* The API was there: the stick rebooted into something else, or broke. */
  if (self->ever_detected)
    {
      g_autofree char *gone = g_strdup_printf ("API gone: %s", reason);

      self->flavour = FLAVOUR_UNKNOWN;
      poll_failed (self, gone);
      return;
    }

  info = pf_modem_info_new ();
  poll_recovered (self);
  if (self->flavour != FLAVOUR_NONE)
    g_message ("%s: no HiLink or ZTE API (%s); trying again in %u minutes", log_name (self),
               reason, PF_MODEM_HILINK_NO_API_INTERVAL_S / 60);
  self->flavour = FLAVOUR_NONE;
  forget_session (self);

  info->present = TRUE;
  g_free (info->error);
  info->error = g_strdup_printf ("no HiLink or ZTE API at %s (%s)", self->base_url, reason);
  publish (self, info);
  poll_clear (self);
  poll_schedule (self, MAX (PF_MODEM_HILINK_NO_API_INTERVAL_S, self->poll_s));
}

/* ZTE */

static void
zte_done (PfModemHilink *self,
          Request       *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  const char *body;
  gsize len;

  if (request->failure != NULL)
    {
      reason = g_strdup (request->failure);
      poll_failed (self, reason);
      return;
    }
  if (request->status == SOUP_STATUS_NOT_FOUND)
    self->flavour = FLAVOUR_UNKNOWN;
  if (request->status != SOUP_STATUS_OK)
    {
      reason = g_strdup_printf ("HTTP %u", request->status);
      poll_failed (self, reason);
      return;
    }

  body = request_body (request, &len);
  if (!pf_hilink_parse_zte (body, len, self->building, &error))
    {
      poll_failed (self, error->message);
      return;
    }
  self->got_data = TRUE;
  poll_succeeded (self);
}

static void
zte_detect_done (PfModemHilink *self,
                 Request       *request)
{
  g_autoptr(PfModemInfo) probe = pf_modem_info_new ();
  g_autofree char *reason = NULL;
  const char *body;
  gsize len;

  if (request->failure != NULL)
    {
      poll_failed (self, request->failure);
      return;
    }
  if (request->status >= 500)
    {
      reason = g_strdup_printf ("HTTP %u", request->status);
      poll_failed (self, reason);
      return;
    }

  body = request_body (request, &len);
  if (request->status == SOUP_STATUS_OK && pf_hilink_parse_zte (body, len, probe, NULL))
    {
      g_message ("%s: ZTE API", log_name (self));
      self->flavour = FLAVOUR_ZTE;
      self->ever_detected = TRUE;
      pf_modem_info_free (self->building);
      self->building = g_steal_pointer (&probe);
      self->got_data = TRUE;
      poll_succeeded (self);
      return;
    }

  /* Neither flavour: say what Huawei's address gave, usually a 404. */
  poll_no_api (self, self->detect_reason);
}

/* Huawei */

static void
update_token (PfModemHilink *self,
              Request       *request)
{
  const char *token = soup_message_headers_get_one (soup_message_get_response_headers (request->msg),
                                                    TOKEN_HEADER);

  /* Some firmwares rotate the token and hand out the next one here;
   * after a login it may be "t1#t2#…": the first is the next one. */
  if (token != NULL && *token != '\0')
    {
      g_free (self->token);
      self->token = g_strndup (token, strcspn (token, "#"));
    }
}

static void
huawei_step_done (PfModemHilink *self,
                  Request       *request);

static void
session_refreshed (PfModemHilink *self,
                   Request       *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  const char *body;
  gsize len;

  if (request->failure != NULL)
    {
      reason = g_strdup_printf ("%s on " SESSION_PATH, request->failure);
      poll_failed (self, reason);
      return;
    }
  if (request->status != SOUP_STATUS_OK)
    {
      if (request->status == SOUP_STATUS_NOT_FOUND)
        self->flavour = FLAVOUR_UNKNOWN;
      reason = g_strdup_printf ("HTTP %u on " SESSION_PATH, request->status);
      poll_failed (self, reason);
      return;
    }

  forget_session (self);
  body = request_body (request, &len);
  if (!pf_hilink_parse_huawei_session (body, len, &self->cookie, &self->token, &error) &&
      error->code != PF_HILINK_ERROR_NOT_SUPPORTED && error->code != PF_HILINK_ERROR_API)
    {
      reason = g_strdup_printf ("%s on " SESSION_PATH, error->message);
      poll_failed (self, reason);
      return;
    }
  /* A firmware without sessions answers with an error: go on without. */
  huawei_next_step (self);
}

static void
huawei_next_step (PfModemHilink *self)
{
  if (self->step == 0 && self->have_device)
    self->step = 1;
  if (self->step >= G_N_ELEMENTS (huawei_steps))
    {
      poll_succeeded (self);
      return;
    }
  request_start (self, huawei_steps[self->step].path, huawei_step_done);
}

static void
huawei_step_done (PfModemHilink *self,
                  Request       *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  const char *path = huawei_steps[self->step].path;
  gboolean information = g_str_equal (path, INFORMATION_PATH);
  const char *body;
  gsize len;
  gboolean ok;

  if (request->failure != NULL)
    {
      reason = g_strdup_printf ("%s on %s", request->failure, path);
      poll_failed (self, reason);
      return;
    }
  if (request->status != SOUP_STATUS_OK)
    {
      /* 404: not (any more) a Huawei API: detect again at the next poll. */
      if (request->status == SOUP_STATUS_NOT_FOUND)
        {
          self->flavour = FLAVOUR_UNKNOWN;
          forget_session (self);
        }
      reason = g_strdup_printf ("HTTP %u on %s", request->status, path);
      poll_failed (self, reason);
      return;
    }

  update_token (self, request);
  body = request_body (request, &len);

  if (information)
    {
      g_autoptr(PfModemInfo) device = pf_modem_info_new ();

      ok = pf_hilink_parse_huawei_information (body, len, device, &error);
      if (ok)
        {
          if (!self->have_device || g_strcmp0 (self->device->model, device->model) != 0)
            g_message ("%s: Huawei HiLink API, model \"%s\"", log_name (self), device->model);
          pf_modem_info_free (self->device);
          self->device = g_steal_pointer (&device);
        }
    }
  else
    {
      ok = huawei_steps[self->step].parse (body, len, self->building, &error);
    }

  if (!ok)
    {
      switch (error->code)
        {
        case PF_HILINK_ERROR_TOKEN:
          if (!self->token_retried)
            {
              /* The session expired or the token rotated: once per step. */
              self->token_retried = TRUE;
              g_debug ("%s: %s on %s, refreshing the session", log_name (self), error->message, path);
              request_start (self, SESSION_PATH, session_refreshed);
              return;
            }
          forget_session (self);
          reason = g_strdup_printf ("%s on %s, again after a new session", error->message, path);
          poll_failed (self, reason);
          return;

        case PF_HILINK_ERROR_LOGIN_REQUIRED:
          /* Readable parts are still read; no refresh loop. */
          if (self->note == NULL)
            self->note = g_strdup_printf ("the stick asks for a login (%s on %s)", error->message, path);
          break;

        case PF_HILINK_ERROR_NOT_SUPPORTED:
          break;

        case PF_HILINK_ERROR_API:
        case PF_HILINK_ERROR_GARBAGE:
        default:
          if (information)
            break;   /* optional: the model only */
          reason = g_strdup_printf ("%s on %s", error->message, path);
          poll_failed (self, reason);
          return;
        }
    }
  else if (!information)
    {
      self->got_data = TRUE;
    }

  /* Once per session; again at the next poll if it could not be read. */
  if (information && (ok || error->code == PF_HILINK_ERROR_NOT_SUPPORTED))
    self->have_device = TRUE;
  self->token_retried = FALSE;
  self->step++;
  huawei_next_step (self);
}

static void
huawei_detect_done (PfModemHilink *self,
                    Request       *request)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  const char *body;
  gsize len;

  /* The stick answered with a reset: it is there, it just serves no API
   * on that port (poll_no_api() counts it as a failure once an API was seen). */
  if (request->refused)
    {
      poll_no_api (self, "connection refused");
      return;
    }
  if (request->failure != NULL)
    {
      poll_failed (self, request->failure);
      return;
    }
  if (request->status >= 500)
    {
      reason = g_strdup_printf ("HTTP %u on " SESSION_PATH, request->status);
      poll_failed (self, reason);
      return;
    }

  body = request_body (request, &len);
  if (request->status == SOUP_STATUS_OK)
    {
      g_autofree char *cookie = NULL;
      g_autofree char *token = NULL;

      if (pf_hilink_parse_huawei_session (body, len, &cookie, &token, &error) ||
          error->code != PF_HILINK_ERROR_GARBAGE)
        {
          /* A Huawei API, with sessions or (an error document) without. */
          if (self->flavour != FLAVOUR_HUAWEI)
            g_info ("%s: Huawei HiLink API", log_name (self));
          self->flavour = FLAVOUR_HUAWEI;
          self->ever_detected = TRUE;
          forget_session (self);
          self->cookie = g_steal_pointer (&cookie);
          self->token = g_steal_pointer (&token);
          self->have_device = FALSE;
          self->step = 0;
          huawei_next_step (self);
          return;
        }
      self->detect_reason = g_strdup ("HTTP 200, not an API answer");
    }
  else
    {
      self->detect_reason = g_strdup_printf ("HTTP %u", request->status);
    }

  request_start (self, ZTE_PATH, zte_detect_done);
}

/* Scheduling */

static gboolean
poll_cb (gpointer user_data)
{
  PfModemHilink *self = user_data;

  self->poll_id = 0;
  if (!self->running || self->request != NULL)
    return G_SOURCE_REMOVE;

  poll_clear (self);
  self->building = pf_modem_info_new ();

  switch (self->flavour)
    {
    case FLAVOUR_HUAWEI:
      if (self->cookie == NULL)
        request_start (self, SESSION_PATH, session_refreshed);
      else
        huawei_next_step (self);
      break;
    case FLAVOUR_ZTE:
      request_start (self, ZTE_PATH, zte_done);
      break;
    case FLAVOUR_UNKNOWN:
    case FLAVOUR_NONE:
    default:
      request_start (self, SESSION_PATH, huawei_detect_done);
      break;
    }
  return G_SOURCE_REMOVE;
}

static void
poll_schedule (PfModemHilink *self,
               guint          delay_s)
{
  g_clear_handle_id (&self->poll_id, g_source_remove);
  if (!self->running)
    return;
  if (delay_s == 0)
    self->poll_id = g_idle_add (poll_cb, self);
  else
    self->poll_id = g_timeout_add_seconds (delay_s, poll_cb, self);
}

static void
pf_modem_hilink_start (PfModem *modem)
{
  PfModemHilink *self = PF_MODEM_HILINK (modem);

  self->running = TRUE;
  self->failures = 0;
  poll_schedule (self, 0);
}

static void
pf_modem_hilink_stop (PfModem *modem)
{
  PfModemHilink *self = PF_MODEM_HILINK (modem);

  self->running = FALSE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  request_cancel (self);
  poll_clear (self);
}

const char *
pf_modem_hilink_get_flavour (PfModemHilink *self)
{
  g_return_val_if_fail (PF_IS_MODEM_HILINK (self), NULL);

  switch (self->flavour)
    {
    case FLAVOUR_HUAWEI:
      return "huawei";
    case FLAVOUR_ZTE:
      return "zte";
    case FLAVOUR_NONE:
      return "none";
    case FLAVOUR_UNKNOWN:
    default:
      return "";
    }
}

static void
pf_modem_hilink_dispose (GObject *object)
{
  PfModemHilink *self = PF_MODEM_HILINK (object);

  self->running = FALSE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  request_cancel (self);
  poll_clear (self);
  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (pf_modem_hilink_parent_class)->dispose (object);
}

static void
pf_modem_hilink_finalize (GObject *object)
{
  PfModemHilink *self = PF_MODEM_HILINK (object);

  g_free (self->base_url);
  g_free (self->ifname);
  forget_session (self);
  pf_modem_info_free (self->device);
  G_OBJECT_CLASS (pf_modem_hilink_parent_class)->finalize (object);
}

static void
pf_modem_hilink_class_init (PfModemHilinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PfModemClass *modem_class = PF_MODEM_CLASS (klass);

  object_class->dispose = pf_modem_hilink_dispose;
  object_class->finalize = pf_modem_hilink_finalize;
  modem_class->name = "hilink";
  modem_class->start = pf_modem_hilink_start;
  modem_class->stop = pf_modem_hilink_stop;
}

static void
pf_modem_hilink_init (PfModemHilink *self)
{
}

PfModem *
pf_modem_hilink_new (const char *base_url,
                     const char *ifname,
                     guint       poll_interval_s)
{
  g_autofree char *user_agent = NULL;
  PfModemHilink *self;
  gsize len;

  g_return_val_if_fail (base_url != NULL && *base_url != '\0', NULL);

  self = g_object_new (PF_TYPE_MODEM_HILINK, NULL);
  len = strlen (base_url);
  while (len > 0 && base_url[len - 1] == '/')
    len--;
  self->base_url = g_strndup (base_url, len);
  self->ifname = ifname != NULL && *ifname != '\0' ? g_strdup (ifname) : NULL;
  self->poll_s = poll_interval_s != 0 ? poll_interval_s : PF_MODEM_HILINK_DEFAULT_POLL_S;
  self->device = pf_modem_info_new ();

  user_agent = g_strdup_printf ("pvefailover/%s", PACKAGE_VERSION);
  self->session = g_object_new (SOUP_TYPE_SESSION,
                                "max-conns", 2,
                                "max-conns-per-host", 1,
                                "timeout", PF_MODEM_HILINK_REQUEST_TIMEOUT_S + 1,
                                "idle-timeout", 10,
                                "user-agent", user_agent,
                                NULL);
  /* The management address, directly: never through a proxy. */
  soup_session_set_proxy_resolver (self->session, NULL);

  return PF_MODEM (self);
}
