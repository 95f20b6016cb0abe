/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Telling the world about the daemon's events: every event goes to each
 * configured notifier's queue (persisted in the state directory, sent over
 * whichever uplink works, coalesced when they come in bursts) and to the
 * hooks. What fails comes back as the "failed" signal, which the manager
 * turns into an event of its own (that event is neither hooked again nor
 * notified when it is about a notifier, so a failure cannot feed itself).
 */
#pragma once

#include <gio/gio.h>

#include "pf-config.h"
#include "pf-state.h"

G_BEGIN_DECLS

#define PF_TYPE_ANNOUNCER (pf_announcer_get_type ())
G_DECLARE_FINAL_TYPE (PfAnnouncer, pf_announcer, PF, ANNOUNCER, GObject)

/* @state_dir holds the notifiers' queues (notify-NAME.json) and is given to
 * hooks as STATE_DIRECTORY. Fails when a notifier cannot be set up (its
 * token file cannot be read, a CA file is bad): the daemon refuses to start
 * or to reload rather than run silent.
 *
 * Signal "failed" (const char *kind, const char *about, const char *reason):
 * kind "hook-failed" (about: the hook) or "notify-failed" (about: the
 * notifier; a message the service refused for good was dropped). */
PfAnnouncer *pf_announcer_new          (const PfConfig  *config,
                                        const char      *state_dir,
                                        GError         **error);

/* Hand @event to the notifiers and the hooks. @env: more "KEY=VALUE" pairs
 * for the hooks (data usage), may be NULL. */
void         pf_announcer_event        (PfAnnouncer        *self,
                                        const PfEvent      *event,
                                        const char * const *env);

/* An uplink came up or traffic moved: queued notices may go out now. */
void         pf_announcer_kick         (PfAnnouncer *self);

guint        pf_announcer_n_notifiers  (PfAnnouncer *self);

/* A test message through every notifier, past the queues; the result is
 * one line per notifier, "NAME: delivered" or "NAME: REASON". */
void         pf_announcer_test_async   (PfAnnouncer         *self,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
GStrv        pf_announcer_test_finish  (PfAnnouncer   *self,
                                        GAsyncResult  *result,
                                        GError       **error);

G_END_DECLS
