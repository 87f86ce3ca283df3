#ifndef SAMPLED_SIGBUS_H
#define SAMPLED_SIGBUS_H

#include "error.h"

/*
 * The daemon maps the target's ELF files read-only to read symbols and
 * unwind tables.  If one of them is truncated on disk while mapped, the
 * pages past the new end are gone and touching them raises SIGBUS.  This
 * guard turns that into zeros: the faulting file mapping's missing tail is
 * replaced with anonymous zero pages, so parsing sees garbage it already
 * survives (bounds-checked, then rejected) instead of killing the daemon.
 * Faults anywhere else keep their default, fatal action.
 */

/* Installs the SIGBUS handler (once, from main). */
int sigbus_guard_install(struct error *err);
/* How many faults the guard has absorbed (for the log and status). */
unsigned long sigbus_guard_count(void);

#endif
