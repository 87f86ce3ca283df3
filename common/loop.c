#include <sys/epoll.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"
#include "mem.h"

/*
 * Registrations live in an array indexed by fd.  Each carries a serial
 * number that also travels in the epoll data, so an event for an fd that was
 * removed (and perhaps reused) during the same dispatch round is recognised
 * as stale and dropped.
 */
struct loop_slot {
	loop_fd_fn *fn;
	void *arg;
	uint32_t serial;	/* 0 = free */
};

struct loop {
	int epfd;
	int stopping;
	uint32_t next_serial;
	struct loop_slot *slots;
	size_t nslots;
};

struct loop *loop_new(struct error *err)
{
	struct loop *loop;
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (epfd < 0) {
		error_set(err, errno, "epoll_create1");
		return NULL;
	}
	loop = mem_zalloc(sizeof(*loop));
	loop->epfd = epfd;
	loop->next_serial = 1;
	return loop;
}

void loop_free(struct loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->slots);
	free(loop);
}

static uint64_t pack(int fd, uint32_t serial)
{
	return (uint64_t)serial << 32 | (uint32_t)fd;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *arg,
	     struct error *err)
{
	struct epoll_event ev = { .events = events };
	struct loop_slot *slot;
	size_t old = loop->nslots;

	if (fd < 0) {
		error_set(err, EBADF, "watching fd %d", fd);
		return -1;
	}
	if ((size_t)fd >= loop->nslots) {
		loop->slots = mem_grow(loop->slots, &loop->nslots, (size_t)fd + 1,
				       sizeof(*loop->slots));
		for (size_t i = old; i < loop->nslots; i++)
			loop->slots[i] = (struct loop_slot){ 0 };
	}
	slot = &loop->slots[fd];
	if (slot->serial != 0) {
		error_set(err, EEXIST, "fd %d is already watched", fd);
		return -1;
	}
	if (++loop->next_serial == 0)
		loop->next_serial = 1;
	ev.data.u64 = pack(fd, loop->next_serial);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		error_set(err, errno, "watching fd %d", fd);
		return -1;
	}
	*slot = (struct loop_slot){ fn, arg, loop->next_serial };
	return 0;
}

int loop_mod(struct loop *loop, int fd, uint32_t events, struct error *err)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= loop->nslots || loop->slots[fd].serial == 0) {
		error_set(err, ENOENT, "fd %d is not watched", fd);
		return -1;
	}
	ev.data.u64 = pack(fd, loop->slots[fd].serial);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		error_set(err, errno, "changing events of fd %d", fd);
		return -1;
	}
	return 0;
}

void loop_del(struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nslots || loop->slots[fd].serial == 0)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->slots[fd] = (struct loop_slot){ 0 };
}

int loop_run(struct loop *loop, struct error *err)
{
	struct epoll_event evs[64];

	loop->stopping = 0;
	while (!loop->stopping) {
		int n = epoll_wait(loop->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			error_set(err, errno, "epoll_wait");
			return -1;
		}
		for (int i = 0; i < n && !loop->stopping; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t serial = (uint32_t)(evs[i].data.u64 >> 32);
			struct loop_slot *slot;

			if ((size_t)fd >= loop->nslots)
				continue;
			slot = &loop->slots[fd];
			if (slot->serial != serial)
				continue;
			slot->fn(loop, fd, evs[i].events, slot->arg);
		}
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = 1;
}
