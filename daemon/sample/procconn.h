#ifndef SAMPLED_PROCCONN_H
#define SAMPLED_PROCCONN_H

#include <sys/types.h>

#include "error.h"

/*
 * The kernel's process connector (netlink): the one place the exit status
 * of a process that is not our child can be learnt reliably, since its
 * parent may reap it before we look at /proc.  It needs CAP_NET_ADMIN; the
 * daemon does without it otherwise.
 */

struct procconn;

/* Subscribes to process events; NULL with err set when not permitted. */
struct procconn *procconn_open(pid_t pid, struct error *err);
void procconn_free(struct procconn *pc);
int procconn_fd(const struct procconn *pc);
/*
 * Reads every pending event (non-blocking).  Returns 1 and the wait(2)
 * status once the watched process has been seen exiting, else 0.
 */
int procconn_read(struct procconn *pc, int *wait_status);

#endif
