#include <inttypes.h>

#include "dump_text.h"

static const char *str_at(const Sampled__Dump *d, uint32_t i)
{
	return i < d->n_strings && d->strings[i] != NULL ? d->strings[i] : "";
}

/* Control bytes from the target (names, paths) are shown as '?'. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static void print_frame(FILE *out, const Sampled__Dump *d, const Sampled__Frame *f)
{
	const char *fn = str_at(d, f->function), *mod = str_at(d, f->module);
	const char *file = str_at(d, f->file);

	fputs("    ", out);
	if (fn[0] != '\0')
		put_clean(out, fn);
	else
		fprintf(out, "%s+0x%" PRIx64, mod[0] ? mod : "[unknown]", f->offset);
	if (file[0] != '\0') {
		fputs(" (", out);
		put_clean(out, file);
		if (f->line != 0)
			fprintf(out, ":%u", f->line);
		fputc(')', out);
	}
	if (fn[0] != '\0' && mod[0] != '\0') {
		fputs(" [", out);
		put_clean(out, mod);
		fputc(']', out);
	}
	if (f->kind == SAMPLED__FRAME_KIND__FRAME_PYTHON)
		fputs(" (python)", out);
	fputc('\n', out);
}

void dump_text_print(FILE *out, const Sampled__Dump *d)
{
	for (size_t i = 0; i < d->n_threads; i++) {
		const Sampled__ThreadStack *t = d->threads[i];

		fprintf(out, "%sThread %d (", i ? "\n" : "", t->tid);
		put_clean(out, t->name);
		fprintf(out, "): %s", t->state);
		if (t->syscall[0] != '\0')
			fprintf(out, " in %s", t->syscall);
		fputc('\n', out);
		for (size_t j = 0; j < t->n_frames; j++) {
			if (t->frames[j] < d->n_frames)
				print_frame(out, d, d->frames[t->frames[j]]);
		}
	}
}
