/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Probes of one uplink, bound to its interface (SO_BINDTODEVICE) and marked
 * (SO_MARK) so that they never follow the main routing table: ICMP echo, TCP
 * connect, DNS over UDP, HTTP(S) via libsoup. A round sends one probe to every
 * target at once and finishes when @quorum answered or the timeout passed.
 */
#pragma once

#include <gio/gio.h>

#include "pf-config.h"

G_BEGIN_DECLS

/* A round is reported as soon as @quorum probes answered, or every probe
 * answered or failed, or the timeout passed: on an early success @answered
 * counts the answers so far and the summary shows the others as
 * "not waited for". Success is @answered >= @quorum. */
typedef struct {
  guint   sent;          /* targets probed (a probe whose socket failed counts) */
  guint   answered;
  guint   quorum;
  gint64  rtt_us;        /* mean RTT of the answers, -1 if none */
  gint64  finished_us;   /* g_get_monotonic_time() when the round finished */
  guint64 bytes;         /* IP bytes the round put on the wire, both ways, estimate */
  char   *summary;       /* "2/3 answered: icmp:198.51.100.10 2.1 ms, tcp:... timeout, ..." */
} PfRoundResult;

void pf_round_result_free (PfRoundResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfRoundResult, pf_round_result_free)

#define PF_TYPE_PROBER (pf_prober_get_type ())
G_DECLARE_FINAL_TYPE (PfProber, pf_prober, PF, PROBER, GObject)

/* @config is borrowed and must outlive the prober. Probes go out through
 * @ifname with @mark. Nothing is sent until pf_prober_start(). */
PfProber *pf_prober_new            (const PfUplinkConfig *config,
                                    const char           *ifname,
                                    guint32               mark);

/* Periodic rounds: the first at once, then every interval, or every fast
 * interval while pf_prober_set_fast (TRUE); rounds may overlap. Emits
 * "round-finished" (PfRoundResult *, owned by the prober, valid during the
 * emission only). pf_prober_stop() drops scheduled rounds in flight. */
void      pf_prober_start          (PfProber *prober);
void      pf_prober_stop           (PfProber *prober);
gboolean  pf_prober_is_running     (PfProber *prober);
void      pf_prober_set_fast       (PfProber *prober,
                                    gboolean  fast);
/* The interface changed name or appeared (cold standby, re-plugged modem):
 * sockets are opened again on the next round. A socket whose interface
 * vanished is re-opened by name on the next round anyway. */
void      pf_prober_set_ifname     (PfProber   *prober,
                                    const char *ifname);

/* One round now, outside the schedule (TestUplink, standby tests); does not
 * emit "round-finished". */
void           pf_prober_run_once_async  (PfProber            *prober,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* A round of the single target @index, finished with
 * pf_prober_run_once_finish(): what a frugal standby test is made of. */
void           pf_prober_run_target_async (PfProber            *prober,
                                           guint                index,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
PfRoundResult *pf_prober_run_once_finish (PfProber      *prober,
                                          GAsyncResult  *result,
                                          GError       **error);

G_END_DECLS
