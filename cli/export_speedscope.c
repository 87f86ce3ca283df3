#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "export_speedscope.h"
#include "format.h"
#include "mem.h"

#define EXPORT_SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

/* Frames that are not code have no speedscope frame. */
static int export_speedscope_is_frame(const struct view_frame *f)
{
	return f->kind != VIEW_KIND_ROOT && f->kind != VIEW_KIND_THREAD;
}

/* shared.frames; fills index[id] with each frame's position in it. */
static void export_speedscope_frames(FILE *out, const struct view *v, uint32_t *index)
{
	uint32_t n = 0;

	fputs("\"shared\":{\"frames\":[", out);
	for (size_t id = 0; id < view_frame_count(v); id++) {
		const struct view_frame *f = view_frame_at(v, id);

		if (!export_speedscope_is_frame(f))
			continue;
		index[id] = n;
		fputs(n++ > 0 ? ",\n{\"name\":" : "\n{\"name\":", out);
		format_json_string(out, f->name);
		if (f->file[0] != '\0' || f->module[0] != '\0') {
			fputs(",\"file\":", out);
			format_json_string(out, f->file[0] != '\0' ? f->file : f->module);
		}
		if (f->line != 0)
			fprintf(out, ",\"line\":%u", f->line);
		fputc('}', out);
	}
	fputs("]},\n", out);
}

struct export_speedscope_at {
	const struct view_node *node;
	size_t next;
};

/*
 * Walks top's subtree depth first and writes, for every node with self
 * samples (top included, as the empty stack), either its stack root first
 * (weights == 0) or its weight.  Both passes visit in the same order.
 */
static void export_speedscope_walk(FILE *out, const struct view_node *top, const uint32_t *index,
				   int weights, uint32_t rate_hz)
{
	struct export_speedscope_at *stack = NULL;
	size_t depth = 0, cap = 0;
	int first = 1;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct export_speedscope_at){ top, 0 };
	while (depth > 0) {
		struct export_speedscope_at *at = &stack[depth - 1];
		const struct view_node *n = at->node;

		if (at->next == 0 && n->self > 0) {
			fputs(first ? "\n" : ",\n", out);
			first = 0;
			if (weights && rate_hz > 0) {
				fprintf(out, "%.9g", (double)n->self / rate_hz);
			} else if (weights) {
				fprintf(out, "%" PRIu64, n->self);
			} else {
				/* stack[1..depth-1] is the path below top, root first. */
				fputc('[', out);
				for (size_t i = 1; i < depth; i++)
					fprintf(out, "%s%u", i > 1 ? "," : "",
						index[stack[i].node->frame->id]);
				fputc(']', out);
			}
		}
		if (at->next == n->n_children) {
			depth--;
			continue;
		}
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth] = (struct export_speedscope_at){ n->children[stack[depth - 1].next++], 0 };
		depth++;
	}
	free(stack);
}

/* The self samples in top's subtree: what its weights add up to. */
static uint64_t export_speedscope_sum(const struct view_node *top)
{
	const struct view_node **stack = NULL;
	size_t depth = 0, cap = 0;
	uint64_t sum = 0;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = top;
	while (depth > 0) {
		const struct view_node *n = stack[--depth];

		sum += n->self;
		stack = mem_grow(stack, &cap, depth + n->n_children, sizeof(*stack));
		for (size_t i = 0; i < n->n_children; i++)
			stack[depth++] = n->children[i];
	}
	free(stack);
	return sum;
}

/* One "sampled" profile for the subtree of top. */
static void export_speedscope_profile(FILE *out, const struct view_node *top, const char *name,
				      const uint32_t *index, uint32_t rate_hz, int first)
{
	uint64_t sum = export_speedscope_sum(top);

	fputs(first ? "\n" : ",\n", out);
	fputs("{\"type\":\"sampled\",\"name\":", out);
	format_json_string(out, name);
	if (rate_hz > 0)
		fprintf(out, ",\"unit\":\"seconds\",\"startValue\":0,\"endValue\":%.9g",
			(double)sum / rate_hz);
	else
		fprintf(out, ",\"unit\":\"none\",\"startValue\":0,\"endValue\":%" PRIu64, sum);
	fputs(",\n\"samples\":[", out);
	export_speedscope_walk(out, top, index, 0, rate_hz);
	fputs("],\n\"weights\":[", out);
	export_speedscope_walk(out, top, index, 1, rate_hz);
	fputs("]}", out);
}

/* Frames first, then one profile per thread or one for all. */
int export_speedscope(FILE *out, const struct view *v, const struct export_speedscope_meta *m,
		      struct error *err)
{
	const struct view_node *root = view_root(v);
	uint32_t *index = mem_calloc(view_frame_count(v) + 1, sizeof(*index));
	const char *name = m->name != NULL ? m->name : "sampled";

	fputs("{\"$schema\":\"" EXPORT_SPEEDSCOPE_SCHEMA "\",\n", out);
	export_speedscope_frames(out, v, index);
	fputs("\"profiles\":[", out);
	if (view_per_thread(v)) {
		for (size_t i = 0; i < root->n_children; i++)
			export_speedscope_profile(out, root->children[i],
						  root->children[i]->frame->name, index,
						  m->rate_hz, i == 0);
	} else {
		export_speedscope_profile(out, root, name, index, m->rate_hz, 1);
	}
	fputs("],\n\"name\":", out);
	format_json_string(out, name);
	fputs(",\"activeProfileIndex\":0,\"exporter\":\"sampled\"}\n", out);
	free(index);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the speedscope profile");
		return -1;
	}
	return 0;
}
