/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Telegram notifier: one Bot API sendMessage per message,
 *   POST {api-url}/bot{TOKEN}/sendMessage
 *   {"chat_id": …, "text": …, "parse_mode": "HTML",
 *    "message_thread_id": … (with topic-id), "disable_web_page_preview": true}
 * with the text HTML-escaped (<, >, &).
 *
 * Settings, besides the common ones (pf-notifier.h):
 *   token-file=PATH   required; the bot token is the file's first line, trimmed
 *   chat-id=ID        required; a number (-1001234567890) or "@channel"
 *   topic-id=N        the forum topic (message_thread_id), none by default
 *   api-url=URL       default https://api.telegram.org (a proxy, the tests)
 *
 * An answer other than 2xx fails with Telegram's "description":
 * "Telegram: HTTP 401: Unauthorized"; HTTP 429 (and 408, 5xx) is temporary,
 * 429 with the retry_after Telegram asked for. The token never shows in logs
 * or errors: where a transport error might quote the URL, it is redacted.
 */
#pragma once

#include "pf-notifier.h"

G_BEGIN_DECLS

#define PF_NOTIFIER_TELEGRAM_DEFAULT_API_URL "https://api.telegram.org"
/* Telegram's limit on a message's length, in characters. */
#define PF_NOTIFIER_TELEGRAM_MAX_CHARS 4096

#define PF_TYPE_NOTIFIER_TELEGRAM (pf_notifier_telegram_get_type ())
G_DECLARE_FINAL_TYPE (PfNotifierTelegram, pf_notifier_telegram, PF, NOTIFIER_TELEGRAM, PfNotifier)

/* Escape <, > and & for parse_mode HTML. */
char *pf_notifier_telegram_escape (const char *text);

G_END_DECLS
