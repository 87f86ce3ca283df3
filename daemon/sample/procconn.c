#include <sys/socket.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "mem.h"
#include "procconn.h"

struct procconn {
	int fd;
	pid_t pid;
};

struct procconn *procconn_open(pid_t pid, struct error *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	struct {
		struct nlmsghdr nl;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req;
	struct procconn *pc;
	int fd;

	fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0) {
		error_set(err, errno, "process connector socket");
		return NULL;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		error_set(err, errno, "process connector bind");
		goto fail;
	}
	memset(&req, 0, sizeof(req));
	req.nl.nlmsg_len = sizeof(req);
	req.nl.nlmsg_type = NLMSG_DONE;
	req.nl.nlmsg_pid = (uint32_t)getpid();
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.len = sizeof(req.op);
	req.op = PROC_CN_MCAST_LISTEN;
	if (send(fd, &req, sizeof(req), 0) < 0) {
		error_set(err, errno, "process connector subscribe");
		goto fail;
	}
	pc = mem_zalloc(sizeof(*pc));
	pc->fd = fd;
	pc->pid = pid;
	return pc;
fail:
	close(fd);
	return NULL;
}

void procconn_free(struct procconn *pc)
{
	if (pc == NULL)
		return;
	close(pc->fd);
	free(pc);
}

int procconn_fd(const struct procconn *pc)
{
	return pc->fd;
}

int procconn_read(struct procconn *pc, int *wait_status)
{
	uint8_t buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	int found = 0;
	ssize_t n;

	while ((n = recv(pc->fd, buf, sizeof(buf), 0)) > 0) {
		struct nlmsghdr *nl = (struct nlmsghdr *)(void *)buf;
		size_t left = (size_t)n;

		for (; NLMSG_OK(nl, left); nl = NLMSG_NEXT(nl, left)) {
			const struct cn_msg *cn = NLMSG_DATA(nl);
			struct proc_event ev;

			if (nl->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(ev)))
				continue;
			/* The event sits 4 bytes off 8-byte alignment: copy it out. */
			memcpy(&ev, cn->data, sizeof(ev));
			/* The leader's exit carries the status its parent's wait() would see. */
			if (ev.what == PROC_EVENT_EXIT &&
			    (pid_t)ev.event_data.exit.process_pid == pc->pid &&
			    (pid_t)ev.event_data.exit.process_tgid == pc->pid) {
				*wait_status = (int)ev.event_data.exit.exit_code;
				found = 1;
			}
		}
	}
	return found;
}
