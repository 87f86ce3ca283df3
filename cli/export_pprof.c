#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export_pprof.h"
#include "mem.h"
#include "profile.pb-c.h"

/* The largest stored deflate block (its LEN field has 16 bits). */
#define EXPORT_PPROF_BLOCK 65535u

/* The string table with a hash index (open addressing, slots hold index + 1). */
struct export_pprof_strings {
	char **v;
	size_t n, cap;
	uint32_t *slots;
	size_t n_slots;
};

/* Everything the Profile message points to, freed together. */
struct export_pprof_build {
	Perftools__Profiles__Profile p;
	struct export_pprof_strings strs;
	Perftools__Profiles__ValueType types[2], period_type;
	Perftools__Profiles__ValueType *type_ptrs[2];
	int64_t comment;
	Perftools__Profiles__Function *functions, **function_ptrs;
	Perftools__Profiles__Mapping *mappings, **mapping_ptrs;
	size_t n_mappings;
	uint64_t *mapping_of;		/* by string index: mapping id, 0 if none yet */
	size_t n_mapping_of, cap_mapping_of;
	Perftools__Profiles__Location *locations, **location_ptrs;
	Perftools__Profiles__Line *lines, **line_ptrs;
	Perftools__Profiles__Sample *samples, **sample_ptrs;
	Perftools__Profiles__Label *labels, **label_ptrs;
	int64_t *values;
	int64_t period;
};

/* FNV-1a, good enough for a string table. */
static uint64_t export_pprof_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Doubles the slots and reinserts every string. */
static void export_pprof_rehash(struct export_pprof_strings *s)
{
	size_t n_slots = s->n_slots ? s->n_slots * 2 : 256;

	free(s->slots);
	s->slots = mem_calloc(n_slots, sizeof(*s->slots));
	s->n_slots = n_slots;
	for (size_t i = 0; i < s->n; i++) {
		size_t h = export_pprof_hash(s->v[i]) & (n_slots - 1);

		while (s->slots[h] != 0)
			h = (h + 1) & (n_slots - 1);
		s->slots[h] = (uint32_t)(i + 1);
	}
}

/* The index of str in the table, added if new (str must outlive the table). */
static int64_t export_pprof_string(struct export_pprof_strings *s, const char *str)
{
	size_t h;

	if (2 * (s->n + 1) > s->n_slots)
		export_pprof_rehash(s);
	h = export_pprof_hash(str) & (s->n_slots - 1);
	while (s->slots[h] != 0) {
		if (strcmp(s->v[s->slots[h] - 1], str) == 0)
			return s->slots[h] - 1;
		h = (h + 1) & (s->n_slots - 1);
	}
	s->v = mem_grow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n] = (char *)str;	/* protobuf-c only reads it */
	s->slots[h] = (uint32_t)++s->n;
	return (int64_t)s->n - 1;
}

/* Whether a frame is code, i.e. a location (the root and thread roots are not). */
static int export_pprof_is_code(const struct view_frame *f)
{
	return f->kind != VIEW_KIND_ROOT && f->kind != VIEW_KIND_THREAD;
}

/* Orders frames so that equal functions are adjacent. */
static int export_pprof_function_order(const void *x, const void *y)
{
	const struct view_frame *a = *(const struct view_frame *const *)x;
	const struct view_frame *b = *(const struct view_frame *const *)y;
	int c;

	if ((c = strcmp(a->name, b->name)) != 0 || (c = strcmp(a->module, b->module)) != 0 ||
	    (c = strcmp(a->file, b->file)) != 0)
		return c;
	return (a->id > b->id) - (a->id < b->id);
}

/* The mapping id of a module (0 for none), made on first use. */
static uint64_t export_pprof_mapping(struct export_pprof_build *b, const char *module,
				     size_t max)
{
	int64_t si;
	Perftools__Profiles__Mapping *m;

	if (module[0] == '\0')
		return 0;
	si = export_pprof_string(&b->strs, module);
	if ((size_t)si >= b->n_mapping_of) {
		b->mapping_of = mem_grow(b->mapping_of, &b->cap_mapping_of, (size_t)si + 1,
					 sizeof(*b->mapping_of));
		memset(b->mapping_of + b->n_mapping_of, 0,
		       ((size_t)si + 1 - b->n_mapping_of) * sizeof(*b->mapping_of));
		b->n_mapping_of = (size_t)si + 1;
	}
	if (b->mapping_of[si] != 0)
		return b->mapping_of[si];
	if (b->n_mappings == max)
		mem_fatal("export_pprof: more modules than frames");
	m = &b->mappings[b->n_mappings];
	perftools__profiles__mapping__init(m);
	m->id = b->n_mappings + 1;
	m->filename = si;
	m->has_functions = 1;
	b->mapping_ptrs[b->n_mappings++] = m;
	b->mapping_of[si] = m->id;
	return m->id;
}

/*
 * Functions, mappings and locations for every code frame.  Functions are
 * numbered in (name, module, file) order so that equal ones share an id.
 */
static void export_pprof_frames(struct export_pprof_build *b, const struct view *v)
{
	size_t n = view_frame_count(v), n_code = 0, n_fn = 0;
	const struct view_frame **sorted = mem_calloc(n + 1, sizeof(*sorted));
	uint64_t *fn_of = mem_calloc(n + 1, sizeof(*fn_of));

	b->functions = mem_calloc(n + 1, sizeof(*b->functions));
	b->function_ptrs = mem_calloc(n + 1, sizeof(*b->function_ptrs));
	b->mappings = mem_calloc(n + 1, sizeof(*b->mappings));
	b->mapping_ptrs = mem_calloc(n + 1, sizeof(*b->mapping_ptrs));
	b->locations = mem_calloc(n + 1, sizeof(*b->locations));
	b->location_ptrs = mem_calloc(n + 1, sizeof(*b->location_ptrs));
	b->lines = mem_calloc(n + 1, sizeof(*b->lines));
	b->line_ptrs = mem_calloc(n + 1, sizeof(*b->line_ptrs));
	for (size_t i = 0; i < n; i++) {
		if (export_pprof_is_code(view_frame_at(v, i)))
			sorted[n_code++] = view_frame_at(v, i);
	}
	qsort(sorted, n_code, sizeof(*sorted), export_pprof_function_order);
	for (size_t i = 0; i < n_code; i++) {
		const struct view_frame *f = sorted[i], *prev = i > 0 ? sorted[i - 1] : NULL;
		Perftools__Profiles__Function *fn;

		if (prev == NULL || strcmp(prev->name, f->name) != 0 ||
		    strcmp(prev->module, f->module) != 0 || strcmp(prev->file, f->file) != 0) {
			fn = &b->functions[n_fn];
			perftools__profiles__function__init(fn);
			fn->id = n_fn + 1;
			fn->name = export_pprof_string(&b->strs, f->name);
			fn->system_name = f->function[0] != '\0' ? export_pprof_string(&b->strs,
											f->function)
								 : fn->name;
			fn->filename = export_pprof_string(&b->strs, f->file);
			b->function_ptrs[n_fn++] = fn;
		}
		fn_of[f->id] = n_fn;
	}
	for (size_t i = 0; i < n_code; i++) {
		const struct view_frame *f = sorted[i];
		Perftools__Profiles__Location *loc = &b->locations[i];
		Perftools__Profiles__Line *line = &b->lines[i];

		perftools__profiles__location__init(loc);
		perftools__profiles__line__init(line);
		loc->id = (uint64_t)f->id + 1;
		loc->mapping_id = export_pprof_mapping(b, f->module, n);
		loc->address = f->offset;
		line->function_id = fn_of[f->id];
		line->line = f->line;
		b->line_ptrs[i] = line;
		loc->line = &b->line_ptrs[i];
		loc->n_line = 1;
		b->location_ptrs[i] = loc;
	}
	b->p.function = b->function_ptrs;
	b->p.n_function = n_fn;
	b->p.location = b->location_ptrs;
	b->p.n_location = n_code;
	free(sorted);
	free(fn_of);
}

struct export_pprof_at {
	const struct view_node *node;
	size_t next;
};

/* Nodes with self samples: the samples to come. */
static size_t export_pprof_count(const struct view_node *root)
{
	const struct view_node **stack = NULL;
	size_t depth = 0, cap = 0, count = 0;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = root;
	while (depth > 0) {
		const struct view_node *n = stack[--depth];

		count += n->self > 0;
		stack = mem_grow(stack, &cap, depth + n->n_children, sizeof(*stack));
		for (size_t i = 0; i < n->n_children; i++)
			stack[depth++] = n->children[i];
	}
	free(stack);
	return count;
}

/* Fills sample s for the node on top of the walk's stack. */
static void export_pprof_sample(struct export_pprof_build *b, size_t s,
				const struct export_pprof_at *stack, size_t depth,
				Perftools__Profiles__Label **label)
{
	Perftools__Profiles__Sample *smp = &b->samples[s];
	const struct view_node *n = stack[depth - 1].node;

	perftools__profiles__sample__init(smp);
	smp->location_id = mem_calloc(depth, sizeof(*smp->location_id));
	for (size_t i = depth; i-- > 1;) {
		const struct view_frame *f = stack[i].node->frame;

		if (export_pprof_is_code(f))
			smp->location_id[smp->n_location_id++] = (uint64_t)f->id + 1;
	}
	smp->value = &b->values[2 * s];
	smp->n_value = 2;
	smp->value[0] = (int64_t)n->self;
	smp->value[1] = (int64_t)n->self * b->period;
	if (label != NULL) {
		smp->label = label;
		smp->n_label = 1;
	}
	b->sample_ptrs[s] = smp;
}

/* One sample per node with self samples, in depth-first order. */
static void export_pprof_samples(struct export_pprof_build *b, const struct view *v)
{
	const struct view_node *root = view_root(v);
	size_t n = export_pprof_count(root), s = 0, depth = 0, cap = 0;
	struct export_pprof_at *stack = NULL;
	int64_t key = export_pprof_string(&b->strs, "thread");

	b->samples = mem_calloc(n + 1, sizeof(*b->samples));
	b->sample_ptrs = mem_calloc(n + 1, sizeof(*b->sample_ptrs));
	b->values = mem_calloc(2 * n + 1, sizeof(*b->values));
	b->labels = mem_calloc(root->n_children + 1, sizeof(*b->labels));
	b->label_ptrs = mem_calloc(root->n_children + 1, sizeof(*b->label_ptrs));
	for (size_t i = 0; i < root->n_children; i++) {
		perftools__profiles__label__init(&b->labels[i]);
		b->labels[i].key = key;
		b->labels[i].str = export_pprof_string(&b->strs, root->children[i]->frame->name);
		b->label_ptrs[i] = &b->labels[i];
	}
	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct export_pprof_at){ root, 0 };
	while (depth > 0) {
		struct export_pprof_at *at = &stack[depth - 1];
		const struct view_node *c = at->node;
		Perftools__Profiles__Label **label = NULL;

		if (at->next == 0 && c->self > 0) {
			if (depth > 1 && stack[1].node->frame->kind == VIEW_KIND_THREAD)
				label = &b->label_ptrs[stack[0].next - 1];
			export_pprof_sample(b, s++, stack, depth, label);
		}
		if (at->next == c->n_children) {
			depth--;
			continue;
		}
		c = c->children[at->next++];
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth++] = (struct export_pprof_at){ c, 0 };
	}
	free(stack);
	b->p.sample = b->sample_ptrs;
	b->p.n_sample = s;
}

/* Frees what the build allocated (the strings belong to the view). */
static void export_pprof_release(struct export_pprof_build *b)
{
	for (size_t i = 0; i < b->p.n_sample; i++)
		free(b->samples[i].location_id);
	free(b->strs.v);
	free(b->strs.slots);
	free(b->functions);
	free(b->function_ptrs);
	free(b->mappings);
	free(b->mapping_ptrs);
	free(b->mapping_of);
	free(b->locations);
	free(b->location_ptrs);
	free(b->lines);
	free(b->line_ptrs);
	free(b->samples);
	free(b->sample_ptrs);
	free(b->labels);
	free(b->label_ptrs);
	free(b->values);
}

/* Fills a Profile that points into the view and packs it. */
uint8_t *export_pprof_encode(const struct view *v, const struct export_pprof_meta *m,
			     size_t *len)
{
	struct export_pprof_build b;
	const char *mode = m->mode != NULL && strcmp(m->mode, "cpu") != 0 ? "wall" : "cpu";
	uint8_t *buf;

	memset(&b, 0, sizeof(b));
	perftools__profiles__profile__init(&b.p);
	export_pprof_string(&b.strs, "");
	b.period = m->rate_hz > 0 ? (int64_t)((1000000000ull + m->rate_hz / 2) / m->rate_hz) : 0;
	for (int i = 0; i < 2; i++)
		perftools__profiles__value_type__init(&b.types[i]);
	perftools__profiles__value_type__init(&b.period_type);
	b.types[0].type = export_pprof_string(&b.strs, "samples");
	b.types[0].unit = export_pprof_string(&b.strs, "count");
	b.types[1].type = export_pprof_string(&b.strs, mode);
	b.types[1].unit = export_pprof_string(&b.strs, "nanoseconds");
	b.period_type = b.types[1];
	b.type_ptrs[0] = &b.types[0];
	b.type_ptrs[1] = &b.types[1];
	b.p.sample_type = b.type_ptrs;
	b.p.n_sample_type = 2;
	b.p.period_type = &b.period_type;
	b.p.period = b.period;
	b.p.time_nanos = (int64_t)m->start_unix_ns;
	b.p.duration_nanos = (int64_t)m->duration_ns;
	if (m->comment != NULL) {
		b.comment = export_pprof_string(&b.strs, m->comment);
		b.p.comment = &b.comment;
		b.p.n_comment = 1;
	}
	export_pprof_frames(&b, v);
	export_pprof_samples(&b, v);
	b.p.mapping = b.mapping_ptrs;
	b.p.n_mapping = b.n_mappings;
	b.p.string_table = b.strs.v;
	b.p.n_string_table = b.strs.n;
	*len = perftools__profiles__profile__get_packed_size(&b.p);
	buf = mem_alloc(*len + 1);
	perftools__profiles__profile__pack(&b.p, buf);
	export_pprof_release(&b);
	return buf;
}

/* The table is rebuilt per call: 256 steps, nothing to keep between calls. */
uint32_t export_pprof_crc32(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t table[256];

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Stores v little-endian, as gzip wants its trailer. */
static void export_pprof_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * RFC 1952 member around RFC 1951 stored blocks: each block is a header
 * byte (BFINAL in bit 0, BTYPE 00), then LEN and its complement NLEN
 * (little-endian), then LEN bytes as they are.  An empty input still needs
 * one final, empty block.
 */
int export_pprof_gzip(FILE *out, const uint8_t *data, size_t len, struct error *err)
{
	static const uint8_t header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	uint8_t block[5], trailer[8];
	size_t done = 0;

	fwrite(header, 1, sizeof(header), out);
	do {
		size_t n = len - done > EXPORT_PPROF_BLOCK ? EXPORT_PPROF_BLOCK : len - done;

		block[0] = done + n == len;
		block[1] = (uint8_t)n;
		block[2] = (uint8_t)(n >> 8);
		block[3] = (uint8_t)~n;
		block[4] = (uint8_t)(~n >> 8);
		fwrite(block, 1, sizeof(block), out);
		if (n > 0)
			fwrite(data + done, 1, n, out);
		done += n;
	} while (done < len);
	export_pprof_le32(trailer, export_pprof_crc32(0, data, len));
	export_pprof_le32(trailer + 4, (uint32_t)len);
	fwrite(trailer, 1, sizeof(trailer), out);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the pprof profile");
		return -1;
	}
	return 0;
}

/* Encodes, then wraps the encoding in gzip. */
int export_pprof(FILE *out, const struct view *v, const struct export_pprof_meta *m,
		 struct error *err)
{
	size_t len;
	uint8_t *data = export_pprof_encode(v, m, &len);
	int rc = export_pprof_gzip(out, data, len, err);

	free(data);
	return rc;
}
