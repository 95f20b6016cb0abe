/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Telemetry of a HiLink-style USB modem (a plain Ethernet device for
 * NetworkManager) from the HTTP API on its management address, polled at a
 * low rate through that address only, never through the data path.
 *
 * Flavours, detected on the first poll (and again after the API vanished):
 *   Huawei (E3372h, E8372, …): GET /api/webserver/SesTokInfo, then with the
 *     session cookie and the verification token: /api/device/signal,
 *     /api/monitoring/status, /api/net/current-plmn,
 *     /api/monitoring/traffic-statistics, and /api/device/information once
 *     per session (model; ICCID and IMSI go to the private fields only and
 *     are never logged). A rejected token or session (125001/125002/125003)
 *     refreshes SesTokInfo and retries that request once. 100002 (not
 *     supported) on an endpoint is ignored: its fields stay unknown.
 *   ZTE (MF79U, MF823, …): one GET of
 *     /goform/goform_get_cmd_process?isTest=false&multi_data=1&cmd=… (JSON).
 *
 * What the snapshot says:
 *   - the API answers: present TRUE, the values, error "" (or why they are
 *     partial, e.g. "the stick asks for a login");
 *   - no API at all (HTTP 404 for both flavours, or the connection refused
 *     before any API ever answered: something is there, with no web server on
 *     that port): the stick may work fine as
 *     a link, only its telemetry is missing, so present TRUE, state "" and
 *     error "no HiLink or ZTE API at URL (HTTP 404)"; detection is retried
 *     only every 30 minutes (PF_MODEM_HILINK_NO_API_INTERVAL_S), not in a loop.
 *     A stick whose API answered before and vanished (it rebooted into
 *     another mode, a captive page) is a failed poll instead: "API gone:
 *     HTTP 404", see below;
 *   - the stick asks for a login (108003, 100003): present TRUE, error
 *     "the stick asks for a login (API error N)", polled at the normal
 *     interval, no token-refresh loop;
 *   - a failed poll (timeout after 5 s, connection refused once an API had
 *     answered, HTTP 5xx,
 *     garbage, an API error code, a token still rejected after a refresh):
 *     the last values are kept and error says why ("timeout",
 *     "HTTP 500 on /api/device/signal", "API error 125003 on …",
 *     "garbage: …"); after 3 consecutive failed polls present becomes FALSE
 *     with error "HiLink API not answering (REASON)": a stick that rebooted or
 *     died matters for the health of the backup. Failed polls are retried
 *     with an exponential back-off (2 s, 4 s, …) capped at the poll interval.
 * Never more than one request in flight. Log domain "pvefailover-hilink".
 */
#pragma once

#include <gio/gio.h>

#include "pf-modem.h"

G_BEGIN_DECLS

/* @base_url: the management address, "http://192.168.8.1" (no trailing path).
 * @ifname: the HTTP connections are bound to it (SO_BINDTODEVICE, needs
 * CAP_NET_RAW) so they never follow the main routing table; NULL or "" for
 * no binding. @poll_interval_s: 0 means PF_MODEM_HILINK_DEFAULT_POLL_S.
 * Nothing is sent before pf_modem_start(). */
PfModem *pf_modem_hilink_new (const char *base_url,
                              const char *ifname,
                              guint       poll_interval_s);

#define PF_MODEM_HILINK_DEFAULT_POLL_S      60
#define PF_MODEM_HILINK_REQUEST_TIMEOUT_S   5
#define PF_MODEM_HILINK_NO_API_INTERVAL_S   (30 * 60)
#define PF_MODEM_HILINK_MAX_FAILURES        3

#define PF_TYPE_MODEM_HILINK (pf_modem_hilink_get_type ())
G_DECLARE_FINAL_TYPE (PfModemHilink, pf_modem_hilink, PF, MODEM_HILINK, PfModem)

/* "huawei", "zte", "none" (no API found) or "" (not detected yet). */
const char *pf_modem_hilink_get_flavour (PfModemHilink *self);

/* The pure parsers, for the source and its tests. */

#define PF_HILINK_ERROR (pf_hilink_error_quark ())
GQuark pf_hilink_error_quark (void);

typedef enum {
  PF_HILINK_ERROR_GARBAGE,         /* not the document expected: "garbage: …" */
  PF_HILINK_ERROR_API,             /* <error><code>N</code>: "API error N" */
  PF_HILINK_ERROR_TOKEN,           /* 125001, 125002, 125003: token or session rejected */
  PF_HILINK_ERROR_LOGIN_REQUIRED,  /* 108003, 100003 */
  PF_HILINK_ERROR_NOT_SUPPORTED,   /* 100002 */
} PfHilinkError;

/* Huawei XML documents (<?xml …?><response>…</response>). Each fills only
 * the fields its document carries and leaves the others alone; a field that
 * is missing or empty is left unknown. An <error> document fails with the
 * PfHilinkError of its code and the message "API error N". */
gboolean pf_hilink_parse_huawei_session     (const char  *xml,
                                             gssize       len,
                                             char       **cookie,
                                             char       **token,
                                             GError     **error);
/* rssi, rsrp, rsrq, sinr ("-95dBm", "-9.0dB", "&gt;=-51dBm"). */
gboolean pf_hilink_parse_huawei_signal      (const char  *xml,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);
/* state, failed_reason, access_technology, signal_quality, sim_state,
 * registration (ServiceStatus, RoamingStatus). */
gboolean pf_hilink_parse_huawei_status      (const char  *xml,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);
/* operator_name, operator_code, sim_operator (Spn); registration when the
 * status document gave none. */
gboolean pf_hilink_parse_huawei_plmn        (const char  *xml,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);
/* rx_bytes = CurrentDownload, tx_bytes = CurrentUpload (this session). */
gboolean pf_hilink_parse_huawei_traffic     (const char  *xml,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);
/* model ("Huawei E3372"), iccid, imsi. */
gboolean pf_hilink_parse_huawei_information (const char  *xml,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);
/* The ZTE multi_data JSON object: every field it carries. */
gboolean pf_hilink_parse_zte                (const char  *json,
                                             gssize       len,
                                             PfModemInfo *info,
                                             GError     **error);

/* "-95dBm" → -95.0, "&gt;=-51dBm" (already unescaped: ">=-51dBm") → -51.0,
 * "-9.0dB" → -9.0, "12" → 12.0; NAN for "", NULL or anything else. */
double      pf_hilink_parse_level           (const char *text);
/* CurrentNetworkType / CurrentNetworkTypeEx code → ModemManager's name
 * ("lte", "umts", "hspa-plus", …), "" for none or unknown. */
const char *pf_hilink_huawei_network_type   (guint code);

G_END_DECLS
