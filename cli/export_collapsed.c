#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export_collapsed.h"
#include "format.h"
#include "mem.h"

static const char *str_at(const Sampled__Tree *t, uint32_t i)
{
	return i < t->n_strings && t->strings[i] != NULL ? t->strings[i] : "";
}

char *export_frame_name(const Sampled__Tree *tree, const Sampled__Frame *frame)
{
	const char *fn = str_at(tree, frame->function);
	const char *mod = str_at(tree, frame->module);

	if (fn[0] != '\0')
		return mem_strdup(fn);
	return mem_printf("%s+0x%llx", mod[0] ? mod : "[unknown]",
			  (unsigned long long)frame->offset);
}

/*
 * Replaces what would break the format (';' separates frames, a line is a
 * stack) or drive a terminal the stacks are printed on (control
 * characters, line ends among them, become '?').
 */
static char *sanitize(const char *name)
{
	char *s = format_printable(name);

	for (char *p = s; *p != '\0'; p++)
		if (*p == ';')
			*p = ':';
	return s;
}

int export_collapsed(FILE *out, const Sampled__Tree *t, struct error *err)
{
	char **names = mem_calloc(t->n_frames ? t->n_frames : 1, sizeof(*names));
	uint32_t *path = mem_calloc(t->n_nodes ? t->n_nodes : 1, sizeof(*path));
	int rc = -1;

	for (size_t i = 0; i < t->n_frames; i++) {
		char *name = export_frame_name(t, t->frames[i]);

		names[i] = sanitize(name);
		free(name);
	}
	for (size_t i = 0; i < t->n_nodes; i++) {
		const Sampled__Node *n = t->nodes[i];
		size_t depth = 0;

		if (n->parent > i || n->frame >= t->n_frames) {
			error_set(err, 0, "malformed tree: node %zu", i);
			goto out;
		}
		if (n->self == 0)
			continue;
		/* Parents come first, so following them always ends at the top. */
		for (uint32_t at = (uint32_t)i + 1; at != 0; at = t->nodes[at - 1]->parent)
			path[depth++] = at - 1;
		while (depth > 0) {
			fputs(names[t->nodes[path[--depth]]->frame], out);
			fputc(depth ? ';' : ' ', out);
		}
		fprintf(out, "%llu\n", (unsigned long long)n->self);
	}
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing collapsed stacks");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < t->n_frames; i++)
		free(names[i]);
	free(names);
	free(path);
	return rc;
}
