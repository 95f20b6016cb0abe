/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Telemetry of the modem behind a backup uplink, read-only, at no data cost:
 * state, access technology, signal, registration, operator, SIM, bearer
 * counters. Sources are subclasses listed in one table (pf-modem.c):
 * ModemManager through libmm-glib, a HiLink stick through its HTTP API.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A snapshot. Strings are never NULL ("" when unknown); doubles are NAN
 * when unknown; signal_quality is -1 when unknown. */
typedef struct {
  gboolean  present;            /* the modem is there (found, plugged in, answering) */
  char     *model;              /* "Huawei E3372", "" */
  char     *state;              /* ModemManager's names: "failed", "unknown", "initializing",
                                 * "locked", "disabled", "disabling", "enabling", "enabled",
                                 * "searching", "registered", "disconnecting", "connecting",
                                 * "connected"; "" when the source has none */
  char     *failed_reason;      /* "sim-missing", "sim-error", "unknown-capabilities", … or "" */
  char     *access_technology;  /* "lte", "5gnr", "umts", "hspa", "edge", "gsm", … or "" */
  int       signal_quality;     /* percent 0..100, -1 unknown */
  double    rssi;               /* dBm */
  double    rsrp;               /* dBm */
  double    rsrq;               /* dB */
  double    sinr;               /* dB */
  char     *registration;       /* "home", "roaming", "searching", "denied", "idle", "unknown" */
  char     *operator_name;
  char     *operator_code;      /* MCC+MNC */
  char     *sim_operator;
  char     *sim_state;          /* "ok", "missing", "locked", "error", "" unknown */
  guint64   rx_bytes;           /* bearer/session counters, 0 unknown */
  guint64   tx_bytes;
  char     *iccid;              /* private: never logged, shown only through an authorized call */
  char     *imsi;               /* private */
  char     *error;              /* why telemetry is missing or partial, "" when fine */
} PfModemInfo;

PfModemInfo *pf_modem_info_new   (void);
PfModemInfo *pf_modem_info_copy  (const PfModemInfo *info);
void         pf_modem_info_free  (PfModemInfo *info);
gboolean     pf_modem_info_equal (const PfModemInfo *a,
                                  const PfModemInfo *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfModemInfo, pf_modem_info_free)

/* Add the snapshot's members to the object being built: unknown levels are
 * null, an unknown signal quality -1; ICCID and IMSI only @with_private. */
void         pf_modem_info_to_json (const PfModemInfo *info,
                                    JsonBuilder       *builder,
                                    gboolean           with_private);

#define PF_TYPE_MODEM (pf_modem_get_type ())
G_DECLARE_DERIVABLE_TYPE (PfModem, pf_modem, PF, MODEM, GObject)

struct _PfModemClass
{
  GObjectClass parent_class;

  /* The source's name, set in class_init: "modemmanager", "hilink". */
  const char *name;

  /* Begin watching or polling; report with pf_modem_update(). */
  void (*start) (PfModem *self);
  /* Stop all I/O; no "changed" after this. */
  void (*stop)  (PfModem *self);
};

/* The name of the source: "modemmanager", "hilink". */
const char        *pf_modem_get_source (PfModem *self);
/* Whether the source published a snapshot since it was created. */
gboolean           pf_modem_has_info   (PfModem *self);
/* The latest snapshot; never NULL (an empty one before the first update). */
const PfModemInfo *pf_modem_get_info   (PfModem *self);
void               pf_modem_start      (PfModem *self);
void               pf_modem_stop       (PfModem *self);

/* For sources: publish a new snapshot (takes it); emits "changed" when it
 * differs from the previous one. */
void               pf_modem_update     (PfModem     *self,
                                        PfModemInfo *info);

G_END_DECLS
