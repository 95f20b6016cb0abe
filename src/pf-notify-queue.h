/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The delivery queue of one notifier, and its policy:
 *
 *   - Bounded: at most max_notices; when full, the oldest are dropped and
 *     replaced by one "dropped" notice that counts them ("12 older notices
 *     dropped (queue full)").
 *   - Persisted: the notices are written to the queue's file (JSON, temp
 *     file + fsync + rename) after every change and read back when the queue
 *     is made, so what happened while every link was down is delivered, in
 *     order and saying when it happened, once sending works again.
 *   - One request in flight. A temporary failure is retried after a backoff
 *     (backoff_ms, doubling, at most backoff_max_ms; the service's
 *     retry_after when it gave one), in order; a rejection (HTTP 400, 401,
 *     403, 404, …) drops what was sent with a warning giving the reason.
 *   - Rate limit and coalescing: at most rate_per_minute messages a minute,
 *     spaced evenly (one every minute_ms / rate_per_minute); when more than
 *     one notice waits at the time of sending, they go as ONE summary message
 *     (up to PF_NOTICE_SUMMARY_MAX in one), so a flapping link gives a
 *     summary, not thirty messages. Notices arriving in one main-loop
 *     iteration always go together.
 *
 * Log lines name the notifier: g_warning for each failure with its reason
 * (never a secret), g_message for the first delivery after failures
 * ("telegram: delivered 3 queued notices"). Timers are the main loop's; the
 * policy's times are parameters so the tests run fast.
 */
#pragma once

#include "pf-notifier.h"

G_BEGIN_DECLS

typedef struct {
  guint max_notices;       /* at least 2 */
  guint rate_per_minute;   /* 0: no limit */
  guint minute_ms;         /* the rate's minute */
  guint backoff_ms;        /* the first retry's delay */
  guint backoff_max_ms;
} PfNotifyQueuePolicy;

#define PF_NOTIFY_QUEUE_DEFAULT_MAX_NOTICES      100
#define PF_NOTIFY_QUEUE_DEFAULT_RATE_PER_MINUTE  6
#define PF_NOTIFY_QUEUE_DEFAULT_BACKOFF_MS       (5 * 1000)
#define PF_NOTIFY_QUEUE_DEFAULT_BACKOFF_MAX_MS   (5 * 60 * 1000)

/* The defaults: 100 notices, 6 messages a minute, backoff 5 s to 5 min. */
void pf_notify_queue_policy_init (PfNotifyQueuePolicy *policy);

#define PF_TYPE_NOTIFY_QUEUE (pf_notify_queue_get_type ())
G_DECLARE_FINAL_TYPE (PfNotifyQueue, pf_notify_queue, PF, NOTIFY_QUEUE, GObject)

/* A queue for @notifier, persisted in @path (NULL: kept in memory only),
 * with @policy (NULL: the defaults). Notices found in the file are sent
 * from the main loop's next iteration on; an unreadable or corrupt file is
 * reported with g_warning and the queue starts empty.
 *
 * Signals (for tests and tools; the queue logs by itself):
 *   "delivered" (guint notices)            one message went out
 *   "failed"    (const char *error, guint retry_ms)   a temporary failure
 *   "dropped"   (guint notices, const char *error)    rejected, or queue full
 *   "idle"      ()                         the queue became empty */
PfNotifyQueue *pf_notify_queue_new          (PfNotifier                *notifier,
                                             const char                *path,
                                             const PfNotifyQueuePolicy *policy);

/* Queue @notice (takes it); it goes out as soon as the policy allows. */
void           pf_notify_queue_push         (PfNotifyQueue *self,
                                             PfNotice      *notice);
/* Try again now, forgetting the backoff (never a retry_after the service
 * asked for): an uplink came up, the route changed. Idle connections are
 * closed first; a request in flight finishes, and if it fails it is retried
 * at once. */
void           pf_notify_queue_kick         (PfNotifyQueue *self);

PfNotifier    *pf_notify_queue_get_notifier (PfNotifyQueue *self);
/* The notices waiting, including those being sent. */
guint          pf_notify_queue_get_length   (PfNotifyQueue *self);
/* No notice waiting and no request in flight. */
gboolean       pf_notify_queue_is_idle      (PfNotifyQueue *self);

G_END_DECLS
