#ifndef SAMPLED_LOOP_H
#define SAMPLED_LOOP_H

#include <stdint.h>

#include "error.h"

/*
 * The daemon's one event loop: every source is a file descriptor (perf
 * rings, timerfds, the signalfd, the listening socket, clients, the target's
 * pidfd) with a callback.  Callbacks may add and remove any fd, including
 * their own; a removed fd's pending events are not delivered.
 */

struct loop;

typedef void loop_fd_fn(struct loop *loop, int fd, uint32_t events, void *arg);

struct loop *loop_new(struct error *err);
/* Frees the loop; registered fds are not closed (their owners close them). */
void loop_free(struct loop *loop);
/* Watches fd for events (EPOLLIN, EPOLLOUT...); fn(loop, fd, events, arg). */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *arg,
	     struct error *err);
/* Changes the events watched for a registered fd. */
int loop_mod(struct loop *loop, int fd, uint32_t events, struct error *err);
/* Stops watching fd; safe from inside any callback. */
void loop_del(struct loop *loop, int fd);
/* Dispatches events until loop_stop; -1 only if epoll itself fails. */
int loop_run(struct loop *loop, struct error *err);
void loop_stop(struct loop *loop);

#endif
