/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "pf-error.h"

static const GDBusErrorEntry pf_error_entries[] = {
  { PF_ERROR_FAILED,         "org.pvefailover.Error.Failed" },
  { PF_ERROR_INVALID_CONFIG, "org.pvefailover.Error.InvalidConfig" },
  { PF_ERROR_INVALID_ARGS,   "org.pvefailover.Error.InvalidArgs" },
  { PF_ERROR_NOT_FOUND,      "org.pvefailover.Error.NotFound" },
  { PF_ERROR_NOT_AUTHORIZED, "org.pvefailover.Error.NotAuthorized" },
  { PF_ERROR_BUSY,           "org.pvefailover.Error.Busy" },
  { PF_ERROR_SYSTEM,         "org.pvefailover.Error.System" },
};

GQuark
pf_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("pf-error-quark", &quark,
                                      pf_error_entries, G_N_ELEMENTS (pf_error_entries));
  return (GQuark) quark;
}
