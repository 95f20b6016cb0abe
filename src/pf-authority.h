/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Authorization of D-Bus method calls with polkit, asynchronous and deny by
 * default: a method that changes something is allowed only when it is in the
 * table below and polkit says yes for its caller.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PF_TYPE_AUTHORITY (pf_authority_get_type ())
G_DECLARE_FINAL_TYPE (PfAuthority, pf_authority, PF, AUTHORITY, GObject)

PfAuthority *pf_authority_new          (void);

/* The polkit action for a method of ours, or NULL when it has none. */
const char  *pf_authority_action_for   (const char *interface_name,
                                        const char *method_name);

/* Check the caller of @invocation for its method's action. On failure the
 * error is PF_ERROR_NOT_AUTHORIZED with a message for the caller. */
void         pf_authority_check_async  (PfAuthority           *authority,
                                        GDBusMethodInvocation *invocation,
                                        GCancellable          *cancellable,
                                        GAsyncReadyCallback    callback,
                                        gpointer               user_data);
gboolean     pf_authority_check_finish (PfAuthority           *authority,
                                        GAsyncResult          *result,
                                        GError               **error);

G_END_DECLS
