/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the tests of the actuators share: running a command line and
 * counting the rule and route changes the kernel makes.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Run a command line (no shell), assert it succeeded, return its stdout. */
char *pf_test_run            (const char *fmt,
                              ...) G_GNUC_PRINTF (1, 2);

/* A socket on the rtnetlink groups @groups (RTNLGRP_*, @n of them): every
 * change the kernel makes there is queued on it before the request is acked. */
int   pf_test_monitor_open   (const int  *groups,
                              guint       n);

/* Read what is queued; count the rule and the route messages. */
void  pf_test_monitor_drain  (int         fd,
                              guint      *n_rule_changes,
                              guint      *n_route_changes);

G_END_DECLS
