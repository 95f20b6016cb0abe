/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pvefailover configuration: a GKeyFile parsed into the plain structs of
 * pf-config.h, with defaults and validation.
 *
 * GKeyFile does not keep line numbers and silently merges duplicate groups
 * and keys, so the text is first scanned into a small line index (groups and
 * keys in file order, with their lines). The index also catches what GKeyFile
 * would refuse without saying where. Values are then read through GKeyFile
 * (which handles escapes) and every error names FILE:LINE, the group, the key
 * and the reason:
 *
 *   pvefailover.conf:12: [uplink lte] key "standby": invalid value "warm" (expected hot or cold)
 *
 * Errors are collected in three stages (syntax, values, consistency); a
 * stage only runs when the previous one found nothing, so one mistake does
 * not cascade. The message holds every error of the failing stage, sorted by
 * line, one per line: the first line is the first error in the file.
 */
#include "config.h"

#define G_LOG_DOMAIN "pvefailover-config"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pf-config.h"
#include "pf-error.h"

/* Defaults of the per-uplink keys (the daemon's are in pf-config.h). */
#define DEFAULT_BACKUP_PRIORITY        100
#define DEFAULT_QUORUM                 1
#define DEFAULT_INTERVAL_MS            500
#define DEFAULT_FAST_INTERVAL_MS       100
#define DEFAULT_TIMEOUT_MS             400
#define DEFAULT_DOWN_ROUNDS            5
#define DEFAULT_UP_ROUNDS              10
#define DEFAULT_UP_TIME_MS             (5 * 1000)
#define DEFAULT_FAILBACK_HOLD_MS       (60 * 1000)
#define DEFAULT_DEGRADED_LOSS          20
#define DEFAULT_STANDBY_TEST_INTERVAL_S (30 * 60)
#define DEFAULT_ACTIVATE_TIMEOUT_MS    (30 * 1000)
#define DEFAULT_MODEM_POLL_MS          (60 * 1000)
#define DEFAULT_SIGNAL_RATE_MS         (30 * 1000)
#define DEFAULT_SIGNAL_ALERT_DBM       (-115)
#define DEFAULT_SIGNAL_ALERT_MS        (5 * 60 * 1000)
#define DEFAULT_REGISTRATION_GRACE_MS  (2 * 60 * 1000)
#define DEFAULT_BILLING_DAY            1
static const guint default_usage_alerts[] = { 50, 80, 95, 100 };

#define SECOND_MS  1000u
#define MINUTE_MS  (60u * SECOND_MS)
#define HOUR_MS    (60u * MINUTE_MS)
#define DAY_MS     (24u * HOUR_MS)

#define MAX_ERRORS 20

#define UPLINK_GROUP_PREFIX "uplink "
#define NOTIFY_GROUP_PREFIX "notify "
#define FORWARD_GROUP_PREFIX "forward "
#define REMOTE_GROUP_PREFIX "remote-access "
#define UPLINK_NAME_MAX     32
#define IFNAME_MAX          15

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

/* The names of enum values, indexed by value and NULL-terminated: the one
 * list that both printing and parsing use. */
static const char *const probe_kind_names[] = {
  [PF_PROBE_ICMP] = "icmp",
  [PF_PROBE_TCP] = "tcp",
  [PF_PROBE_DNS] = "dns",
  [PF_PROBE_HTTP] = "http",
  [PF_PROBE_HTTPS] = "https",
  NULL
};
static const char *const standby_names[] = {
  [PF_STANDBY_HOT] = "hot",
  [PF_STANDBY_COLD] = "cold",
  NULL
};
static const char *const modem_source_names[] = {
  [PF_MODEM_SOURCE_AUTO] = "auto",
  [PF_MODEM_SOURCE_MODEMMANAGER] = "modemmanager",
  [PF_MODEM_SOURCE_HILINK] = "hilink",
  [PF_MODEM_SOURCE_NONE] = "none",
  NULL
};
static const char *const role_names[] = {
  [PF_ROLE_PRIMARY] = "primary",
  [PF_ROLE_BACKUP] = "backup",
  NULL
};
static const char *const on_stop_names[] = {
  [PF_ON_STOP_RESTORE] = "restore",
  [PF_ON_STOP_KEEP] = "keep",
  NULL
};
static const char *const cap_action_names[] = {
  [PF_CAP_NOTIFY] = "notify",
  [PF_CAP_RESTRICT] = "restrict",
  [PF_CAP_BLOCK] = "block",
  NULL
};
static const char *const notifier_kind_names[] = {
  [PF_NOTIFIER_TELEGRAM] = "telegram",
  [PF_NOTIFIER_WEBHOOK] = "webhook",
  NULL
};
static const char *const dns_mode_names[] = {
  [PF_DNS_MODE_AUTO] = "auto",
  [PF_DNS_MODE_NETWORKMANAGER] = "networkmanager",
  [PF_DNS_MODE_RESOLV_CONF] = "resolv.conf",
  [PF_DNS_MODE_OFF] = "off",
  NULL
};
static const char *const language_names[] = { "en", "fr", NULL };

static const char *
enum_to_string (const char *const *names,
                guint              value)
{
  return value < g_strv_length ((char **) names) ? names[value] : "unknown";
}

const char *
pf_probe_kind_to_string (PfProbeKind kind)
{
  return enum_to_string (probe_kind_names, kind);
}

const char *
pf_standby_to_string (PfStandby standby)
{
  return enum_to_string (standby_names, standby);
}

const char *
pf_modem_source_to_string (PfModemSource source)
{
  return enum_to_string (modem_source_names, source);
}

const char *
pf_role_to_string (PfRole role)
{
  return enum_to_string (role_names, role);
}

const char *
pf_on_stop_to_string (PfOnStop on_stop)
{
  return enum_to_string (on_stop_names, on_stop);
}

const char *
pf_cap_action_to_string (PfCapAction action)
{
  return enum_to_string (cap_action_names, action);
}

const char *
pf_notifier_kind_to_string (PfNotifierKind kind)
{
  return enum_to_string (notifier_kind_names, kind);
}

const char *
pf_dns_mode_to_string (PfDnsMode mode)
{
  return enum_to_string (dns_mode_names, mode);
}

static const struct {
  const char *unit;
  guint64     factor;
} size_units[] = {
  { "B", 1 },
  { "KB", 1000 }, { "MB", 1000 * 1000 }, { "GB", 1000 * 1000 * 1000 },
  { "TB", G_GUINT64_CONSTANT (1000) * 1000 * 1000 * 1000 },
  { "KiB", 1024 }, { "MiB", 1024 * 1024 }, { "GiB", 1024 * 1024 * 1024 },
  { "TiB", G_GUINT64_CONSTANT (1024) * 1024 * 1024 * 1024 },
};

static gboolean
size_invalid (const char  *text,
              GError     **error)
{
  g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
               "invalid value \"%s\" (expected a size such as 10GB, 500MB or 2GiB)", text);
  return FALSE;
}

gboolean
pf_parse_size (const char  *text,
               guint64     *out_bytes,
               GError     **error)
{
  const char *p = text;
  guint64 whole = 0, frac = 0, frac_div = 1;
  gboolean digits = FALSE;

  g_return_val_if_fail (text != NULL && out_bytes != NULL, FALSE);

  for (; g_ascii_isdigit (*p); p++, digits = TRUE)
    {
      if (whole > G_MAXUINT64 / 10 - 1)
        return size_invalid (text, error);
      whole = whole * 10 + (guint64) (*p - '0');
    }
  if (*p == '.')
    for (p++; g_ascii_isdigit (*p); p++, digits = TRUE)
      if (frac_div < 1000000)
        {
          frac = frac * 10 + (guint64) (*p - '0');
          frac_div *= 10;
        }
  if (!digits)
    return size_invalid (text, error);
  while (*p == ' ')
    p++;
  if (*p == '\0' && frac_div == 1)
    {
      *out_bytes = whole;
      return TRUE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (size_units); i++)
    if (g_ascii_strcasecmp (p, size_units[i].unit) == 0 &&
        g_str_has_suffix (size_units[i].unit, "iB") == g_str_has_suffix (p, "iB"))
      {
        guint64 factor = size_units[i].factor;

        if (whole > G_MAXUINT64 / factor - 1)
          return size_invalid (text, error);
        *out_bytes = whole * factor + frac * factor / frac_div;
        return TRUE;
      }
  return size_invalid (text, error);
}

char *
pf_format_size (guint64 bytes)
{
  static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
  double value = (double) bytes;
  guint unit = 0;

  while (value >= 1000.0 && unit + 1 < G_N_ELEMENTS (units))
    {
      value /= 1000.0;
      unit++;
    }
  if (unit == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " B", bytes);
  return g_strdup_printf (value < 10.0 ? "%.2f %s" : value < 100.0 ? "%.1f %s" : "%.0f %s",
                          value, units[unit]);
}

char *
pf_format_duration_ms (guint ms)
{
  if (ms == 0)
    return g_strdup ("0");
  if (ms % DAY_MS == 0)
    return g_strdup_printf ("%ud", ms / DAY_MS);
  if (ms % HOUR_MS == 0)
    return g_strdup_printf ("%uh", ms / HOUR_MS);
  if (ms % MINUTE_MS == 0)
    return g_strdup_printf ("%umin", ms / MINUTE_MS);
  if (ms % SECOND_MS == 0)
    return g_strdup_printf ("%us", ms / SECOND_MS);
  if (ms > SECOND_MS && ms % 100 == 0)
    return g_strdup_printf ("%u.%us", ms / SECOND_MS, (ms % SECOND_MS) / 100);
  return g_strdup_printf ("%ums", ms);
}

/* Digits only (no sign, no space); "0x" hex when @allow_hex. */
static gboolean
parse_uint64 (const char *text,
              gboolean    allow_hex,
              guint64    *out)
{
  guint base = 10;
  guint64 value = 0;
  const char *p = text;

  if (allow_hex && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      base = 16;
      p += 2;
    }
  if (*p == '\0')
    return FALSE;

  for (; *p != '\0'; p++)
    {
      int digit = base == 16 ? g_ascii_xdigit_value (*p) : g_ascii_digit_value (*p);

      if (digit < 0)
        return FALSE;
      if (value > (G_MAXUINT64 - (guint64) digit) / base)
        return FALSE;
      value = value * base + (guint64) digit;
    }

  *out = value;
  return TRUE;
}

static gboolean
parse_uint_in_range (const char *text,
                     guint64     min,
                     guint64     max,
                     guint64    *out,
                     GError    **error)
{
  guint64 value;

  if (!parse_uint64 (text, FALSE, &value) || value < min || value > max)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid value \"%s\" (expected a number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT ")", text, min, max);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static guint64
duration_unit_ms (const char *unit,
                  gsize       len)
{
  static const struct { const char *name; guint64 ms; } units[] = {
    { "ms", 1 }, { "msec", 1 },
    { "s", SECOND_MS }, { "sec", SECOND_MS },
    { "m", MINUTE_MS }, { "min", MINUTE_MS },
    { "h", HOUR_MS }, { "hr", HOUR_MS },
    { "d", DAY_MS },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strlen (units[i].name) == len && strncmp (units[i].name, unit, len) == 0)
      return units[i].ms;
  return 0;
}

typedef enum {
  DURATION_OK,
  DURATION_INVALID,
  DURATION_TOO_LONG,
  DURATION_TOO_FINE,
} DurationStatus;

/* One "<number>[ ]<unit>" part at *@pp; a number without a unit is seconds
 * and sets *@plain. */
static DurationStatus
parse_duration_part (const char **pp,
                     guint64     *out_ms,
                     gboolean    *plain)
{
  const char *p = *pp;
  const char *unit_start;
  guint64 integer = 0;
  guint64 fraction = 0;
  guint64 scale = 1;
  guint64 unit;
  gboolean digits = FALSE;

  for (; g_ascii_isdigit (*p); p++)
    {
      digits = TRUE;
      integer = integer * 10 + (guint64) g_ascii_digit_value (*p);
      if (integer > G_MAXUINT32)
        return DURATION_TOO_LONG;
    }
  if (*p == '.')
    {
      for (p++; g_ascii_isdigit (*p); p++)
        {
          digits = TRUE;
          if (scale >= 1000000000)
            return DURATION_TOO_FINE;
          fraction = fraction * 10 + (guint64) g_ascii_digit_value (*p);
          scale *= 10;
        }
    }
  if (!digits)
    return DURATION_INVALID;

  while (*p == ' ' || *p == '\t')
    p++;
  unit_start = p;
  while (g_ascii_isalpha (*p))
    p++;

  *plain = (p == unit_start);
  unit = *plain ? SECOND_MS : duration_unit_ms (unit_start, (gsize) (p - unit_start));
  if (unit == 0)
    return DURATION_INVALID;
  if ((fraction * unit) % scale != 0)
    return DURATION_TOO_FINE;

  *out_ms = integer * unit + fraction * unit / scale;
  while (g_ascii_isspace (*p))
    p++;
  *pp = p;
  return DURATION_OK;
}

gboolean
pf_parse_duration_ms (const char  *text,
                      guint       *out_ms,
                      GError     **error)
{
  const char *p;
  guint64 total = 0;
  guint parts = 0;
  gboolean plain = FALSE;
  DurationStatus status = DURATION_OK;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  p = text;
  while (g_ascii_isspace (*p))
    p++;

  while (*p != '\0' && status == DURATION_OK)
    {
      guint64 part = 0;

      /* A plain number is only valid alone: "1min 30" is ambiguous. */
      if (plain)
        status = DURATION_INVALID;
      else
        status = parse_duration_part (&p, &part, &plain);
      if (status == DURATION_OK && plain && parts > 0)
        status = DURATION_INVALID;
      if (status == DURATION_OK)
        {
          total += part;
          parts++;
          if (total > G_MAXUINT)
            status = DURATION_TOO_LONG;
        }
    }
  if (status == DURATION_OK && parts == 0)
    status = DURATION_INVALID;

  switch (status)
    {
    case DURATION_OK:
      if (out_ms != NULL)
        *out_ms = (guint) total;
      return TRUE;
    case DURATION_TOO_LONG:
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid duration \"%s\" (too long)", text);
      return FALSE;
    case DURATION_TOO_FINE:
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid duration \"%s\" (finer than a millisecond)", text);
      return FALSE;
    case DURATION_INVALID:
    default:
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid duration \"%s\" (expected e.g. 250ms, 1.5s, 2min or 1h; "
                   "a plain number is seconds)", text);
      return FALSE;
    }
}

/* An IPv4 or IPv6 literal, normalised ("2001:DB8::0001" → "2001:db8::1"). */
static char *
normalise_ip (const char *text,
              gboolean    allow_ipv6)
{
  guint8 buf[16];
  char out[INET6_ADDRSTRLEN];

  if (inet_pton (AF_INET, text, buf) == 1)
    return g_strdup (inet_ntop (AF_INET, buf, out, sizeof out));
  if (allow_ipv6 && inet_pton (AF_INET6, text, buf) == 1)
    return g_strdup (inet_ntop (AF_INET6, buf, out, sizeof out));
  return NULL;
}

/* Host names and DNS query names: labels of letters, digits, '-' and '_'
 * separated by dots, an optional final dot; "." alone when @allow_root. */
static gboolean
is_dns_name (const char *text,
             gboolean    allow_root)
{
  gsize len = strlen (text);
  gsize label = 0;

  if (allow_root && g_str_equal (text, "."))
    return TRUE;
  if (len == 0 || len > 253 || text[0] == '.')
    return FALSE;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
        }
      else if (g_ascii_isalnum (*p) || *p == '-' || *p == '_')
        {
          if (++label > 63)
            return FALSE;
        }
      else
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_uplink_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > UPLINK_NAME_MAX)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '-'))
      return FALSE;
  return TRUE;
}

/* What the kernel's dev_valid_name() accepts. */
static gboolean
is_interface_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > IFNAME_MAX || g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (*p == '/' || *p == ':' || g_ascii_isspace (*p) || !g_ascii_isgraph (*p))
      return FALSE;
  return TRUE;
}

static gboolean
parse_port (const char *text,
            guint16    *out)
{
  guint64 value;

  if (!parse_uint64 (text, FALSE, &value) || value < 1 || value > 65535)
    return FALSE;
  *out = (guint16) value;
  return TRUE;
}

/* "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT"; a bare IPv6 address has no
 * port. *@port is left alone when none is given. */
static gboolean
parse_address_port (const char  *text,
                    gboolean     port_required,
                    char       **out_address,
                    guint16     *port)
{
  g_autofree char *host = NULL;
  const char *port_text = NULL;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL)
        return FALSE;
      host = g_strndup (text + 1, (gsize) (end - text - 1));
      if (end[1] == ':')
        port_text = end + 2;
      else if (end[1] != '\0')
        return FALSE;
      if (strchr (host, ':') == NULL)
        return FALSE;  /* brackets are for IPv6 only */
    }
  else
    {
      const char *colon = strchr (text, ':');

      if (colon != NULL && strchr (colon + 1, ':') == NULL)
        {
          host = g_strndup (text, (gsize) (colon - text));
          port_text = colon + 1;
        }
      else
        host = g_strdup (text);  /* IPv4 alone, or a bare IPv6 address */
    }

  if (port_text != NULL && !parse_port (port_text, port))
    return FALSE;
  if (port_text == NULL && port_required)
    return FALSE;

  *out_address = normalise_ip (host, TRUE);
  return *out_address != NULL;
}

void
pf_probe_target_free (PfProbeTarget *target)
{
  if (target == NULL)
    return;
  g_free (target->spec);
  g_free (target->address);
  g_free (target->path);
  g_free (target->qname);
  g_free (target);
}

static PfProbeTarget *
pf_probe_target_copy (const PfProbeTarget *target)
{
  PfProbeTarget *copy = g_new0 (PfProbeTarget, 1);

  copy->kind = target->kind;
  copy->spec = g_strdup (target->spec);
  copy->address = g_strdup (target->address);
  copy->port = target->port;
  copy->path = g_strdup (target->path);
  copy->qname = g_strdup (target->qname);
  return copy;
}

static gboolean
parse_http_target (PfProbeTarget *target,
                   const char    *spec,
                   gboolean       https)
{
  g_autoptr(GUri) uri = NULL;
  const char *host;
  int port;

  uri = g_uri_parse (spec, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    return FALSE;
  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0' || g_uri_get_userinfo (uri) != NULL)
    return FALSE;

  target->kind = https ? PF_PROBE_HTTPS : PF_PROBE_HTTP;
  target->address = normalise_ip (host, TRUE);
  if (target->address == NULL)
    {
      if (!is_dns_name (host, FALSE))
        return FALSE;
      target->address = g_ascii_strdown (host, -1);
    }

  port = g_uri_get_port (uri);
  if (port == 0 || port > 65535)
    return FALSE;
  target->port = port > 0 ? (guint16) port : (https ? 443 : 80);

  if (g_uri_get_query (uri) != NULL)
    target->path = g_strdup_printf ("%s?%s",
                                    *g_uri_get_path (uri) != '\0' ? g_uri_get_path (uri) : "/",
                                    g_uri_get_query (uri));
  else
    target->path = g_strdup (*g_uri_get_path (uri) != '\0' ? g_uri_get_path (uri) : "/");
  return TRUE;
}

static gboolean
parse_dns_target (PfProbeTarget *target,
                  const char    *rest)
{
  const char *slash = strchr (rest, '/');
  g_autofree char *server = NULL;

  target->kind = PF_PROBE_DNS;
  target->port = 53;
  if (slash != NULL)
    {
      server = g_strndup (rest, (gsize) (slash - rest));
      if (!is_dns_name (slash + 1, TRUE))
        return FALSE;
      target->qname = g_strdup (slash + 1);
    }
  else
    {
      server = g_strdup (rest);
      target->qname = g_strdup (".");
    }
  return parse_address_port (server, FALSE, &target->address, &target->port);
}

PfProbeTarget *
pf_probe_target_parse (const char  *spec,
                       GError     **error)
{
  g_autoptr(PfProbeTarget) target = NULL;
  const char *expected = NULL;

  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  target = g_new0 (PfProbeTarget, 1);
  target->spec = g_strdup (spec);

  if (g_str_has_prefix (spec, "icmp:"))
    {
      const char *addr = spec + strlen ("icmp:");
      g_autofree char *inner = NULL;

      target->kind = PF_PROBE_ICMP;
      /* Brackets are for IPv6 only, as in tcp: and dns:. */
      if (addr[0] == '[' && g_str_has_suffix (addr, "]") && strchr (addr, ':') != NULL)
        addr = inner = g_strndup (addr + 1, strlen (addr) - 2);
      target->address = normalise_ip (addr, TRUE);
      if (target->address == NULL)
        expected = "icmp:ADDR with an IPv4 or IPv6 address";
    }
  else if (g_str_has_prefix (spec, "tcp:"))
    {
      target->kind = PF_PROBE_TCP;
      if (!parse_address_port (spec + strlen ("tcp:"), TRUE, &target->address, &target->port))
        expected = "tcp:ADDR:PORT with an IPv4 address or [IPv6] and a port from 1 to 65535";
    }
  else if (g_str_has_prefix (spec, "dns:"))
    {
      if (!parse_dns_target (target, spec + strlen ("dns:")))
        expected = "dns:ADDR[:PORT]/NAME with an IPv4 address or [IPv6] and a DNS name";
    }
  else if (g_ascii_strncasecmp (spec, "http://", strlen ("http://")) == 0)
    {
      if (!parse_http_target (target, spec, FALSE))
        expected = "http://HOST[:PORT]/PATH";
    }
  else if (g_ascii_strncasecmp (spec, "https://", strlen ("https://")) == 0)
    {
      if (!parse_http_target (target, spec, TRUE))
        expected = "https://HOST[:PORT]/PATH";
    }
  else
    {
      expected = "icmp:ADDR, tcp:ADDR:PORT, dns:ADDR[:PORT]/NAME, "
                 "http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH";
    }

  if (expected != NULL)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid target \"%s\" (expected %s)", spec, expected);
      return NULL;
    }
  return g_steal_pointer (&target);
}

/* Guests: an IPv4 or IPv6 address or network ("192.168.2.29",
 * "192.168.2.0/24", "2001:db8:2::/64") → "A.B.C.D/N" or "X::Y/N", with
 * *@out_family telling which; host bits must be clear. */
static char *
parse_network (const char  *text,
               int         *out_family,
               GError     **error)
{
  g_auto(GStrv) parts = g_strsplit (text, "/", 2);
  int family = strchr (parts[0], ':') != NULL ? AF_INET6 : AF_INET;
  guint bits = family == AF_INET6 ? 128 : 32;
  guint64 prefix = bits;
  guint8 addr[16];
  gboolean host_bits = FALSE;
  char out[INET6_ADDRSTRLEN];

  if (inet_pton (family, parts[0], addr) != 1 ||
      (parts[1] != NULL && (!parse_uint64 (parts[1], FALSE, &prefix) || prefix > bits)))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid network \"%s\" (expected an IPv4 or IPv6 address or network "
                   "such as 192.168.2.29, 192.168.2.0/24 or 2001:db8:2::/64)", text);
      return NULL;
    }

  for (guint i = 0; i < bits / 8; i++)
    {
      guint keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? (guint) prefix - i * 8 : 0;
      guint8 mask = (guint8) (0xff00 >> keep);

      host_bits |= (addr[i] & ~mask) != 0;
      addr[i] &= mask;
    }
  if (host_bits)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid network \"%s\" (host bits set; did you mean %s/%u?)",
                   text, inet_ntop (family, addr, out, sizeof out), (guint) prefix);
      return NULL;
    }
  *out_family = family;
  return g_strdup_printf ("%s/%u", inet_ntop (family, addr, out, sizeof out), (guint) prefix);
}

/* Lists are separated by ';', ',' or white space. */
static GStrv
split_list (const char *value)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) tokens = g_strsplit_set (value, ";, \t", -1);

  for (guint i = 0; tokens[i] != NULL; i++)
    if (*tokens[i] != '\0')
      g_strv_builder_add (builder, tokens[i]);
  return g_strv_builder_end (builder);
}

/* ------------------------------------------------------------------------ */
/* Error collection                                                         */

typedef struct {
  guint  line;   /* 0: not tied to a line, sorted last */
  guint  seq;
  char  *message;
} PfConfigProblem;

static void
problem_free (PfConfigProblem *problem)
{
  g_free (problem->message);
  g_free (problem);
}

/* ------------------------------------------------------------------------ */
/* Line index                                                               */

typedef struct {
  char  *name;
  guint  line;
} PfLineKey;

typedef struct {
  char      *name;
  guint      line;
  GPtrArray *keys;   /* PfLineKey, file order */
} PfLineGroup;

static void
line_key_free (PfLineKey *key)
{
  g_free (key->name);
  g_free (key);
}

static void
line_group_free (PfLineGroup *group)
{
  g_free (group->name);
  g_ptr_array_unref (group->keys);
  g_free (group);
}

typedef struct {
  const char *path;
  GPtrArray  *groups;    /* PfLineGroup, file order */
  GKeyFile   *keyfile;
  GPtrArray  *problems;  /* PfConfigProblem */
  PfConfig   *config;
} PfParser;

static void
add_problem_valist (PfParser   *parser,
                    guint       line,
                    const char *group,
                    const char *key,
                    const char *format,
                    va_list     args) G_GNUC_PRINTF (5, 0);

static void
add_problem_valist (PfParser   *parser,
                    guint       line,
                    const char *group,
                    const char *key,
                    const char *format,
                    va_list     args)
{
  GString *msg = g_string_new (parser->path);
  PfConfigProblem *problem;

  if (line > 0)
    g_string_append_printf (msg, ":%u", line);
  g_string_append (msg, ": ");
  if (group != NULL && key != NULL)
    g_string_append_printf (msg, "[%s] key \"%s\": ", group, key);
  else if (group != NULL)
    g_string_append_printf (msg, "[%s]: ", group);
  g_string_append_vprintf (msg, format, args);

  problem = g_new0 (PfConfigProblem, 1);
  problem->line = line;
  problem->seq = parser->problems->len;
  problem->message = g_string_free (msg, FALSE);
  g_ptr_array_add (parser->problems, problem);
}

static void add_problem (PfParser *parser, guint line, const char *group, const char *key,
                         const char *format, ...) G_GNUC_PRINTF (5, 6);

static void
add_problem (PfParser   *parser,
             guint       line,
             const char *group,
             const char *key,
             const char *format,
             ...)
{
  va_list args;

  va_start (args, format);
  add_problem_valist (parser, line, group, key, format, args);
  va_end (args);
}

static gint
problem_compare (gconstpointer a,
                 gconstpointer b)
{
  const PfConfigProblem *pa = *(PfConfigProblem * const *) a;
  const PfConfigProblem *pb = *(PfConfigProblem * const *) b;
  guint la = pa->line > 0 ? pa->line : G_MAXUINT;
  guint lb = pb->line > 0 ? pb->line : G_MAXUINT;

  if (la != lb)
    return la < lb ? -1 : 1;
  return pa->seq < pb->seq ? -1 : (pa->seq > pb->seq ? 1 : 0);
}

/* TRUE when nothing was found; otherwise sets @error from the problems. */
static gboolean
parser_check (PfParser  *parser,
              GError   **error)
{
  g_autoptr(GString) msg = NULL;
  guint shown;

  if (parser->problems->len == 0)
    return TRUE;

  g_ptr_array_sort (parser->problems, problem_compare);
  msg = g_string_new (NULL);
  shown = MIN (parser->problems->len, MAX_ERRORS);
  for (guint i = 0; i < shown; i++)
    {
      const PfConfigProblem *problem = g_ptr_array_index (parser->problems, i);

      if (i > 0)
        g_string_append_c (msg, '\n');
      g_string_append (msg, problem->message);
    }
  if (parser->problems->len > shown)
    g_string_append_printf (msg, "\n%s: %u more errors not shown",
                            parser->path, parser->problems->len - shown);

  g_set_error_literal (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, msg->str);
  return FALSE;
}

static PfLineGroup *
index_find_group (PfParser   *parser,
                  const char *name)
{
  for (guint i = 0; i < parser->groups->len; i++)
    {
      PfLineGroup *group = g_ptr_array_index (parser->groups, i);

      if (g_str_equal (group->name, name))
        return group;
    }
  return NULL;
}

static guint
group_key_line (const PfLineGroup *group,
                const char        *key)
{
  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *entry = g_ptr_array_index (group->keys, i);

      if (g_str_equal (entry->name, key))
        return entry->line;
    }
  return 0;
}

/* For messages: a line cut to a readable length. */
static char *
excerpt (const char *text)
{
  g_autofree char *head = NULL;

  if (g_utf8_strlen (text, -1) <= 40)
    return g_strdup (text);
  head = g_utf8_substring (text, 0, 40);
  return g_strconcat (head, "…", NULL);
}

/* GKeyFile's notion of a group line: '[', a name up to the first ']', then
 * only blanks. */
static gboolean
line_is_group (const char  *line,
               char       **out_name)
{
  const char *end;

  if (line[0] != '[')
    return FALSE;
  end = strchr (line, ']');
  if (end == NULL)
    return FALSE;
  for (const char *p = end + 1; *p != '\0'; p++)
    if (*p != ' ' && *p != '\t')
      return FALSE;
  *out_name = g_strndup (line + 1, (gsize) (end - line - 1));
  return TRUE;
}

static void
index_line (PfParser     *parser,
            guint         line_no,
            char         *line,
            PfLineGroup **current,
            gboolean     *skipping)
{
  g_autofree char *group_name = NULL;
  g_autofree char *key = NULL;
  const char *s = line;
  const char *eq;
  guint first;

  if (!g_utf8_validate (line, -1, NULL))
    {
      add_problem (parser, line_no, NULL, NULL, "line is not valid UTF-8");
      return;
    }

  while (g_ascii_isspace (*s))
    s++;
  if (*s == '\0' || *s == '#')
    return;

  if (line_is_group (s, &group_name))
    {
      PfLineGroup *existing = index_find_group (parser, group_name);
      gboolean valid = *group_name != '\0';

      for (const char *p = group_name; *p != '\0'; p++)
        if (*p == '[' || g_ascii_iscntrl (*p))
          valid = FALSE;

      *current = NULL;
      *skipping = TRUE;
      if (!valid)
        {
          g_autofree char *shown = excerpt (s);

          add_problem (parser, line_no, NULL, NULL, "invalid group name in \"%s\"", shown);
        }
      else if (existing != NULL)
        {
          add_problem (parser, line_no, NULL, NULL, "duplicate group [%s] (first at line %u)",
                       group_name, existing->line);
        }
      else
        {
          PfLineGroup *group = g_new0 (PfLineGroup, 1);

          group->name = g_steal_pointer (&group_name);
          group->line = line_no;
          group->keys = g_ptr_array_new_with_free_func ((GDestroyNotify) line_key_free);
          g_ptr_array_add (parser->groups, group);
          *current = group;
          *skipping = FALSE;
        }
      return;
    }

  eq = strchr (s, '=');
  if (eq == NULL || eq == s)
    {
      g_autofree char *shown = excerpt (s);

      add_problem (parser, line_no, NULL, NULL,
                   "invalid line \"%s\" (expected [group], key=value or a # comment)", shown);
      return;
    }

  key = g_strchomp (g_strndup (s, (gsize) (eq - s)));
  if (strpbrk (key, "[]") != NULL)
    add_problem (parser, line_no, NULL, NULL, "invalid key name \"%s\"", key);
  else if (*current == NULL && !*skipping)
    add_problem (parser, line_no, NULL, NULL, "key \"%s\" outside any [group]", key);
  else if (*current == NULL)
    return;  /* in a refused group, already reported */
  else if ((first = group_key_line (*current, key)) != 0)
    add_problem (parser, line_no, (*current)->name, key, "duplicate key (first at line %u)", first);
  else
    {
      PfLineKey *entry = g_new0 (PfLineKey, 1);

      entry->name = g_steal_pointer (&key);
      entry->line = line_no;
      g_ptr_array_add ((*current)->keys, entry);
    }
}

static void
index_build (PfParser   *parser,
             const char *data,
             gsize       length)
{
  PfLineGroup *current = NULL;
  gboolean skipping = FALSE;
  gsize start = 0;
  guint line_no = 1;

  while (start < length)
    {
      const char *nl = memchr (data + start, '\n', length - start);
      gsize end = nl != NULL ? (gsize) (nl - data) : length;
      gsize line_len = end - start;
      g_autofree char *line = NULL;

      if (line_len > 0 && data[start + line_len - 1] == '\r')
        line_len--;
      line = g_strndup (data + start, line_len);
      index_line (parser, line_no, line, &current, &skipping);

      start = end + 1;
      line_no++;
    }
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */

static void
uplink_free (PfUplinkConfig *uplink)
{
  if (uplink == NULL)
    return;
  g_free (uplink->name);
  g_free (uplink->interface);
  g_free (uplink->connection);
  g_clear_pointer (&uplink->targets, g_ptr_array_unref);
  g_free (uplink->management);
  g_free (uplink->gateway);
  g_free (uplink->gateway6);
  g_free (uplink->modem_api);
  g_free (uplink->billing_start);
  g_strfreev (uplink->dns);
  g_free (uplink->via);
  g_free (uplink->server);
  g_free (uplink);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfUplinkConfig, uplink_free)

static PfUplinkConfig *
uplink_new (const char *name)
{
  PfUplinkConfig *uplink = g_new0 (PfUplinkConfig, 1);

  uplink->name = g_strdup (name);
  uplink->role = PF_ROLE_BACKUP;
  uplink->priority = DEFAULT_BACKUP_PRIORITY;
  uplink->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) pf_probe_target_free);
  uplink->quorum = DEFAULT_QUORUM;
  uplink->interval_ms = DEFAULT_INTERVAL_MS;
  uplink->fast_interval_ms = DEFAULT_FAST_INTERVAL_MS;
  uplink->timeout_ms = DEFAULT_TIMEOUT_MS;
  uplink->down_rounds = DEFAULT_DOWN_ROUNDS;
  uplink->up_rounds = DEFAULT_UP_ROUNDS;
  uplink->up_min_ms = DEFAULT_UP_TIME_MS;
  uplink->failback_hold_ms = DEFAULT_FAILBACK_HOLD_MS;
  uplink->degraded_loss = DEFAULT_DEGRADED_LOSS;
  uplink->standby = PF_STANDBY_HOT;
  uplink->standby_test_interval_s = DEFAULT_STANDBY_TEST_INTERVAL_S;
  uplink->table = 0;  /* assigned once the uplinks are sorted */
  uplink->activate_timeout_ms = DEFAULT_ACTIVATE_TIMEOUT_MS;
  uplink->modem = PF_MODEM_SOURCE_AUTO;
  uplink->modem_poll_ms = DEFAULT_MODEM_POLL_MS;
  uplink->signal_rate_ms = DEFAULT_SIGNAL_RATE_MS;
  uplink->signal_alert_dbm = DEFAULT_SIGNAL_ALERT_DBM;
  uplink->signal_alert_ms = DEFAULT_SIGNAL_ALERT_MS;
  uplink->registration_grace_ms = DEFAULT_REGISTRATION_GRACE_MS;
  uplink->billing_day = DEFAULT_BILLING_DAY;
  uplink->n_usage_alerts = G_N_ELEMENTS (default_usage_alerts);
  memcpy (uplink->usage_alerts, default_usage_alerts, sizeof default_usage_alerts);
  uplink->cap_action = PF_CAP_NOTIFY;
  return uplink;
}

typedef struct _UplinkKey UplinkKey;

/* Parse @value into @uplink; on error set a reason without location. */
typedef gboolean (*UplinkKeyParse) (const UplinkKey  *spec,
                                    PfUplinkConfig   *uplink,
                                    const char       *value,
                                    GError          **error);

struct _UplinkKey {
  const char     *name;
  UplinkKeyParse  parse;
  gsize           offset;       /* field for the generic parsers */
  guint           min;          /* numbers; durations in ms */
  guint           max;
  gboolean        backup_only;
};

static gboolean
invalid_value (GError    **error,
               const char *value,
               const char *expected)
{
  g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
               "invalid value \"%s\" (expected %s)", value, expected);
  return FALSE;
}

/* The value named @text, else an error that lists the names
 * ("... (expected hot or cold)"). */
static gboolean
enum_from_string (const char *const  *names,
                  const char         *text,
                  guint              *out_value,
                  GError            **error)
{
  g_autoptr(GString) expected = g_string_new (NULL);
  guint n = g_strv_length ((char **) names);

  for (guint value = 0; names[value] != NULL; value++)
    if (g_str_equal (text, names[value]))
      {
        *out_value = value;
        return TRUE;
      }

  /* "hot or cold", "a, b, c or d" */
  for (guint i = 0; i < n; i++)
    g_string_append_printf (expected, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
  return invalid_value (error, text, expected->str);
}

static gboolean
uplink_parse_role (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint role;

  if (!enum_from_string (role_names, value, &role, error))
    return FALSE;
  uplink->role = role;
  return TRUE;
}

static gboolean
uplink_parse_priority (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint64 priority;

  if (uplink->role == PF_ROLE_PRIMARY)
    {
      if (!g_str_equal (value, "0"))
        return invalid_value (error, value, "0: the primary's priority is always 0");
      uplink->priority = 0;
      return TRUE;
    }
  if (!parse_uint_in_range (value, spec->min, spec->max, &priority, error))
    return FALSE;
  uplink->priority = (guint) priority;
  return TRUE;
}

static gboolean
uplink_parse_interface (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  if (!is_interface_name (value))
    return invalid_value (error, value, "a Linux interface name: 1 to 15 characters, "
                                        "no '/', ':' or white space");
  g_free (uplink->interface);
  uplink->interface = g_strdup (value);
  return TRUE;
}

static gboolean
uplink_parse_connection (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  g_free (uplink->connection);
  uplink->connection = g_strdup (value);
  return TRUE;
}

static gboolean
uplink_parse_targets (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  g_auto(GStrv) specs = split_list (value);

  if (specs[0] == NULL)
    return invalid_value (error, value, "a list of probe targets");

  g_ptr_array_set_size (uplink->targets, 0);
  for (guint i = 0; specs[i] != NULL; i++)
    {
      PfProbeTarget *target;

      for (guint j = 0; j < i; j++)
        if (g_str_equal (specs[i], specs[j]))
          {
            g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                         "target \"%s\" is listed twice", specs[i]);
            return FALSE;
          }
      target = pf_probe_target_parse (specs[i], error);
      if (target == NULL)
        return FALSE;
      g_ptr_array_add (uplink->targets, target);
    }
  return TRUE;
}

static gboolean
uplink_parse_uint (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint64 number;

  if (!parse_uint_in_range (value, spec->min, spec->max, &number, error))
    return FALSE;
  G_STRUCT_MEMBER (guint, uplink, spec->offset) = (guint) number;
  return TRUE;
}

static gboolean
duration_in_range (const char  *value,
                   guint        min_ms,
                   guint        max_ms,
                   gboolean     allow_zero,
                   guint       *out_ms,
                   GError     **error)
{
  guint ms;

  if (!pf_parse_duration_ms (value, &ms, error))
    return FALSE;
  if ((ms < min_ms || ms > max_ms) && !(allow_zero && ms == 0))
    {
      g_autofree char *min_text = pf_format_duration_ms (min_ms);
      g_autofree char *max_text = pf_format_duration_ms (max_ms);

      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "invalid value \"%s\" (expected %sa duration from %s to %s)",
                   value, allow_zero ? "0 or " : "", min_text, max_text);
      return FALSE;
    }
  *out_ms = ms;
  return TRUE;
}

static gboolean
uplink_parse_duration (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint ms;

  if (!duration_in_range (value, spec->min, spec->max, FALSE, &ms, error))
    return FALSE;
  G_STRUCT_MEMBER (guint, uplink, spec->offset) = ms;
  return TRUE;
}

/* A duration that may also be 0 (off). */
static gboolean
uplink_parse_duration_or_zero (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint ms;

  if (!duration_in_range (value, spec->min, spec->max, TRUE, &ms, error))
    return FALSE;
  G_STRUCT_MEMBER (guint, uplink, spec->offset) = ms;
  return TRUE;
}

/* standby-test-interval: 0 (never) or min..max, stored in seconds. */
static gboolean
uplink_parse_test_interval (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint ms;

  if (!duration_in_range (value, spec->min, spec->max, TRUE, &ms, error))
    return FALSE;
  uplink->standby_test_interval_s = ms / SECOND_MS;
  return TRUE;
}

static gboolean
uplink_parse_standby (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint standby;

  if (!enum_from_string (standby_names, value, &standby, error))
    return FALSE;
  uplink->standby = standby;
  return TRUE;
}

/* Replaces *@field with the normalised address @value: IPv4, or IPv6 too
 * when @allow_ipv6. */
static gboolean
set_address (char       **field,
             const char  *value,
             gboolean     allow_ipv6,
             GError     **error)
{
  char *address = normalise_ip (value, allow_ipv6);

  if (address == NULL)
    return invalid_value (error, value, allow_ipv6 ? "an IPv4 or IPv6 address" : "an IPv4 address");
  g_free (*field);
  *field = address;
  return TRUE;
}

static gboolean
uplink_parse_management (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  return set_address (&uplink->management, value, TRUE, error);
}

static gboolean
uplink_parse_gateway (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  return set_address (&uplink->gateway, value, FALSE, error);
}

static gboolean
uplink_parse_gateway6 (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  if (strchr (value, ':') == NULL)
    return invalid_value (error, value, "an IPv6 address");
  return set_address (&uplink->gateway6, value, TRUE, error);
}

static gboolean
uplink_parse_via (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  if (!is_uplink_name (value))
    return invalid_value (error, value, "the name of the backup uplink that carries the tunnel");
  g_free (uplink->via);
  uplink->via = g_strdup (value);
  return TRUE;
}

static gboolean
uplink_parse_server (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  return set_address (&uplink->server, value, TRUE, error);
}

static gboolean
uplink_parse_modem (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint source;

  if (!enum_from_string (modem_source_names, value, &source, error))
    return FALSE;
  uplink->modem = source;
  return TRUE;
}

/* An http:// or https:// URL with a host. */
static gboolean
is_http_url (const char *value)
{
  g_autoptr(GUri) uri = g_uri_parse (value, G_URI_FLAGS_NONE, NULL);

  return uri != NULL && g_uri_get_host (uri) != NULL && *g_uri_get_host (uri) != '\0' &&
         (g_strcmp0 (g_uri_get_scheme (uri), "http") == 0 || g_strcmp0 (g_uri_get_scheme (uri), "https") == 0);
}

/* modem-api: an http:// or https:// base URL of the stick's own API. */
static gboolean
uplink_parse_modem_api (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  if (!is_http_url (value))
    return invalid_value (error, value, "an http:// or https:// URL");
  g_free (uplink->modem_api);
  uplink->modem_api = g_strdup (value);
  return TRUE;
}

/* signal-alert: an RSRP level in dBm, from -140 to -44 (the LTE range). */
static gboolean
uplink_parse_signal_alert (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  gint64 dbm;

  if (!g_ascii_string_to_signed (value, 10, -140, -44, &dbm, NULL))
    return invalid_value (error, value, "an RSRP level in dBm from -140 to -44");
  uplink->signal_alert_dbm = (int) dbm;
  return TRUE;
}

static gboolean
uplink_parse_table (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint64 table;

  if (!parse_uint64 (value, FALSE, &table) || table < 1 || table > G_MAXINT32 ||
      (table >= 253 && table <= 255))
    return invalid_value (error, value, "a routing table number from 1 to 2147483647, "
                                        "not 253, 254 or 255 (default, main, local)");
  uplink->table = (guint) table;
  return TRUE;
}

#define UPLINK_FIELD(f) G_STRUCT_OFFSET (PfUplinkConfig, f)

static gboolean
uplink_parse_plan (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  return pf_parse_size (value, &uplink->plan_bytes, error);
}

static gboolean
uplink_parse_billing_start (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint y = 0, m = 0, d = 0;
  gboolean shape = strlen (value) == 10 && value[4] == '-' && value[7] == '-';

  for (guint i = 0; shape && i < 10; i++)
    shape = i == 4 || i == 7 || g_ascii_isdigit (value[i]);
  if (!shape || sscanf (value, "%4u-%2u-%2u", &y, &m, &d) != 3 ||
      !g_date_valid_dmy ((GDateDay) d, (GDateMonth) m, (GDateYear) y) || y < 2000)
    return invalid_value (error, value, "a date such as 2026-11-05");
  g_free (uplink->billing_start);
  uplink->billing_start = g_strdup (value);
  return TRUE;
}

/* billing-period: whole days. */
static gboolean
uplink_parse_billing_period (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  g_autofree char *days = g_str_has_suffix (value, "d") ? g_strndup (value, strlen (value) - 1) : NULL;
  guint64 number;

  if (days == NULL || !parse_uint64 (days, FALSE, &number) || number < 1 || number > 366)
    return invalid_value (error, value, "whole days from 1d to 366d, such as 30d");
  uplink->billing_period_days = (guint) number;
  return TRUE;
}

/* usage-alerts: percents of the plan, or "none". */
static gboolean
uplink_parse_usage_alerts (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  g_auto(GStrv) items = split_list (value);
  guint n = 0;

  if (g_strv_length (items) == 1 && g_str_equal (items[0], "none"))
    {
      uplink->n_usage_alerts = 0;
      return TRUE;
    }
  for (guint i = 0; items[i] != NULL; i++)
    {
      const char *item = items[i];
      g_autofree char *number = g_str_has_suffix (item, "%") ? g_strndup (item, strlen (item) - 1)
                                                             : g_strdup (item);
      guint64 percent;

      if (n == PF_MAX_USAGE_ALERTS || !parse_uint64 (number, FALSE, &percent) ||
          percent < 1 || percent > 100 || (n > 0 && percent <= uplink->usage_alerts[n - 1]))
        return invalid_value (error, value, "up to 8 ascending percents from 1 to 100, such as "
                              "50;80;95;100, or none");
      uplink->usage_alerts[n++] = (guint) percent;
    }
  uplink->n_usage_alerts = n;
  return TRUE;
}

static gboolean
uplink_parse_cap_action (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  guint action;

  if (!enum_from_string (cap_action_names, value, &action, error))
    return FALSE;
  uplink->cap_action = action;
  return TRUE;
}

/* dns: up to PF_MAX_DNS_SERVERS IPv4 or IPv6 addresses, each once. */
static gboolean
uplink_parse_dns (const UplinkKey *spec, PfUplinkConfig *uplink, const char *value, GError **error)
{
  g_auto(GStrv) items = split_list (value);
  g_autoptr(GPtrArray) servers = g_ptr_array_new_with_free_func (g_free);

  if (items[0] == NULL || g_strv_length (items) > PF_MAX_DNS_SERVERS)
    return invalid_value (error, value, "1 to 3 resolver addresses such as 192.168.8.1;9.9.9.9");
  for (guint i = 0; items[i] != NULL; i++)
    {
      char *address = normalise_ip (items[i], TRUE);

      if (address == NULL)
        return invalid_value (error, items[i], "an IPv4 or IPv6 resolver address");
      g_ptr_array_add (servers, address);
      for (guint j = 0; j + 1 < servers->len; j++)
        if (g_str_equal (g_ptr_array_index (servers, j), address))
          {
            g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "resolver %s is listed twice", address);
            return FALSE;
          }
    }
  g_ptr_array_add (servers, NULL);
  g_strfreev (uplink->dns);
  uplink->dns = (char **) g_ptr_array_steal (servers, NULL);
  return TRUE;
}

static const UplinkKey uplink_keys[] = {
  { "role",                  uplink_parse_role,          0, 0, 0, FALSE },
  { "priority",              uplink_parse_priority,      0, 1, 1000, FALSE },
  { "interface",             uplink_parse_interface,     0, 0, 0, FALSE },
  { "connection",            uplink_parse_connection,    0, 0, 0, FALSE },
  { "targets",               uplink_parse_targets,       0, 0, 0, FALSE },
  { "quorum",                uplink_parse_uint,          UPLINK_FIELD (quorum), 1, 1000, FALSE },
  { "interval",              uplink_parse_duration,      UPLINK_FIELD (interval_ms), 100, HOUR_MS, FALSE },
  { "fast-interval",         uplink_parse_duration,      UPLINK_FIELD (fast_interval_ms), 50, HOUR_MS, FALSE },
  { "timeout",               uplink_parse_duration,      UPLINK_FIELD (timeout_ms), 50, 30 * SECOND_MS, FALSE },
  { "down-rounds",           uplink_parse_uint,          UPLINK_FIELD (down_rounds), 1, 1000, FALSE },
  { "up-rounds",             uplink_parse_uint,          UPLINK_FIELD (up_rounds), 1, 1000, FALSE },
  { "up-time",               uplink_parse_duration,      UPLINK_FIELD (up_min_ms), 0, DAY_MS, FALSE },
  { "failback-hold",         uplink_parse_duration,      UPLINK_FIELD (failback_hold_ms), 0, DAY_MS, FALSE },
  { "degraded-loss",         uplink_parse_uint,          UPLINK_FIELD (degraded_loss), 0, 100, FALSE },
  { "standby",               uplink_parse_standby,       0, 0, 0, TRUE },
  { "standby-test-interval", uplink_parse_test_interval, 0, MINUTE_MS, 7 * DAY_MS, TRUE },
  { "management",            uplink_parse_management,    0, 0, 0, TRUE },
  { "gateway",               uplink_parse_gateway,       0, 0, 0, TRUE },
  { "gateway6",              uplink_parse_gateway6,      0, 0, 0, TRUE },
  { "table",                 uplink_parse_table,         0, 0, 0, TRUE },
  { "activate-timeout",      uplink_parse_duration,      UPLINK_FIELD (activate_timeout_ms), SECOND_MS, 10 * MINUTE_MS, TRUE },
  { "modem",                 uplink_parse_modem,         0, 0, 0, TRUE },
  { "modem-api",             uplink_parse_modem_api,     0, 0, 0, TRUE },
  { "modem-poll-interval",   uplink_parse_duration,      UPLINK_FIELD (modem_poll_ms), 10 * SECOND_MS, HOUR_MS, TRUE },
  { "signal-rate",           uplink_parse_duration_or_zero, UPLINK_FIELD (signal_rate_ms), SECOND_MS, HOUR_MS, TRUE },
  { "signal-alert",          uplink_parse_signal_alert,  0, 0, 0, TRUE },
  { "signal-alert-time",     uplink_parse_duration,      UPLINK_FIELD (signal_alert_ms), 0, DAY_MS, TRUE },
  { "registration-grace",    uplink_parse_duration,      UPLINK_FIELD (registration_grace_ms), 0, DAY_MS, TRUE },
  { "plan",                  uplink_parse_plan,          0, 0, 0, TRUE },
  { "billing-day",           uplink_parse_uint,          UPLINK_FIELD (billing_day), 1, 31, TRUE },
  { "billing-start",         uplink_parse_billing_start, 0, 0, 0, TRUE },
  { "billing-period",        uplink_parse_billing_period, 0, 0, 0, TRUE },
  { "usage-alerts",          uplink_parse_usage_alerts,  0, 0, 0, TRUE },
  { "cap-action",            uplink_parse_cap_action,    0, 0, 0, TRUE },
  { "via",                   uplink_parse_via,           0, 0, 0, TRUE },
  { "server",                uplink_parse_server,        0, 0, 0, TRUE },
  { "dns",                   uplink_parse_dns,           0, 0, 0, TRUE },
};

static const UplinkKey *
find_uplink_key (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (uplink_keys); i++)
    if (g_str_equal (uplink_keys[i].name, name))
      return &uplink_keys[i];
  return NULL;
}

/* The stripped value of @key, or NULL after reporting why not (GKeyFile
 * escape errors, or an empty value unless @allow_empty). */
static char *
get_value (PfParser          *parser,
           const PfLineGroup *group,
           const PfLineKey   *key,
           gboolean           allow_empty)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *value = NULL;

  value = g_key_file_get_string (parser->keyfile, group->name, key->name, &local_error);
  if (value == NULL)
    {
      add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
      return NULL;
    }
  g_strstrip (value);
  if (*value == '\0' && !allow_empty)
    {
      add_problem (parser, key->line, group->name, key->name, "empty value");
      return NULL;
    }
  return g_steal_pointer (&value);
}

static PfUplinkConfig *
parse_uplink_group (PfParser          *parser,
                    const PfLineGroup *group,
                    const char        *name)
{
  g_autoptr(PfUplinkConfig) uplink = uplink_new (name);
  g_autofree char *role = NULL;

  /* The role decides which keys are allowed, wherever it is in the group. */
  role = g_key_file_get_string (parser->keyfile, group->name, "role", NULL);
  if (role != NULL && g_str_equal (g_strstrip (role), "primary"))
    {
      uplink->role = PF_ROLE_PRIMARY;
      uplink->priority = 0;
    }

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      const UplinkKey *spec = find_uplink_key (key->name);
      g_autoptr(GError) local_error = NULL;
      g_autofree char *value = NULL;

      if (spec == NULL)
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      if (spec->backup_only && uplink->role == PF_ROLE_PRIMARY)
        {
          add_problem (parser, key->line, group->name, key->name,
                       "only valid for a backup uplink (this one has role=primary)");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value == NULL)
        continue;
      if (!spec->parse (spec, uplink, value, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }

  return g_steal_pointer (&uplink);
}

static void
parse_daemon_group (PfParser          *parser,
                    const PfLineGroup *group)
{
  PfConfig *config = parser->config;

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autofree char *value = NULL;
      guint64 number;

      if (!g_str_equal (key->name, "probe-mark") &&
          !g_str_equal (key->name, "rule-priority") &&
          !g_str_equal (key->name, "conntrack-mark-mask") &&
          !g_str_equal (key->name, "on-stop") &&
          !g_str_equal (key->name, "dns") &&
          !g_str_equal (key->name, "language"))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value == NULL)
        continue;

      if (g_str_equal (key->name, "probe-mark"))
        {
          if (parse_uint64 (value, TRUE, &number) && number > 0 && number <= G_MAXUINT32)
            config->probe_mark = (guint32) number;
          else
            add_problem (parser, key->line, group->name, key->name,
                         "invalid value \"%s\" (expected a nonzero 32-bit mark, "
                         "decimal or 0x hexadecimal)", value);
        }
      else if (g_str_equal (key->name, "rule-priority"))
        {
          g_autoptr(GError) local_error = NULL;

          if (parse_uint_in_range (value, 1, 32000, &number, &local_error))
            config->rule_priority = (guint) number;
          else
            add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
        }
      else if (g_str_equal (key->name, "conntrack-mark-mask"))
        {
          guint32 mask = 0;
          guint32 low;

          if (parse_uint64 (value, TRUE, &number) && number <= G_MAXUINT32)
            mask = (guint32) number;
          low = mask & (~mask + 1);  /* lowest set bit */
          /* Contiguous: adding the lowest bit carries through the whole run. */
          if (mask != 0 && ((mask + low) & mask) == 0)
            config->ct_mark_mask = mask;
          else
            add_problem (parser, key->line, group->name, key->name,
                         "invalid value \"%s\" (expected a nonzero mask of contiguous "
                         "bits such as 0x00ff0000)", value);
        }
      else if (g_str_equal (key->name, "dns"))
        {
          g_autoptr(GError) local_error = NULL;
          guint mode;

          if (enum_from_string (dns_mode_names, value, &mode, &local_error))
            config->dns_mode = mode;
          else
            add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
        }
      else if (g_str_equal (key->name, "language"))
        {
          g_autoptr(GError) local_error = NULL;
          guint language;

          if (enum_from_string (language_names, value, &language, &local_error))
            {
              g_free (config->language);
              config->language = g_strdup (language_names[language]);
            }
          else
            add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
        }
      else
        {
          g_autoptr(GError) local_error = NULL;
          guint on_stop;

          if (enum_from_string (on_stop_names, value, &on_stop, &local_error))
            config->on_stop = on_stop;
          else
            add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
        }
    }
}

static void
parse_hooks_group (PfParser          *parser,
                   const PfLineGroup *group)
{
  PfConfig *config = parser->config;

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autoptr(GError) local_error = NULL;
      g_autofree char *value = NULL;

      if (!g_str_equal (key->name, "directory") && !g_str_equal (key->name, "timeout"))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value == NULL)
        continue;
      if (g_str_equal (key->name, "directory"))
        {
          if (!g_path_is_absolute (value))
            add_problem (parser, key->line, group->name, key->name,
                         "invalid value \"%s\" (expected an absolute path)", value);
          else
            {
              g_free (config->hooks_dir);
              config->hooks_dir = g_steal_pointer (&value);
            }
        }
      else if (!duration_in_range (value, SECOND_MS, HOUR_MS, FALSE, &config->hook_timeout_ms, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }
}

/* ---- [notify NAME] -------------------------------------------------------- */

static void
notifier_free (PfNotifierConfig *notifier)
{
  if (notifier == NULL)
    return;
  g_free (notifier->name);
  g_free (notifier->token_file);
  g_free (notifier->chat_id);
  g_free (notifier->api_url);
  g_free (notifier->url);
  g_free (notifier->header);
  g_free (notifier->ca_file);
  g_free (notifier);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfNotifierConfig, notifier_free)

/* One key of a [notify NAME] group into @n; FALSE with @error for a bad value. */
static gboolean
notifier_parse_key (PfNotifierConfig  *n,
                    const char        *key,
                    char              *value,
                    GError           **error)
{
  guint64 number;
  guint kind;

  if (g_str_equal (key, "type"))
    {
      if (!enum_from_string (notifier_kind_names, value, &kind, error))
        return FALSE;
      n->kind = kind;
    }
  else if (g_str_equal (key, "token-file") || g_str_equal (key, "ca-file"))
    {
      char **field = g_str_equal (key, "token-file") ? &n->token_file : &n->ca_file;

      if (!g_path_is_absolute (value))
        return invalid_value (error, value, "an absolute path");
      g_free (*field);
      *field = g_strdup (value);
    }
  else if (g_str_equal (key, "chat-id"))
    {
      const char *digits = value[0] == '-' ? value + 1 : value;

      /* A numeric id (groups are negative) or a @channelusername. */
      if (!(value[0] == '@' && value[1] != '\0') && !parse_uint64 (digits, FALSE, &number))
        return invalid_value (error, value, "a numeric chat id or @channelname");
      g_free (n->chat_id);
      n->chat_id = g_strdup (value);
    }
  else if (g_str_equal (key, "topic-id"))
    {
      if (!parse_uint_in_range (value, 1, G_MAXINT32, &number, error))
        return FALSE;
      n->topic_id = (gint64) number;
    }
  else if (g_str_equal (key, "api-url") || g_str_equal (key, "url"))
    {
      char **field = g_str_equal (key, "api-url") ? &n->api_url : &n->url;

      if (!is_http_url (value))
        return invalid_value (error, value, "an http:// or https:// URL");
      g_free (*field);
      *field = g_strdup (value);
    }
  else if (g_str_equal (key, "header"))
    {
      const char *colon = strchr (value, ':');

      if (colon == NULL || colon == value || strpbrk (value, "\r\n") != NULL)
        return invalid_value (error, "…", "a header such as \"Authorization: Bearer TOKEN\"");
      g_free (n->header);
      n->header = g_strdup (value);
    }
  else if (g_str_equal (key, "rate-limit"))
    {
      if (!parse_uint_in_range (value, 1, 60, &number, error))
        return FALSE;
      n->rate_limit = (guint) number;
    }
  else
    return duration_in_range (value, SECOND_MS, MINUTE_MS, FALSE, &n->timeout_ms, error);
  return TRUE;
}

static void
check_notifier (PfParser               *parser,
                const PfLineGroup      *group,
                const PfNotifierConfig *n)
{
  if ((guint) n->kind == G_MAXINT)
    add_problem (parser, group->line, group->name, NULL, "type= is needed (telegram or webhook)");
  else if (n->kind == PF_NOTIFIER_TELEGRAM && (n->token_file == NULL || n->chat_id == NULL))
    add_problem (parser, group->line, group->name, NULL,
                 "a Telegram notifier needs token-file= (the bot token's file) and chat-id=");
  else if (n->kind == PF_NOTIFIER_WEBHOOK && n->url == NULL)
    add_problem (parser, group->line, group->name, NULL, "a webhook notifier needs url=");
  else if (n->kind == PF_NOTIFIER_WEBHOOK && (n->token_file || n->chat_id || n->topic_id || n->api_url))
    add_problem (parser, group->line, group->name, NULL,
                 "token-file=, chat-id=, topic-id= and api-url= are for type=telegram");
  else if (n->kind == PF_NOTIFIER_TELEGRAM && (n->url || n->header))
    add_problem (parser, group->line, group->name, NULL, "url= and header= are for type=webhook");
}

static const char *const notifier_keys[] = {
  "type", "token-file", "chat-id", "topic-id", "api-url", "url", "header", "ca-file",
  "rate-limit", "timeout", NULL
};

static void
parse_notify_group (PfParser          *parser,
                    const PfLineGroup *group,
                    const char        *name)
{
  g_autoptr(PfNotifierConfig) n = g_new0 (PfNotifierConfig, 1);
  guint problems = parser->problems->len;
  guint kind;

  n->name = g_strdup (name);
  n->rate_limit = PF_DEFAULT_NOTIFY_RATE_LIMIT;
  n->timeout_ms = PF_DEFAULT_NOTIFY_TIMEOUT_MS;
  /* [notify telegram] and [notify webhook] need no type=. */
  n->kind = enum_from_string (notifier_kind_names, name, &kind, NULL) ? kind : G_MAXINT;

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autoptr(GError) local_error = NULL;
      g_autofree char *value = NULL;

      if (!g_strv_contains (notifier_keys, key->name))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value != NULL && !notifier_parse_key (n, key->name, value, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }

  /* A bad key first: the group as a whole is judged once that is fixed. */
  if (parser->problems->len == problems)
    check_notifier (parser, group, n);
  g_ptr_array_add (parser->config->notifiers, g_steal_pointer (&n));
}

/* "true" or "false", as GKeyFile writes them; "yes" and "no" too. */
static gboolean
parse_boolean (const char  *value,
               gboolean    *out,
               GError     **error)
{
  if (g_str_equal (value, "true") || g_str_equal (value, "yes"))
    *out = TRUE;
  else if (g_str_equal (value, "false") || g_str_equal (value, "no"))
    *out = FALSE;
  else
    return invalid_value (error, value, "true or false");
  return TRUE;
}

static void
parse_guests_allow (PfParser        *parser,
                    const PfLineKey *key,
                    const char      *group,
                    const char      *value)
{
  g_auto(GStrv) items = split_list (value);

  for (guint j = 0; items[j] != NULL; j++)
    {
      g_autoptr(GError) local_error = NULL;
      int family = AF_INET;
      g_autofree char *network = parse_network (items[j], &family, &local_error);
      GPtrArray *list = family == AF_INET6 ? parser->config->allowed6 : parser->config->allowed;

      if (network == NULL)
        add_problem (parser, key->line, group, key->name, "%s", local_error->message);
      else if (!g_ptr_array_find_with_equal_func (list, network, g_str_equal, NULL))
        g_ptr_array_add (list, g_steal_pointer (&network));
    }
}

static void
parse_guests_group (PfParser          *parser,
                    const PfLineGroup *group)
{
  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autofree char *value = NULL;
      g_autoptr(GError) local_error = NULL;
      gboolean is_allow = g_str_equal (key->name, "allow");

      if (!is_allow && !g_str_equal (key->name, "nat66"))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, is_allow);
      if (value == NULL)
        continue;
      if (is_allow)
        parse_guests_allow (parser, key, group->name, value);
      else if (!parse_boolean (value, &parser->config->nat66, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }
}

/* ------------------------------------------------------------------------ */
/* [forward NAME] and [remote-access NAME]                                  */

static const char *const forward_when_names[] = {
  [PF_FORWARD_ALWAYS] = "always",
  [PF_FORWARD_FAILOVER] = "failover",
  NULL
};

static const char *const remote_kind_names[] = {
  [PF_REMOTE_WIREGUARD] = "wireguard",
  [PF_REMOTE_ZEROTIER] = "zerotier",
  NULL
};

static const char *const forward_proto_names[] = { "tcp", "udp", NULL };
static const char *const boolean_names[] = { "false", "true", NULL };

const char *
pf_forward_when_to_string (PfForwardWhen when)
{
  return enum_to_string (forward_when_names, when);
}

const char *
pf_remote_kind_to_string (PfRemoteKind kind)
{
  return enum_to_string (remote_kind_names, kind);
}

static void
forward_free (PfForwardConfig *forward)
{
  if (forward == NULL)
    return;
  g_free (forward->name);
  g_free (forward->proto);
  g_free (forward->to_address);
  g_strfreev (forward->interfaces);
  g_free (forward);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfForwardConfig, forward_free)

static void
remote_access_free (PfRemoteAccessConfig *remote)
{
  if (remote == NULL)
    return;
  g_free (remote->name);
  g_free (remote->interface);
  g_free (remote->probe);
  g_free (remote->out_of_band);
  g_free (remote->endpoint);
  g_free (remote->peer_key);
  g_free (remote->network);
  g_free (remote->api);
  g_free (remote->token_file);
  g_free (remote);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfRemoteAccessConfig, remote_access_free)

/* Interface names as nft matches them: a name, or a prefix and '*'. */
static gboolean
is_interface_pattern (const char *text)
{
  g_autofree char *name = g_strdup (text);
  gsize len = strlen (name);

  if (len > 1 && name[len - 1] == '*')
    name[len - 1] = '\0';
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._-@+", *p) == NULL)
      return FALSE;
  return is_interface_name (name);
}

/* One key of a [forward NAME] group into @f. */
static gboolean
forward_parse_key (PfForwardConfig  *f,
                   const char       *key,
                   const char       *value,
                   GError          **error)
{
  guint index;

  if (g_str_equal (key, "to"))
    {
      g_free (f->to_address);
      f->to_address = NULL;
      f->to_port = 0;
      if (!parse_address_port (value, FALSE, &f->to_address, &f->to_port))
        return invalid_value (error, value, "ADDRESS:PORT or [IPv6]:PORT of the service inside");
    }
  else if (g_str_equal (key, "port"))
    {
      if (!parse_port (value, &f->port))
        return invalid_value (error, value, "a port, 1 to 65535");
    }
  else if (g_str_equal (key, "proto"))
    {
      if (!enum_from_string (forward_proto_names, value, &index, error))
        return FALSE;
      g_free (f->proto);
      f->proto = g_strdup (forward_proto_names[index]);
    }
  else if (g_str_equal (key, "interfaces"))
    {
      g_auto(GStrv) items = split_list (value);

      if (items[0] == NULL)
        return invalid_value (error, value, "interface names such as \"wg0 zt*\"");
      for (guint i = 0; items[i] != NULL; i++)
        if (!is_interface_pattern (items[i]))
          return invalid_value (error, items[i], "an interface name, or a prefix ending in '*'");
      g_strfreev (f->interfaces);
      f->interfaces = g_steal_pointer (&items);
    }
  else if (g_str_equal (key, "when"))
    {
      if (!enum_from_string (forward_when_names, value, &index, error))
        return FALSE;
      f->when = index;
    }
  else
    {
      if (!enum_from_string (boolean_names, value, &index, error))
        return FALSE;
      f->masquerade = index == 1;
    }
  return TRUE;
}

static const char *const forward_keys[] = {
  "to", "port", "proto", "interfaces", "when", "masquerade", NULL
};

static void
parse_forward_group (PfParser          *parser,
                     const PfLineGroup *group,
                     const char        *name)
{
  g_autoptr(PfForwardConfig) f = g_new0 (PfForwardConfig, 1);
  const char *default_interfaces[] = { "zt*", "wg*", NULL };
  guint problems = parser->problems->len;

  f->name = g_strdup (name);
  f->proto = g_strdup ("tcp");
  f->interfaces = g_strdupv ((char **) default_interfaces);
  f->when = PF_FORWARD_ALWAYS;
  f->masquerade = TRUE;

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autoptr(GError) local_error = NULL;
      g_autofree char *value = NULL;

      if (!g_strv_contains (forward_keys, key->name))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value != NULL && !forward_parse_key (f, key->name, value, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }

  if (parser->problems->len != problems)
    return;
  if (f->to_address == NULL)
    add_problem (parser, group->line, group->name, NULL,
                 "to= is needed (the service inside, e.g. to=192.168.2.10:8123)");
  else if (f->port == 0 && f->to_port == 0)
    add_problem (parser, group->line, group->name, NULL,
                 "no port: give to=ADDRESS:PORT, port=, or both");
  else
    {
      if (f->port == 0)
        f->port = f->to_port;
      if (f->to_port == 0)
        f->to_port = f->port;
      g_ptr_array_add (parser->config->forwards, g_steal_pointer (&f));
    }
}

/* A WireGuard public key: 32 bytes in base64, 44 characters. */
static gboolean
is_wireguard_key (const char *text)
{
  gsize len = 0;
  g_autofree guchar *raw = NULL;

  if (strlen (text) != 44 || text[43] != '=')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("+/=", *p) == NULL)
      return FALSE;
  raw = g_base64_decode (text, &len);
  return len == 32;
}

static gboolean
remote_parse_key (PfRemoteAccessConfig  *r,
                  const char            *key,
                  const char            *value,
                  GError               **error)
{
  guint64 number;
  guint index;

  if (g_str_equal (key, "type"))
    {
      if (!enum_from_string (remote_kind_names, value, &index, error))
        return FALSE;
      r->kind = index;
    }
  else if (g_str_equal (key, "interface"))
    {
      if (!is_interface_name (value))
        return invalid_value (error, value, "an interface name");
      g_free (r->interface);
      r->interface = g_strdup (value);
    }
  else if (g_str_equal (key, "probe"))
    {
      g_free (r->probe);
      r->probe = normalise_ip (value, TRUE);
      if (r->probe == NULL)
        return invalid_value (error, value, "the IPv4 or IPv6 address of a peer across the tunnel");
    }
  else if (g_str_equal (key, "interval"))
    return duration_in_range (value, SECOND_MS, 60 * MINUTE_MS, FALSE, &r->interval_ms, error);
  else if (g_str_equal (key, "timeout"))
    return duration_in_range (value, 100, MINUTE_MS, FALSE, &r->timeout_ms, error);
  else if (g_str_equal (key, "out-of-band"))
    {
      if (!is_uplink_name (value))
        return invalid_value (error, value, "the name of a backup uplink");
      g_free (r->out_of_band);
      r->out_of_band = g_strdup (value);
    }
  else if (g_str_equal (key, "fwmark"))
    {
      if (!parse_uint64 (value, TRUE, &number) || number == 0 || number > G_MAXUINT32)
        return invalid_value (error, value, "the interface's nonzero fwmark, decimal or 0x hexadecimal");
      r->fwmark = (guint32) number;
    }
  else if (g_str_equal (key, "endpoint"))
    {
      g_autofree char *host = g_strdup (value);
      char *colon = strrchr (host, ':');
      g_autofree char *address = NULL;
      guint16 port = 0;

      if (colon == NULL || !parse_port (colon + 1, &port))
        return invalid_value (error, value, "HOST:PORT, e.g. vpn.example.org:51820");
      *colon = '\0';
      if (!is_dns_name (host, FALSE) && !parse_address_port (value, TRUE, &address, &port))
        return invalid_value (error, value, "HOST:PORT, e.g. vpn.example.org:51820");
      g_free (r->endpoint);
      r->endpoint = g_strdup (value);
    }
  else if (g_str_equal (key, "peer-key"))
    {
      if (!is_wireguard_key (value))
        return invalid_value (error, value, "a WireGuard public key (44 characters of base64)");
      g_free (r->peer_key);
      r->peer_key = g_strdup (value);
    }
  else if (g_str_equal (key, "network"))
    {
      if (strlen (value) != 16 || strspn (value, "0123456789abcdef") != 16)
        return invalid_value (error, value, "a ZeroTier network id, 16 lowercase hex digits");
      g_free (r->network);
      r->network = g_strdup (value);
    }
  else if (g_str_equal (key, "api"))
    {
      if (!is_http_url (value))
        return invalid_value (error, value, "an http:// URL such as " PF_DEFAULT_ZEROTIER_API);
      g_free (r->api);
      r->api = g_strdup (value);
    }
  else
    {
      if (!g_path_is_absolute (value))
        return invalid_value (error, value, "an absolute path");
      g_free (r->token_file);
      r->token_file = g_strdup (value);
    }
  return TRUE;
}

static const char *const remote_keys[] = {
  "type", "interface", "probe", "interval", "timeout", "out-of-band", "fwmark", "endpoint",
  "peer-key", "network", "api", "token-file", NULL
};

/* What a group of each kind needs, and keys that belong to the other kind. */
static const char *
remote_check (const PfRemoteAccessConfig *r)
{
  if ((guint) r->kind == G_MAXINT)
    return "type= is needed (wireguard or zerotier)";
  if (r->probe == NULL)
    return "probe= is needed: the address of a peer across the tunnel, pinged through it";
  if (r->kind == PF_REMOTE_WIREGUARD)
    {
      if (r->interface == NULL)
        return "a WireGuard remote access needs interface=";
      if (r->network != NULL || r->api != NULL || r->token_file != NULL)
        return "network=, api= and token-file= are for type=zerotier";
      if ((r->out_of_band != NULL) != (r->fwmark != 0))
        return "out-of-band= and fwmark= go together: the tunnel's packets carry the "
               "interface's fwmark, and that mark is routed through the backup";
      if ((r->endpoint != NULL) != (r->peer_key != NULL))
        return "endpoint= and peer-key= go together (which peer's endpoint to set again)";
    }
  else
    {
      if (r->network == NULL)
        return "a ZeroTier remote access needs network= (the network id)";
      if (r->out_of_band != NULL || r->fwmark != 0 || r->endpoint != NULL || r->peer_key != NULL)
        return "out-of-band=, fwmark=, endpoint= and peer-key= are for type=wireguard";
    }
  return NULL;
}

static void
parse_remote_access_group (PfParser          *parser,
                           const PfLineGroup *group,
                           const char        *name)
{
  g_autoptr(PfRemoteAccessConfig) r = g_new0 (PfRemoteAccessConfig, 1);
  guint problems = parser->problems->len;
  guint kind;
  const char *problem;

  r->name = g_strdup (name);
  /* [remote-access wireguard] and [remote-access zerotier] need no type=. */
  r->kind = enum_from_string (remote_kind_names, name, &kind, NULL) ? kind : G_MAXINT;
  r->interval_ms = PF_DEFAULT_REMOTE_INTERVAL_MS;
  r->timeout_ms = PF_DEFAULT_REMOTE_TIMEOUT_MS;

  for (guint i = 0; i < group->keys->len; i++)
    {
      const PfLineKey *key = g_ptr_array_index (group->keys, i);
      g_autoptr(GError) local_error = NULL;
      g_autofree char *value = NULL;

      if (!g_strv_contains (remote_keys, key->name))
        {
          add_problem (parser, key->line, group->name, key->name, "unknown key");
          continue;
        }
      value = get_value (parser, group, key, FALSE);
      if (value != NULL && !remote_parse_key (r, key->name, value, &local_error))
        add_problem (parser, key->line, group->name, key->name, "%s", local_error->message);
    }

  if (parser->problems->len != problems)
    return;
  problem = remote_check (r);
  if (problem != NULL)
    {
      add_problem (parser, group->line, group->name, NULL, "%s", problem);
      return;
    }
  if (r->kind == PF_REMOTE_ZEROTIER)
    {
      if (r->api == NULL)
        r->api = g_strdup (PF_DEFAULT_ZEROTIER_API);
      if (r->token_file == NULL)
        r->token_file = g_strdup (PF_DEFAULT_ZEROTIER_TOKEN);
    }
  g_ptr_array_add (parser->config->remote_access, g_steal_pointer (&r));
}

/* Stage 3 for remote access: an out-of-band tunnel rides a backup, and its
 * mark is not one the daemon uses itself. */
static void
check_remote_access (PfParser *parser)
{
  PfConfig *config = parser->config;

  for (guint i = 0; i < config->remote_access->len; i++)
    {
      const PfRemoteAccessConfig *r = g_ptr_array_index (config->remote_access, i);
      g_autofree char *group_name = g_strconcat (REMOTE_GROUP_PREFIX, r->name, NULL);
      const PfLineGroup *group = index_find_group (parser, group_name);
      const PfUplinkConfig *uplink;

      if (r->out_of_band == NULL)
        continue;
      uplink = pf_config_find_uplink (config, r->out_of_band);
      if (uplink == NULL || uplink->role != PF_ROLE_BACKUP)
        add_problem (parser, group_key_line (group, "out-of-band"), group_name, "out-of-band",
                     "\"%s\" is not a backup uplink", r->out_of_band);
      else if (r->fwmark == config->probe_mark)
        add_problem (parser, group_key_line (group, "fwmark"), group_name, "fwmark",
                     "0x%x is the daemon's probe mark ([daemon] probe-mark)", r->fwmark);
      for (guint j = 0; j < i; j++)
        {
          const PfRemoteAccessConfig *other = g_ptr_array_index (config->remote_access, j);

          if (other->fwmark == r->fwmark && g_strcmp0 (other->out_of_band, r->out_of_band) != 0)
            add_problem (parser, group_key_line (group, "fwmark"), group_name, "fwmark",
                         "0x%x is already routed through \"%s\" by [remote-access %s]",
                         r->fwmark, other->out_of_band, other->name);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Consistency                                                              */

typedef struct {
  PfUplinkConfig    *uplink;   /* owned by the config */
  const PfLineGroup *group;
} UplinkEntry;

/* The line of @key in @entry's group, or of the group header when the key
 * is absent (a default is in play). */
static guint
entry_line (const UplinkEntry *entry,
            const char        *key)
{
  guint line = group_key_line (entry->group, key);

  return line != 0 ? line : entry->group->line;
}

static void
check_uplink (PfParser          *parser,
              const UplinkEntry *entry)
{
  const PfUplinkConfig *uplink = entry->uplink;
  const char *group = entry->group->name;

  if (uplink->role == PF_ROLE_PRIMARY)
    {
      if (uplink->interface == NULL)
        add_problem (parser, entry->group->line, group, NULL,
                     "the primary uplink needs interface=");
      if (uplink->targets->len == 0)
        add_problem (parser, entry->group->line, group, NULL,
                     "no probe targets (set targets=)");
    }
  else if (uplink->interface == NULL && uplink->connection == NULL)
    {
      add_problem (parser, entry->group->line, group, NULL,
                   "a backup uplink needs interface= or connection=");
    }
  else if (uplink->modem == PF_MODEM_SOURCE_HILINK && uplink->management == NULL &&
           uplink->modem_api == NULL)
    {
      add_problem (parser, entry_line (entry, "modem"), group, "modem",
                   "modem=hilink needs management= or modem-api= (where the stick's API answers)");
    }

  if (uplink->billing_start != NULL && group_key_line (entry->group, "billing-day") != 0)
    add_problem (parser, entry_line (entry, "billing-day"), group, "billing-day",
                 "billing-day and billing-start exclude each other (monthly on a day, or "
                 "periods from a date)");
  else if (uplink->billing_start != NULL && uplink->billing_period_days == 0)
    add_problem (parser, entry_line (entry, "billing-start"), group, "billing-start",
                 "billing-start needs billing-period= (such as 30d)");
  else if (uplink->billing_start == NULL && uplink->billing_period_days != 0)
    add_problem (parser, entry_line (entry, "billing-period"), group, "billing-period",
                 "billing-period needs billing-start= (the first day of a period)");
  if (uplink->cap_action != PF_CAP_NOTIFY && uplink->plan_bytes == 0)
    add_problem (parser, entry_line (entry, "cap-action"), group, "cap-action",
                 "cap-action=%s needs plan= (the plan's size)", pf_cap_action_to_string (uplink->cap_action));
  if ((uplink->via != NULL) != (uplink->server != NULL))
    add_problem (parser, entry_line (entry, uplink->via != NULL ? "via" : "server"), group,
                 uplink->via != NULL ? "via" : "server",
                 "via= and server= go together: the tunnel rides the uplink named by via=, and its "
                 "far end (server=) is routed through that uplink");
  else if (uplink->via != NULL && uplink->connection == NULL)
    add_problem (parser, entry_line (entry, "via"), group, "via",
                 "a tunnel over another uplink needs connection= (its NetworkManager connection)");
  else if (uplink->via != NULL && group_key_line (entry->group, "standby") != 0 &&
           uplink->standby != PF_STANDBY_COLD)
    add_problem (parser, entry_line (entry, "standby"), group, "standby",
                 "a tunnel over another uplink is brought up when needed: standby=cold");
  else if (uplink->via != NULL && group_key_line (entry->group, "standby-test-interval") != 0 &&
           uplink->standby_test_interval_s != 0)
    add_problem (parser, entry_line (entry, "standby-test-interval"), group, "standby-test-interval",
                 "a tunnel over another uplink has no standby test of its own: the uplink that "
                 "carries it is tested, the tunnel when it is brought up (set 0)");

  if (uplink->fast_interval_ms > uplink->interval_ms)
    {
      g_autofree char *value = g_key_file_get_string (parser->keyfile, group, "fast-interval", NULL);
      g_autofree char *interval = pf_format_duration_ms (uplink->interval_ms);

      add_problem (parser, entry_line (entry, "fast-interval"), group, "fast-interval",
                   "invalid value \"%s\" (expected a duration from 50ms to the interval, %s)",
                   value != NULL ? g_strstrip (value) : "100ms", interval);
    }
}

/* Report the later of two uplinks that share a value. */
static void
report_shared (PfParser          *parser,
               const UplinkEntry *first,
               const UplinkEntry *second,
               const char        *key,
               const char        *value)
{
  gboolean is_default = group_key_line (second->group, key) == 0;

  add_problem (parser, entry_line (second, key), second->group->name, key,
               "%s%s is already used by uplink \"%s\" (line %u)",
               value, is_default ? " (the default)" : "",
               first->uplink->name, entry_line (first, key));
}

static void
check_uplinks (PfParser *parser,
               GArray   *entries)
{
  PfConfig *config = parser->config;
  const UplinkEntry *primary = NULL;
  guint n_uplinks = entries->len;
  guint bits;

  if (n_uplinks == 0)
    {
      add_problem (parser, 0, NULL, NULL,
                   "no uplinks (add an [uplink NAME] group with role=primary)");
      return;
    }

  for (guint i = 0; i < n_uplinks; i++)
    {
      const UplinkEntry *entry = &g_array_index (entries, UplinkEntry, i);

      check_uplink (parser, entry);
      if (entry->uplink->role != PF_ROLE_PRIMARY)
        continue;
      if (primary == NULL)
        primary = entry;
      else
        add_problem (parser, entry_line (entry, "role"), entry->group->name, "role",
                     "a second primary uplink (uplink \"%s\" at line %u is the primary)",
                     primary->uplink->name, primary->group->line);
    }
  if (primary == NULL)
    add_problem (parser, 0, NULL, NULL,
                 "no primary uplink (set role=primary in one [uplink NAME] group)");

  /* Backups without targets probe the primary's. */
  for (guint i = 0; i < n_uplinks; i++)
    {
      const UplinkEntry *entry = &g_array_index (entries, UplinkEntry, i);
      PfUplinkConfig *uplink = entry->uplink;

      if (uplink->targets->len == 0 && primary != NULL)
        for (guint t = 0; t < primary->uplink->targets->len; t++)
          g_ptr_array_add (uplink->targets,
                           pf_probe_target_copy (g_ptr_array_index (primary->uplink->targets, t)));

      if (uplink->targets->len > 0 && uplink->quorum > uplink->targets->len)
        add_problem (parser, entry_line (entry, "quorum"), entry->group->name, "quorum",
                     "invalid value \"%u\" (expected a number from 1 to %u, the number of targets)",
                     uplink->quorum, uplink->targets->len);
    }

  /* Values two uplinks may not share. */
  for (guint i = 0; i < n_uplinks; i++)
    {
      const UplinkEntry *a = &g_array_index (entries, UplinkEntry, i);

      for (guint j = i + 1; j < n_uplinks; j++)
        {
          const UplinkEntry *b = &g_array_index (entries, UplinkEntry, j);

          if (a->uplink->role == PF_ROLE_BACKUP && b->uplink->role == PF_ROLE_BACKUP &&
              a->uplink->priority == b->uplink->priority)
            {
              g_autofree char *value = g_strdup_printf ("priority %u", b->uplink->priority);

              report_shared (parser, a, b, "priority", value);
            }
          if (a->uplink->interface != NULL && b->uplink->interface != NULL &&
              g_str_equal (a->uplink->interface, b->uplink->interface))
            {
              g_autofree char *value = g_strdup_printf ("interface %s", b->uplink->interface);

              report_shared (parser, a, b, "interface", value);
            }
          if (a->uplink->connection != NULL && b->uplink->connection != NULL &&
              g_str_equal (a->uplink->connection, b->uplink->connection))
            {
              g_autofree char *value = g_strdup_printf ("connection \"%s\"", b->uplink->connection);

              report_shared (parser, a, b, "connection", value);
            }
        }
    }

  /* A tunnel rides another backup, which carries no tunnel itself. */
  for (guint i = 0; i < n_uplinks; i++)
    {
      const UplinkEntry *entry = &g_array_index (entries, UplinkEntry, i);
      PfUplinkConfig *uplink = entry->uplink;
      const PfUplinkConfig *carrier = NULL;

      if (uplink->via == NULL)
        continue;
      for (guint j = 0; j < n_uplinks; j++)
        if (g_str_equal (g_array_index (entries, UplinkEntry, j).uplink->name, uplink->via))
          carrier = g_array_index (entries, UplinkEntry, j).uplink;
      if (carrier == NULL || carrier == uplink || carrier->role != PF_ROLE_BACKUP)
        add_problem (parser, entry_line (entry, "via"), entry->group->name, "via",
                     "\"%s\" is not another backup uplink", uplink->via);
      else if (carrier->via != NULL)
        add_problem (parser, entry_line (entry, "via"), entry->group->name, "via",
                     "\"%s\" is itself a tunnel (via=%s): a tunnel rides a link", uplink->via, carrier->via);
      else
        {
          /* Brought up when needed, tested then: no standby test of its own. */
          uplink->standby = PF_STANDBY_COLD;
          uplink->standby_test_interval_s = 0;
        }
    }

  /* The conntrack mark tags each uplink with a distinct nonzero value. */
  bits = (guint) g_bit_storage (config->ct_mark_mask) - (guint) g_bit_nth_lsf (config->ct_mark_mask, -1);
  if (bits < 32 && (1u << bits) - 1 < n_uplinks)
    {
      const PfLineGroup *daemon = index_find_group (parser, "daemon");
      guint line = daemon != NULL ? group_key_line (daemon, "conntrack-mark-mask") : 0;

      add_problem (parser, line, "daemon", "conntrack-mark-mask",
                   "0x%08x is %u bit%s wide, too narrow for %u uplinks",
                   config->ct_mark_mask, bits, bits == 1 ? "" : "s", n_uplinks);
    }
  if ((config->probe_mark & config->ct_mark_mask) != 0)
    {
      const PfLineGroup *daemon = index_find_group (parser, "daemon");
      guint line = daemon != NULL ? group_key_line (daemon, "probe-mark") : 0;

      add_problem (parser, line, "daemon", "probe-mark",
                   "0x%x overlaps conntrack-mark-mask 0x%08x",
                   config->probe_mark, config->ct_mark_mask);
    }
}

static gint
uplink_compare (gconstpointer a,
                gconstpointer b)
{
  const UplinkEntry *ea = a;
  const UplinkEntry *eb = b;

  if (ea->uplink->role != eb->uplink->role)
    return ea->uplink->role == PF_ROLE_PRIMARY ? -1 : 1;
  if (ea->uplink->priority != eb->uplink->priority)
    return ea->uplink->priority < eb->uplink->priority ? -1 : 1;
  return 0;
}

/* Default tables go to backups in priority order; then all must differ. */
static void
assign_tables (PfParser *parser,
               GArray   *entries)
{
  g_autoptr(GArray) sorted = g_array_copy (entries);
  guint index = 0;

  g_array_sort (sorted, uplink_compare);
  for (guint i = 0; i < sorted->len; i++)
    {
      PfUplinkConfig *uplink = g_array_index (sorted, UplinkEntry, i).uplink;

      if (uplink->role != PF_ROLE_BACKUP)
        continue;
      if (uplink->table == 0)
        uplink->table = PF_DEFAULT_TABLE_BASE + index;
      index++;
    }

  for (guint i = 0; i < entries->len; i++)
    for (guint j = i + 1; j < entries->len; j++)
      {
        const UplinkEntry *a = &g_array_index (entries, UplinkEntry, i);
        const UplinkEntry *b = &g_array_index (entries, UplinkEntry, j);

        if (a->uplink->role == PF_ROLE_BACKUP && b->uplink->role == PF_ROLE_BACKUP &&
            a->uplink->table == b->uplink->table)
          {
            g_autofree char *value = g_strdup_printf ("table %u", b->uplink->table);

            report_shared (parser, a, b, "table", value);
          }
      }

  /* The config owns the uplinks, primary first then by priority. */
  for (guint i = 0; i < sorted->len; i++)
    g_ptr_array_index (parser->config->uplinks, i) = g_array_index (sorted, UplinkEntry, i).uplink;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

static PfConfig *
config_new (const char *path)
{
  PfConfig *config = g_new0 (PfConfig, 1);

  config->path = g_strdup (path);
  config->uplinks = g_ptr_array_new_with_free_func ((GDestroyNotify) uplink_free);
  config->allowed = g_ptr_array_new_with_free_func (g_free);
  config->allowed6 = g_ptr_array_new_with_free_func (g_free);
  config->probe_mark = PF_DEFAULT_PROBE_MARK;
  config->rule_priority = PF_DEFAULT_RULE_PRIORITY;
  config->ct_mark_mask = PF_DEFAULT_CT_MARK_MASK;
  config->on_stop = PF_ON_STOP_RESTORE;
  config->dns_mode = PF_DNS_MODE_AUTO;
  config->language = g_strdup ("en");
  config->notifiers = g_ptr_array_new_with_free_func ((GDestroyNotify) notifier_free);
  config->hooks_dir = g_strdup (PF_DEFAULT_HOOKS_DIR);
  config->hook_timeout_ms = PF_DEFAULT_HOOK_TIMEOUT_MS;
  config->forwards = g_ptr_array_new_with_free_func ((GDestroyNotify) forward_free);
  config->remote_access = g_ptr_array_new_with_free_func ((GDestroyNotify) remote_access_free);
  return config;
}

void
pf_config_free (PfConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_clear_pointer (&config->uplinks, g_ptr_array_unref);
  g_clear_pointer (&config->allowed, g_ptr_array_unref);
  g_clear_pointer (&config->allowed6, g_ptr_array_unref);
  g_clear_pointer (&config->notifiers, g_ptr_array_unref);
  g_clear_pointer (&config->forwards, g_ptr_array_unref);
  g_clear_pointer (&config->remote_access, g_ptr_array_unref);
  g_free (config->language);
  g_free (config->hooks_dir);
  g_free (config);
}

/* Stage 2: every group and key, in file order. */
static void
parse_groups (PfParser *parser,
              GArray   *entries)
{
  for (guint i = 0; i < parser->groups->len; i++)
    {
      const PfLineGroup *group = g_ptr_array_index (parser->groups, i);

      if (g_str_equal (group->name, "daemon"))
        parse_daemon_group (parser, group);
      else if (g_str_equal (group->name, "guests"))
        parse_guests_group (parser, group);
      else if (g_str_equal (group->name, "hooks"))
        parse_hooks_group (parser, group);
      else if (g_str_has_prefix (group->name, NOTIFY_GROUP_PREFIX) ||
               g_str_has_prefix (group->name, FORWARD_GROUP_PREFIX) ||
               g_str_has_prefix (group->name, REMOTE_GROUP_PREFIX))
        {
          const char *name = strchr (group->name, ' ') + 1;
          const char *what = g_str_has_prefix (group->name, NOTIFY_GROUP_PREFIX) ? "notifier" :
                             g_str_has_prefix (group->name, FORWARD_GROUP_PREFIX) ? "forward" :
                             "remote access";

          if (!is_uplink_name (name))
            add_problem (parser, group->line, NULL, NULL,
                         "invalid %s name \"%s\" in [%s] (expected 1 to 32 of "
                         "a-z, 0-9, '_' and '-')", what, name, group->name);
          else if (g_str_has_prefix (group->name, NOTIFY_GROUP_PREFIX))
            parse_notify_group (parser, group, name);
          else if (g_str_has_prefix (group->name, FORWARD_GROUP_PREFIX))
            parse_forward_group (parser, group, name);
          else
            parse_remote_access_group (parser, group, name);
        }
      else if (g_str_has_prefix (group->name, UPLINK_GROUP_PREFIX))
        {
          const char *name = group->name + strlen (UPLINK_GROUP_PREFIX);
          UplinkEntry entry = { NULL, group };

          if (!is_uplink_name (name))
            {
              add_problem (parser, group->line, NULL, NULL,
                           "invalid uplink name \"%s\" in [%s] (expected 1 to 32 of "
                           "a-z, 0-9, '_' and '-')", name, group->name);
              continue;
            }
          entry.uplink = parse_uplink_group (parser, group, name);
          g_ptr_array_add (parser->config->uplinks, entry.uplink);
          g_array_append_val (entries, entry);
        }
      else if (g_str_equal (group->name, "uplink"))
        add_problem (parser, group->line, NULL, NULL,
                     "[uplink] needs a name, e.g. [uplink lte]");
      else
        add_problem (parser, group->line, NULL, NULL,
                     "unknown group [%s] (expected [daemon], [guests], [hooks], [uplink NAME], "
                     "[notify NAME], [forward NAME] or [remote-access NAME])",
                     group->name);
    }
}

PfConfig *
pf_config_load_data (const char  *path_for_messages,
                     const char  *data,
                     gssize       length,
                     GError     **error)
{
  g_autoptr(PfConfig) config = NULL;
  g_autoptr(GKeyFile) keyfile = NULL;
  g_autoptr(GPtrArray) groups = NULL;
  g_autoptr(GPtrArray) problems = NULL;
  g_autoptr(GArray) entries = NULL;
  g_autoptr(GError) local_error = NULL;
  PfParser parser = { 0 };
  gsize len;

  g_return_val_if_fail (path_for_messages != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  len = length < 0 ? strlen (data) : (gsize) length;
  config = config_new (path_for_messages);
  keyfile = g_key_file_new ();
  groups = g_ptr_array_new_with_free_func ((GDestroyNotify) line_group_free);
  problems = g_ptr_array_new_with_free_func ((GDestroyNotify) problem_free);
  entries = g_array_new (FALSE, TRUE, sizeof (UplinkEntry));

  parser.path = path_for_messages;
  parser.groups = groups;
  parser.keyfile = keyfile;
  parser.problems = problems;
  parser.config = config;

  if (len > 0 && memchr (data, '\0', len) != NULL)
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG,
                   "%s: contains a NUL byte: not a text file", path_for_messages);
      return NULL;
    }

  /* Stage 1: syntax, duplicate groups and keys. */
  index_build (&parser, data != NULL ? data : "", len);
  if (!parser_check (&parser, error))
    return NULL;
  if (!g_key_file_load_from_data (keyfile, data != NULL ? data : "", len,
                                  G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, PF_ERROR, PF_ERROR_INVALID_CONFIG, "%s: %s",
                   path_for_messages, local_error->message);
      return NULL;
    }

  /* Stage 2: groups, keys and values. */
  parse_groups (&parser, entries);
  if (!parser_check (&parser, error))
    return NULL;

  /* Stage 3: what the uplinks need, alone and together. */
  check_uplinks (&parser, entries);
  check_remote_access (&parser);
  if (!parser_check (&parser, error))
    return NULL;

  /* Stage 4: order and routing tables. */
  assign_tables (&parser, entries);
  if (!parser_check (&parser, error))
    return NULL;

  return g_steal_pointer (&config);
}

PfConfig *
pf_config_load (const char  *path,
                GError     **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_get_contents (path, &data, &length, error))
    {
      g_prefix_error (error, "cannot read the configuration: ");
      return NULL;
    }
  return pf_config_load_data (path, data, (gssize) length, error);
}

const PfUplinkConfig *
pf_config_get_primary (const PfConfig *config)
{
  const PfUplinkConfig *first;

  g_return_val_if_fail (config != NULL, NULL);

  if (config->uplinks->len == 0)
    return NULL;
  first = g_ptr_array_index (config->uplinks, 0);
  return first->role == PF_ROLE_PRIMARY ? first : NULL;
}

const PfUplinkConfig *
pf_config_find_uplink (const PfConfig *config,
                       const char     *name)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; i < config->uplinks->len; i++)
    {
      const PfUplinkConfig *uplink = g_ptr_array_index (config->uplinks, i);

      if (g_str_equal (uplink->name, name))
        return uplink;
    }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Summary for --check-config                                               */

static void
describe_plan (GString              *out,
               const PfUplinkConfig *uplink)
{
  g_autofree char *plan = pf_format_size (uplink->plan_bytes);

  if (uplink->plan_bytes > 0)
    g_string_append_printf (out, "  plan %s per cycle", plan);
  else
    g_string_append (out, "  no plan size");
  if (uplink->billing_start != NULL)
    g_string_append_printf (out, ", cycles of %u days from %s", uplink->billing_period_days,
                            uplink->billing_start);
  else
    g_string_append_printf (out, ", cycle starts on day %u", uplink->billing_day);
  if (uplink->plan_bytes > 0)
    {
      g_string_append (out, ", alerts at");
      for (guint i = 0; i < uplink->n_usage_alerts; i++)
        g_string_append_printf (out, "%s %u%%", i > 0 ? "," : "", uplink->usage_alerts[i]);
      if (uplink->n_usage_alerts == 0)
        g_string_append (out, " none");
      g_string_append_printf (out, ", at the cap: %s", pf_cap_action_to_string (uplink->cap_action));
    }
  g_string_append_c (out, '\n');
}

static void
describe_uplink (GString              *out,
                 const PfUplinkConfig *uplink)
{
  g_autofree char *interval = pf_format_duration_ms (uplink->interval_ms);
  g_autofree char *fast = pf_format_duration_ms (uplink->fast_interval_ms);
  g_autofree char *timeout = pf_format_duration_ms (uplink->timeout_ms);
  g_autofree char *up_time = pf_format_duration_ms (uplink->up_min_ms);
  g_autofree char *hold = pf_format_duration_ms (uplink->failback_hold_ms);

  g_string_append_printf (out, "uplink %s: %s", uplink->name, pf_role_to_string (uplink->role));
  if (uplink->role == PF_ROLE_BACKUP)
    g_string_append_printf (out, " (priority %u)", uplink->priority);
  if (uplink->interface != NULL)
    g_string_append_printf (out, ", interface %s", uplink->interface);
  if (uplink->connection != NULL)
    g_string_append_printf (out, ", connection \"%s\"", uplink->connection);
  g_string_append_c (out, '\n');

  g_string_append_printf (out, "  targets (%u of %u must answer):", uplink->quorum,
                          uplink->targets->len);
  for (guint i = 0; i < uplink->targets->len; i++)
    {
      const PfProbeTarget *target = g_ptr_array_index (uplink->targets, i);

      g_string_append_printf (out, " %s", target->spec);
    }
  g_string_append_c (out, '\n');

  g_string_append_printf (out, "  probes every %s (%s after a failed round), timeout %s\n",
                          interval, fast, timeout);
  g_string_append_printf (out, "  down after %u failed rounds; up after %u good rounds and %s; "
                          "degraded above %u%% loss; failback hold %s\n",
                          uplink->down_rounds, uplink->up_rounds, up_time,
                          uplink->degraded_loss, hold);

  if (uplink->role == PF_ROLE_BACKUP)
    {
      g_autofree char *test = pf_format_duration_ms (uplink->standby_test_interval_s * SECOND_MS);
      g_autofree char *activate = pf_format_duration_ms (uplink->activate_timeout_ms);

      if (uplink->via != NULL)
        g_string_append_printf (out, "  a tunnel over %s to %s, brought up and tested when needed\n",
                                uplink->via, uplink->server);
      g_string_append_printf (out, "  %s standby, ", pf_standby_to_string (uplink->standby));
      if (uplink->standby_test_interval_s > 0)
        g_string_append_printf (out, "standby test every %s", test);
      else
        g_string_append (out, "no standby test");
      if (uplink->standby == PF_STANDBY_COLD)
        g_string_append_printf (out, ", activation limit %s", activate);
      g_string_append_printf (out, ", routing table %u", uplink->table);
      if (uplink->gateway != NULL)
        g_string_append_printf (out, ", gateway %s", uplink->gateway);
      if (uplink->gateway6 != NULL)
        g_string_append_printf (out, ", gateway6 %s", uplink->gateway6);
      if (uplink->management != NULL)
        g_string_append_printf (out, ", management %s", uplink->management);
      if (uplink->dns != NULL)
        {
          g_autofree char *dns = g_strjoinv (", ", uplink->dns);

          g_string_append_printf (out, ", resolvers %s", dns);
        }
      g_string_append_c (out, '\n');
      describe_plan (out, uplink);
    }
}

/* The IPv6 guests, after the IPv4 ones on the same line, and whether they
 * leave through a backup at all (only with NAT66). */
static void
describe_guests6 (GString        *out,
                  const PfConfig *config)
{
  for (guint i = 0; i < config->allowed6->len; i++)
    g_string_append_printf (out, "%s %s", i > 0 || config->allowed->len > 0 ? "," : "",
                            (const char *) g_ptr_array_index (config->allowed6, i));
  if (config->allowed6->len > 0 || config->nat66)
    g_string_append (out, config->nat66 ? "; IPv6 with NAT66" : "; IPv6 blocked (no nat66)");
}

char *
pf_config_describe (const PfConfig *config)
{
  GString *out;

  g_return_val_if_fail (config != NULL, NULL);

  out = g_string_new (NULL);
  g_string_append_printf (out, "configuration %s\n", config->path);
  for (guint i = 0; i < config->uplinks->len; i++)
    describe_uplink (out, g_ptr_array_index (config->uplinks, i));

  g_string_append (out, "guests allowed on a backup:");
  if (config->allowed->len == 0 && config->allowed6->len == 0)
    g_string_append (out, " none");
  for (guint i = 0; i < config->allowed->len; i++)
    g_string_append_printf (out, "%s %s", i > 0 ? "," : "",
                            (const char *) g_ptr_array_index (config->allowed, i));
  describe_guests6 (out, config);
  g_string_append_c (out, '\n');

  g_string_append_printf (out, "daemon: probe mark 0x%x, ip rule priority %u-%u, "
                          "conntrack mark mask 0x%08x, on stop %s\n",
                          config->probe_mark, config->rule_priority, config->rule_priority + 2,
                          config->ct_mark_mask, pf_on_stop_to_string (config->on_stop));
  if (config->dns_mode != PF_DNS_MODE_AUTO)
    g_string_append_printf (out, "dns: %s\n", pf_dns_mode_to_string (config->dns_mode));
  for (guint i = 0; i < config->notifiers->len; i++)
    {
      const PfNotifierConfig *n = g_ptr_array_index (config->notifiers, i);

      g_string_append_printf (out, "notify %s: %s", n->name, pf_notifier_kind_to_string (n->kind));
      if (n->kind == PF_NOTIFIER_TELEGRAM)
        g_string_append_printf (out, " chat %s%s, token from %s", n->chat_id,
                                n->topic_id ? " (topic)" : "", n->token_file);
      else
        g_string_append_printf (out, " %s%s", n->url, n->header ? " (with a header)" : "");
      g_string_append_printf (out, ", at most %u messages a minute, in %s\n", n->rate_limit, config->language);
    }
  g_string_append_printf (out, "hooks: %s (timeout %u s)\n", config->hooks_dir, config->hook_timeout_ms / 1000);
  for (guint i = 0; i < config->forwards->len; i++)
    {
      const PfForwardConfig *f = g_ptr_array_index (config->forwards, i);
      g_autofree char *interfaces = g_strjoinv (" ", f->interfaces);
      gboolean v6 = strchr (f->to_address, ':') != NULL;

      g_string_append_printf (out, "forward %s: %s port %u on %s to %s%s%s:%u, %s%s\n", f->name,
                              f->proto, f->port, interfaces, v6 ? "[" : "", f->to_address,
                              v6 ? "]" : "", f->to_port,
                              f->when == PF_FORWARD_ALWAYS ? "always" : "only while failed over",
                              f->masquerade ? ", masqueraded" : "");
    }
  for (guint i = 0; i < config->remote_access->len; i++)
    {
      const PfRemoteAccessConfig *r = g_ptr_array_index (config->remote_access, i);

      g_string_append_printf (out, "remote access %s: %s", r->name, pf_remote_kind_to_string (r->kind));
      if (r->interface != NULL)
        g_string_append_printf (out, " on %s", r->interface);
      if (r->network != NULL)
        g_string_append_printf (out, " network %s", r->network);
      g_string_append_printf (out, ", probe %s every %u s", r->probe, r->interval_ms / 1000);
      if (r->out_of_band != NULL)
        g_string_append_printf (out, ", out of band through %s (fwmark 0x%x)", r->out_of_band, r->fwmark);
      if (r->endpoint != NULL)
        g_string_append_printf (out, ", endpoint %s", r->endpoint);
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}
