/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "pvefailover-modem"

#include "config.h"

#include <math.h>

#include "pf-modem.h"

typedef struct
{
  PfModemInfo *info;
  gboolean     running;
  gboolean     published;
} PfModemPrivate;

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (PfModem, pf_modem, G_TYPE_OBJECT)

PfModemInfo *
pf_modem_info_new (void)
{
  PfModemInfo *info = g_new0 (PfModemInfo, 1);

  info->model = g_strdup ("");
  info->state = g_strdup ("");
  info->failed_reason = g_strdup ("");
  info->access_technology = g_strdup ("");
  info->signal_quality = -1;
  info->rssi = info->rsrp = info->rsrq = info->sinr = NAN;
  info->registration = g_strdup ("unknown");
  info->operator_name = g_strdup ("");
  info->operator_code = g_strdup ("");
  info->sim_operator = g_strdup ("");
  info->sim_state = g_strdup ("");
  info->iccid = g_strdup ("");
  info->imsi = g_strdup ("");
  info->error = g_strdup ("");
  return info;
}

/* The string members, for copy, free and compare. */
#define FOR_EACH_STRING(X) \
  X (model) X (state) X (failed_reason) X (access_technology) X (registration) \
  X (operator_name) X (operator_code) X (sim_operator) X (sim_state) X (iccid) \
  X (imsi) X (error)

PfModemInfo *
pf_modem_info_copy (const PfModemInfo *info)
{
  PfModemInfo *copy = g_memdup2 (info, sizeof *info);

#define COPY(m) copy->m = g_strdup (info->m ? info->m : "");
  FOR_EACH_STRING (COPY)
#undef COPY
  return copy;
}

void
pf_modem_info_free (PfModemInfo *info)
{
  if (info == NULL)
    return;
#define FREE(m) g_free (info->m);
  FOR_EACH_STRING (FREE)
#undef FREE
  g_free (info);
}

static gboolean
double_equal (double a, double b)
{
  return (isnan (a) && isnan (b)) || a == b;
}

gboolean
pf_modem_info_equal (const PfModemInfo *a,
                     const PfModemInfo *b)
{
  if (a->present != b->present || a->signal_quality != b->signal_quality ||
      a->rx_bytes != b->rx_bytes || a->tx_bytes != b->tx_bytes ||
      !double_equal (a->rssi, b->rssi) || !double_equal (a->rsrp, b->rsrp) ||
      !double_equal (a->rsrq, b->rsrq) || !double_equal (a->sinr, b->sinr))
    return FALSE;
#define CMP(m) if (g_strcmp0 (a->m, b->m) != 0) return FALSE;
  FOR_EACH_STRING (CMP)
#undef CMP
  return TRUE;
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value != NULL ? value : "");
}

static void
add_level (JsonBuilder *builder,
           const char  *name,
           double       value)
{
  json_builder_set_member_name (builder, name);
  if (isnan (value))
    json_builder_add_null_value (builder);
  else
    json_builder_add_double_value (builder, value);
}

void
pf_modem_info_to_json (const PfModemInfo *info,
                       JsonBuilder       *builder,
                       gboolean           with_private)
{
  json_builder_set_member_name (builder, "present");
  json_builder_add_boolean_value (builder, info->present);
  add_string (builder, "model", info->model);
  add_string (builder, "state", info->state);
  add_string (builder, "failed_reason", info->failed_reason);
  add_string (builder, "access_technology", info->access_technology);
  json_builder_set_member_name (builder, "signal_quality");
  json_builder_add_int_value (builder, info->signal_quality);
  add_level (builder, "rssi", info->rssi);
  add_level (builder, "rsrp", info->rsrp);
  add_level (builder, "rsrq", info->rsrq);
  add_level (builder, "sinr", info->sinr);
  add_string (builder, "registration", info->registration);
  add_string (builder, "operator_name", info->operator_name);
  add_string (builder, "operator_code", info->operator_code);
  add_string (builder, "sim_operator", info->sim_operator);
  add_string (builder, "sim_state", info->sim_state);
  json_builder_set_member_name (builder, "rx_bytes");
  json_builder_add_int_value (builder, (gint64) info->rx_bytes);
  json_builder_set_member_name (builder, "tx_bytes");
  json_builder_add_int_value (builder, (gint64) info->tx_bytes);
  if (with_private)
    {
      add_string (builder, "iccid", info->iccid);
      add_string (builder, "imsi", info->imsi);
    }
  add_string (builder, "error", info->error);
}

const char *
pf_modem_get_source (PfModem *self)
{
  g_return_val_if_fail (PF_IS_MODEM (self), NULL);
  return PF_MODEM_GET_CLASS (self)->name;
}

gboolean
pf_modem_has_info (PfModem *self)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);

  g_return_val_if_fail (PF_IS_MODEM (self), FALSE);
  return priv->published;
}

const PfModemInfo *
pf_modem_get_info (PfModem *self)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);

  g_return_val_if_fail (PF_IS_MODEM (self), NULL);
  return priv->info;
}

void
pf_modem_start (PfModem *self)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);

  g_return_if_fail (PF_IS_MODEM (self));
  if (priv->running)
    return;
  priv->running = TRUE;
  PF_MODEM_GET_CLASS (self)->start (self);
}

void
pf_modem_stop (PfModem *self)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);

  g_return_if_fail (PF_IS_MODEM (self));
  if (!priv->running)
    return;
  priv->running = FALSE;
  PF_MODEM_GET_CLASS (self)->stop (self);
}

void
pf_modem_update (PfModem     *self,
                 PfModemInfo *info)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);
  g_autoptr(PfModemInfo) owned = info;

  g_return_if_fail (PF_IS_MODEM (self));
  g_return_if_fail (info != NULL);

  if (!priv->running || (priv->published && pf_modem_info_equal (priv->info, info)))
    return;
  priv->published = TRUE;
  pf_modem_info_free (priv->info);
  priv->info = g_steal_pointer (&owned);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
pf_modem_finalize (GObject *object)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (PF_MODEM (object));

  pf_modem_info_free (priv->info);
  G_OBJECT_CLASS (pf_modem_parent_class)->finalize (object);
}

static void
pf_modem_class_init (PfModemClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pf_modem_finalize;

  /* The snapshot changed: read it with pf_modem_get_info(). */
  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pf_modem_init (PfModem *self)
{
  PfModemPrivate *priv = pf_modem_get_instance_private (self);

  priv->info = pf_modem_info_new ();
}
