/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Events (one record per transition) and the daemon's state file,
 * $STATE_DIRECTORY/state.json, written atomically (temp file, fsync, rename).
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pf-policy.h"

G_BEGIN_DECLS

typedef struct {
  gint64  time_us;   /* wall clock, µs since the epoch */
  char   *kind;      /* failover, failback, switch, uplink-down, uplink-up, mode, reload, error */
  char   *from;
  char   *to;
  char   *reason;
} PfEvent;

PfEvent *pf_event_new  (gint64      time_us,
                        const char *kind,
                        const char *from,
                        const char *to,
                        const char *reason);
void     pf_event_free (PfEvent *event);
void     pf_event_to_json (const PfEvent *event,
                           JsonBuilder   *builder);

#define PF_STATE_MAX_EVENTS 200

typedef struct {
  PfMode     mode;
  char      *forced_uplink;   /* "" unless mode is force */
  char      *active_uplink;   /* NULL: none recorded */
  gint64     last_change_us;
  char      *last_reason;
  GPtrArray *events;          /* PfEvent, oldest first, at most PF_STATE_MAX_EVENTS */
  JsonNode  *usage;           /* the backups' data usage (pf-accounting), an object or NULL */
} PfState;

PfState  *pf_state_new        (void);
void      pf_state_free       (PfState *state);
void      pf_state_add_event  (PfState *state,
                               PfEvent *event);

/* A missing file gives a fresh state and no error; an unreadable or corrupt
 * one gives an error (the caller warns and starts fresh). */
PfState  *pf_state_load       (const char  *path,
                               GError     **error);
gboolean  pf_state_save       (const PfState *state,
                               const char    *path,
                               GError       **error);

/* A string or integer member of @object; NULL or 0 when absent or of
 * another type (files written by hand or by an older version). */
const char *pf_json_member_string (JsonObject *object,
                                   const char *name);
gint64      pf_json_member_int    (JsonObject *object,
                                   const char *name);

/* $STATE_DIRECTORY/state.json, or LOCALSTATEDIR/lib/pvefailover/state.json. */
char     *pf_state_default_path (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfState, pf_state_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfEvent, pf_event_free)

G_END_DECLS
