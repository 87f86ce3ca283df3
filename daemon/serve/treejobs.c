#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "treejobs.h"
#include "wire.h"

/* A job from submission to its done() call. */
struct treejobs_job {
	struct treejobs_request req;
	uint8_t *frame;		/* the packed response, once built */
	size_t len;
	struct treejobs_job *next;
};

/* A FIFO of jobs. */
struct treejobs_queue {
	struct treejobs_job *head, *tail;
};

struct treejobs {
	struct loop *loop;
	treejobs_done_fn *done;
	void *arg;
	int efd;		/* the worker's "some are done" to the loop */
	pthread_t thread;
	int started;
	pthread_mutex_t lock;	/* guards todo, finished, stopping */
	pthread_cond_t wake;
	struct treejobs_queue todo, finished;
	int stopping;
	size_t pending;		/* loop-side count: submitted, not yet done() */
};

static void treejobs_push(struct treejobs_queue *q, struct treejobs_job *job)
{
	job->next = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

static struct treejobs_job *treejobs_pop(struct treejobs_queue *q)
{
	struct treejobs_job *job = q->head;

	if (job != NULL) {
		q->head = job->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return job;
}

/* Frees a job and whatever of its request it still owns. */
static void treejobs_job_free(struct treejobs_job *job)
{
	tree_free(job->req.snap);
	free(job->req.self);
	free(job->frame);
	free(job);
}

/*
 * A reply past the protocol's frame limit could never be read: the client
 * gets an error that says how to ask for less instead.  Only a --max-nodes
 * far above the default gets here.
 */
static void treejobs_too_large(Sampled__Response *resp, const Sampled__Tree *tree)
{
	Sampled__Error *e = mem_alloc(sizeof(*e));

	sampled__error__init(e);
	e->code = SAMPLED__ERROR_CODE__ERROR_TOO_LARGE;
	e->message = mem_printf("the tree's reply (%zu nodes, %zu MiB) is over the protocol's "
				"%u MiB: ask for less (--min-percent, --tid, a time range) or "
				"lower the daemon's --max-nodes", tree->n_nodes,
				protobuf_c_message_get_packed_size(&resp->base) >> 20,
				WIRE_MAX_FRAME >> 20);
	resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
	resp->error = e;
}

/*
 * The work: the message from the snapshot, inside a Response, packed into
 * one frame.  The snapshot and counts are released here, on the worker,
 * so that freeing a large copy costs the loop nothing either.
 */
static void treejobs_build(struct treejobs_job *job)
{
	struct treejobs_request *r = &job->req;
	Sampled__Response resp;
	Sampled__Tree *tree;

	tree = tree_to_message_counts(r->snap, &r->query, r->self, r->n_self);
	if (r->has_window)
		tree->window = &r->window;
	wire_response_init(&resp);
	resp.result_case = SAMPLED__RESPONSE__RESULT_TREE;
	resp.tree = tree;
	if (protobuf_c_message_get_packed_size(&resp.base) > WIRE_MAX_FRAME)
		treejobs_too_large(&resp, tree);
	job->frame = wire_pack(&resp.base, &job->len);
	free(resp.result_case == SAMPLED__RESPONSE__RESULT_ERROR ? resp.error->message : NULL);
	free(resp.result_case == SAMPLED__RESPONSE__RESULT_ERROR ? resp.error : NULL);
	tree->window = NULL;
	tree_message_free(tree);
	tree_free(r->snap);
	r->snap = NULL;
	free(r->self);
	r->self = NULL;
}

static void *treejobs_main(void *arg)
{
	struct treejobs *j = arg;
	struct treejobs_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		while (!j->stopping && j->todo.head == NULL)
			pthread_cond_wait(&j->wake, &j->lock);
		if (j->stopping)
			break;
		job = treejobs_pop(&j->todo);
		pthread_mutex_unlock(&j->lock);
		treejobs_build(job);
		pthread_mutex_lock(&j->lock);
		treejobs_push(&j->finished, job);
		/* A full eventfd counter cannot happen: the loop reads it to zero. */
		if (write(j->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* The loop's side: hands every finished job to done(), in order. */
static void treejobs_on_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct treejobs *j = arg;
	struct treejobs_job *job;
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("tree replies: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&j->lock);
		job = treejobs_pop(&j->finished);
		pthread_mutex_unlock(&j->lock);
		if (job == NULL)
			break;
		j->pending--;
		j->done(j->arg, job->req.ticket, job->frame, job->len);
		job->frame = NULL;
		treejobs_job_free(job);
	}
}

/* Signals stay with the loop's signalfd: the worker blocks them all before it exists. */
struct treejobs *treejobs_new(struct loop *loop, treejobs_done_fn *done, void *arg,
			      struct error *err)
{
	struct treejobs *j = mem_zalloc(sizeof(*j));
	sigset_t all, old;
	int rc;

	j->loop = loop;
	j->done = done;
	j->arg = arg;
	j->efd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->wake, NULL);
	j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->efd < 0) {
		error_set(err, errno, "eventfd");
		goto fail;
	}
	if (loop_add(loop, j->efd, EPOLLIN, treejobs_on_ready, j, err) < 0)
		goto fail;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&j->thread, NULL, treejobs_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		error_set(err, rc, "starting the tree reply thread");
		goto fail;
	}
	j->started = 1;
	return j;
fail:
	treejobs_free(j);
	return NULL;
}

void treejobs_free(struct treejobs *j)
{
	struct treejobs_job *job;

	if (j == NULL)
		return;
	if (j->started) {
		pthread_mutex_lock(&j->lock);
		j->stopping = 1;
		pthread_cond_signal(&j->wake);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	while ((job = treejobs_pop(&j->todo)) != NULL)
		treejobs_job_free(job);
	while ((job = treejobs_pop(&j->finished)) != NULL)
		treejobs_job_free(job);
	if (j->efd >= 0) {
		loop_del(j->loop, j->efd);
		close(j->efd);
	}
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void treejobs_submit(struct treejobs *j, const struct treejobs_request *req)
{
	struct treejobs_job *job = mem_zalloc(sizeof(*job));

	job->req = *req;
	j->pending++;
	pthread_mutex_lock(&j->lock);
	treejobs_push(&j->todo, job);
	pthread_cond_signal(&j->wake);
	pthread_mutex_unlock(&j->lock);
}

size_t treejobs_pending(const struct treejobs *j)
{
	return j->pending;
}
