/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * pvefailover configuration: a GKeyFile parsed into plain structs.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  PF_PROBE_ICMP,
  PF_PROBE_TCP,
  PF_PROBE_DNS,
  PF_PROBE_HTTP,
  PF_PROBE_HTTPS,
} PfProbeKind;

/* One probe target, parsed from a spec such as
 *   icmp:198.51.100.10
 *   tcp:198.51.100.10:443
 *   dns:198.51.100.53/example.org     (UDP port 53, A query for example.org)
 *   http://198.51.100.80/health  https://198.51.100.80:8443/ok
 */
typedef struct {
  PfProbeKind kind;
  char       *spec;      /* the text as written, for messages */
  char       *address;   /* IP literal (host name allowed for http/https only) */
  guint16     port;      /* tcp, dns (default 53), http (80), https (443) */
  char       *path;      /* http/https: path and query, default "/" */
  char       *qname;     /* dns: name to query (A), default "." */
} PfProbeTarget;

typedef enum {
  PF_ROLE_PRIMARY,
  PF_ROLE_BACKUP,
} PfRole;

typedef enum {
  PF_STANDBY_HOT,
  PF_STANDBY_COLD,
} PfStandby;

/* Where a backup's modem telemetry comes from. */
typedef enum {
  PF_MODEM_SOURCE_AUTO,          /* ModemManager for a modem device, HiLink when management= is set */
  PF_MODEM_SOURCE_MODEMMANAGER,
  PF_MODEM_SOURCE_HILINK,
  PF_MODEM_SOURCE_NONE,
} PfModemSource;

/* What happens when a backup's data plan is used up. */
typedef enum {
  PF_CAP_NOTIFY,                 /* tell, change nothing */
  PF_CAP_RESTRICT,               /* only the host itself (its remote access) may use the backup */
  PF_CAP_BLOCK,                  /* nothing leaves through the backup */
} PfCapAction;

#define PF_MAX_USAGE_ALERTS 8

typedef struct {
  char      *name;             /* from [uplink NAME]: [a-z0-9_-]{1,32} */
  PfRole     role;
  guint      priority;         /* lower wins; the primary is always first */
  char      *interface;        /* kernel interface name, may be NULL if connection set */
  char      *connection;       /* NetworkManager connection id or uuid, may be NULL */
  GPtrArray *targets;          /* PfProbeTarget, at least one */
  guint      quorum;           /* targets that must answer for a round to succeed */
  guint      interval_ms;      /* between rounds while healthy */
  guint      fast_interval_ms; /* between rounds after a failed round */
  guint      timeout_ms;       /* per probe */
  guint      down_rounds;      /* consecutive failed rounds to go down */
  guint      up_rounds;        /* consecutive good rounds to go up */
  guint      up_min_ms;        /* and at least this long since the first good one */
  guint      failback_hold_ms; /* a higher-priority uplink must be up this long before we go back to it */
  guint      degraded_loss;    /* loss % over the window that shows as degraded (no switch) */
  PfStandby  standby;          /* backups only */
  guint      standby_test_interval_s; /* backups only: end-to-end test while idle, 0 = never */
  char      *management;       /* backups: modem management address, reachable in standby, may be NULL */
  char      *gateway;          /* backups: override the gateway learned from NetworkManager, may be NULL */
  char      *gateway6;         /* backups: the same for IPv6, may be NULL */
  guint      table;            /* backups: routing table holding this uplink's default route */
  guint      activate_timeout_ms; /* cold standby: bring-up limit */
  PfModemSource modem;         /* backups: telemetry source */
  char      *modem_api;        /* backups: HiLink API base URL, NULL = http://MANAGEMENT */
  guint      modem_poll_ms;    /* backups: HiLink polling interval */
  guint      signal_rate_ms;   /* backups: ModemManager extended signal rate, 0 = off */
  int        signal_alert_dbm; /* backups: RSRP below this (dBm) for signal_alert_ms raises an alert */
  guint      signal_alert_ms;
  guint      registration_grace_ms; /* backups: unregistered this long = broken */
  guint64    plan_bytes;       /* backups: data plan per billing cycle, 0 = not set */
  guint      billing_day;      /* backups: 1-31, a cycle starts that day of each month */
  char      *billing_start;    /* backups: "YYYY-MM-DD", cycles of billing_period_days from there;
                                * NULL = monthly on billing_day */
  guint      billing_period_days;
  guint      usage_alerts[PF_MAX_USAGE_ALERTS]; /* backups: % of the plan, ascending */
  guint      n_usage_alerts;
  PfCapAction cap_action;      /* backups: at 100 % of the plan */
  char      *via;              /* backups: a tunnel riding this other backup (brought up first), or NULL */
  char      *server;           /* with via: the tunnel's far end, routed through @via */
  char     **dns;              /* backups: resolvers while it carries traffic (at most 3),
                                * NULL = those NetworkManager learned on it */
} PfUplinkConfig;

typedef enum {
  PF_NOTIFIER_TELEGRAM,
  PF_NOTIFIER_WEBHOOK,
} PfNotifierKind;

/* One [notify NAME] group. */
typedef struct {
  char          *name;
  PfNotifierKind kind;
  char          *token_file;   /* telegram: the bot token's file (never the token itself) */
  char          *chat_id;      /* telegram */
  gint64         topic_id;     /* telegram: message_thread_id, 0 = none */
  char          *api_url;      /* telegram: API base URL, NULL = https://api.telegram.org */
  char          *url;          /* webhook */
  char          *header;       /* webhook: "Name: value" sent with each request, may be NULL */
  char          *ca_file;      /* both: trust these CAs instead of the system's, may be NULL */
  guint          rate_limit;   /* messages per minute before they are coalesced */
  guint          timeout_ms;   /* per request */
} PfNotifierConfig;

/* When a [forward NAME] port forward is in place. */
typedef enum {
  PF_FORWARD_ALWAYS,
  PF_FORWARD_FAILOVER,           /* only while a backup carries traffic */
} PfForwardWhen;

/* One [forward NAME] group: a port on the host's VPN interfaces forwarded
 * to a service inside (DNAT, the forward accept, masquerade toward it). */
typedef struct {
  char          *name;
  char          *proto;        /* "tcp" or "udp" */
  guint16        port;         /* on the VPN side */
  char          *to_address;   /* IPv4 or IPv6 literal */
  guint16        to_port;
  GStrv          interfaces;   /* names, a trailing '*' matches a prefix: "zt*", "wg*" */
  PfForwardWhen  when;
  gboolean       masquerade;   /* the service sees the host as the source */
} PfForwardConfig;

typedef enum {
  PF_REMOTE_WIREGUARD,
  PF_REMOTE_ZEROTIER,
} PfRemoteKind;

/* One [remote-access NAME] group: a VPN the admin comes in through. */
typedef struct {
  char         *name;
  PfRemoteKind  kind;
  char         *interface;     /* wireguard: required; zerotier: its zt interface, may be NULL */
  char         *probe;         /* an address across the tunnel, pinged through it */
  guint         interval_ms;   /* between probes while it answers */
  guint         timeout_ms;    /* per probe */
  char         *out_of_band;   /* wireguard: backup uplink its packets always leave through, or NULL */
  guint32       fwmark;        /* wireguard: the interface's fwmark (with out_of_band) */
  char         *endpoint;      /* wireguard: "HOST:PORT" resolved again after each switch, or NULL */
  char         *peer_key;      /* wireguard: the peer @endpoint belongs to */
  char         *network;       /* zerotier: 16 hex digits */
  char         *api;           /* zerotier: local service API base URL */
  char         *token_file;    /* zerotier: the API token's file */
} PfRemoteAccessConfig;

typedef enum {
  PF_ON_STOP_RESTORE,
  PF_ON_STOP_KEEP,
} PfOnStop;

/* How the host's resolvers follow the uplink carrying traffic (pf-dns). */
typedef enum {
  PF_DNS_MODE_AUTO,              /* NetworkManager when it manages resolv.conf, else resolv.conf */
  PF_DNS_MODE_NETWORKMANAGER,    /* NetworkManager's global DNS configuration */
  PF_DNS_MODE_RESOLV_CONF,       /* /etc/resolv.conf rewritten, the original saved */
  PF_DNS_MODE_OFF,               /* DNS left alone */
} PfDnsMode;

#define PF_MAX_DNS_SERVERS 3     /* what the C library's resolver uses (MAXNS) */

typedef struct {
  char      *path;             /* file it came from */
  GPtrArray *uplinks;          /* PfUplinkConfig, primary first then by priority */
  GPtrArray *allowed;          /* char *, "A.B.C.D/N" networks allowed to leave via a backup */
  GPtrArray *allowed6;         /* char *, "X::Y/N" IPv6 networks of [guests] allow= */
  gboolean   nat66;            /* [guests] nat66=: allowed6 leave via a backup, masqueraded */
  guint32    probe_mark;       /* fwmark on the daemon's probe sockets */
  guint      rule_priority;    /* first of the daemon's ip rule priorities (uses 3) */
  guint32    ct_mark_mask;     /* conntrack mark bits the daemon owns to tag egress uplink */
  PfOnStop   on_stop;
  PfDnsMode  dns_mode;
  char      *language;         /* "en" or "fr": notifications and hooks' messages */
  GPtrArray *notifiers;        /* PfNotifierConfig, file order */
  char      *hooks_dir;        /* [hooks] directory */
  guint      hook_timeout_ms;
  GPtrArray *forwards;         /* PfForwardConfig, file order */
  GPtrArray *remote_access;    /* PfRemoteAccessConfig, file order */
} PfConfig;

/* Built-in defaults, also the documented ones. */
#define PF_DEFAULT_CONFIG_FILE        SYSCONFDIR "/pvefailover/pvefailover.conf"
#define PF_DEFAULT_PROBE_MARK         0x70f0
#define PF_DEFAULT_RULE_PRIORITY      10000
#define PF_DEFAULT_TABLE_BASE         7100
#define PF_DEFAULT_CT_MARK_MASK       0x00ff0000
#define PF_DEFAULT_HOOKS_DIR          SYSCONFDIR "/pvefailover/hooks.d"
#define PF_DEFAULT_HOOK_TIMEOUT_MS    (30 * 1000)
#define PF_DEFAULT_NOTIFY_RATE_LIMIT  6
#define PF_DEFAULT_NOTIFY_TIMEOUT_MS  (15 * 1000)
#define PF_DEFAULT_REMOTE_INTERVAL_MS (60 * 1000)
#define PF_DEFAULT_REMOTE_TIMEOUT_MS  (2 * 1000)
#define PF_DEFAULT_ZEROTIER_API       "http://127.0.0.1:9993"
#define PF_DEFAULT_ZEROTIER_TOKEN     "/var/lib/zerotier-one/authtoken.secret"

PfConfig       *pf_config_load       (const char  *path,
                                      GError     **error);
PfConfig       *pf_config_load_data  (const char  *path_for_messages,
                                      const char  *data,
                                      gssize       length,
                                      GError     **error);
void            pf_config_free       (PfConfig    *config);

const PfUplinkConfig *pf_config_get_primary (const PfConfig *config);
const PfUplinkConfig *pf_config_find_uplink (const PfConfig *config,
                                             const char     *name);

/* "250ms", "1s", "1.5s", "2min", "1h"; plain numbers are seconds. */
gboolean        pf_parse_duration_ms (const char  *text,
                                      guint       *out_ms,
                                      GError     **error);

const char     *pf_probe_kind_to_string (PfProbeKind kind);
const char     *pf_standby_to_string    (PfStandby   standby);
const char     *pf_modem_source_to_string (PfModemSource source);
const char     *pf_role_to_string       (PfRole      role);
const char     *pf_on_stop_to_string    (PfOnStop    on_stop);
const char     *pf_cap_action_to_string (PfCapAction action);
const char     *pf_notifier_kind_to_string (PfNotifierKind kind);
const char     *pf_forward_when_to_string  (PfForwardWhen  when);
const char     *pf_remote_kind_to_string   (PfRemoteKind   kind);
const char     *pf_dns_mode_to_string   (PfDnsMode   mode);

/* "10GB", "500MB", "1.5GiB", "0"; plain numbers are bytes. KB, MB, GB, TB are
 * powers of 1000, KiB, MiB, GiB, TiB of 1024. */
gboolean        pf_parse_size           (const char  *text,
                                         guint64     *out_bytes,
                                         GError     **error);
/* "10 GB", "1.5 GB", "512 MB", "900 B": the shortest readable form. */
char           *pf_format_size          (guint64     bytes);

/* The shortest of "0", "250ms", "1.5s", "30s", "2min", "1h", "1d". */
char           *pf_format_duration_ms   (guint       ms);

/* One target spec as in targets= (see PfProbeTarget); the error says why. */
PfProbeTarget  *pf_probe_target_parse   (const char  *spec,
                                         GError     **error);
void            pf_probe_target_free    (PfProbeTarget *target);

/* A short human summary (uplinks, interfaces, targets, timings, guests,
 * daemon settings), several lines ending with a newline: what
 * `pvefailoverd --check-config` prints. */
char           *pf_config_describe      (const PfConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfConfig, pf_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfProbeTarget, pf_probe_target_free)

G_END_DECLS
