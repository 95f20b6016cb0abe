/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Webhook notifier: one JSON POST per message to a URL,
 *   {"event": KIND, "time": ISO 8601 in the host's time zone, "from": …,
 *    "to": …, "reason": …, "text": the rendered message, "host": hostname}
 * Any 2xx answer means delivered. A summary of several notices is one POST
 * with "event": "summary" and the list in "text".
 *
 * Settings, besides the common ones (pf-notifier.h):
 *   url=URL                    required, http or https
 *   header=NAME: VALUE         one extra request header, e.g.
 *                              "Authorization: Bearer xxx"; never logged
 */
#pragma once

#include "pf-notifier.h"

G_BEGIN_DECLS

#define PF_TYPE_NOTIFIER_WEBHOOK (pf_notifier_webhook_get_type ())
G_DECLARE_FINAL_TYPE (PfNotifierWebhook, pf_notifier_webhook, PF, NOTIFIER_WEBHOOK, PfNotifier)

G_END_DECLS
