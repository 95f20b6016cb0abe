/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The documented health defaults, as the tests state them (independently of
 * src/pf-config.c, which they check), and the time units the tests use.
 */
#pragma once

#include <glib.h>

#define MS  ((gint64) 1000)
#define SEC ((gint64) G_USEC_PER_SEC)

/* An initializer of PfHealthParams with the documented defaults. */
#define HEALTH_DEFAULTS { \
    .down_rounds = 5,     \
    .up_rounds = 10,      \
    .up_min_us = 5 * SEC, \
    .window = 20,         \
    .degraded_loss = 20,  \
  }
