/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The org.pvefailover.Error.* domain, shared by the daemon, the client and the tests.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  PF_ERROR_FAILED,          /* org.pvefailover.Error.Failed */
  PF_ERROR_INVALID_CONFIG,  /* org.pvefailover.Error.InvalidConfig */
  PF_ERROR_INVALID_ARGS,    /* org.pvefailover.Error.InvalidArgs */
  PF_ERROR_NOT_FOUND,       /* org.pvefailover.Error.NotFound */
  PF_ERROR_NOT_AUTHORIZED,  /* org.pvefailover.Error.NotAuthorized */
  PF_ERROR_BUSY,            /* org.pvefailover.Error.Busy */
  PF_ERROR_SYSTEM,          /* org.pvefailover.Error.System: the kernel or NetworkManager refused */
} PfError;

#define PF_ERROR (pf_error_quark ())
GQuark pf_error_quark (void);

G_END_DECLS
