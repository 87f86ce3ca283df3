/*
 * render_html: the page is the embedded template with the view as JSON
 * in it.  These tests check what the browser cannot check for itself:
 * hostile names stay inside their JSON strings, the output is valid UTF-8,
 * the node array has the documented layout, and write errors are reported.
 * The browser side (tests/html/drive.js) loads real pages.
 *
 * The binary doubles as the generator of big synthetic pages for that
 * browser test:
 *     test_render_html --page FILE NODES [THREADS [MIN_SHARE]]
 * writes a page of a random (seeded, so always the same) tree of about
 * NODES nodes, per thread when THREADS > 0.  The page gets the tree
 * unfolded and unpruned, as samplectl gives it; with MIN_SHARE (0..1) it
 * gets it folded and pruned by view_apply at that share instead, so the
 * browser test can hold the page's own folding against view_collapse's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "mem.h"
#include "render_html.h"
#include "view.h"

/* ------------------------------------------------------------ tree builder */

/* A Sampled__Tree under construction; everything it points to is owned here. */
struct tb {
	Sampled__Tree t;
	size_t cap_strings, cap_frames, cap_nodes;
};

static void tb_init(struct tb *b, uint64_t total, int per_thread)
{
	memset(b, 0, sizeof(*b));
	sampled__tree__init(&b->t);
	b->t.total_samples = total;
	b->t.per_thread = per_thread;
}

static uint32_t tb_string(struct tb *b, const char *s)
{
	b->t.strings = mem_grow(b->t.strings, &b->cap_strings, b->t.n_strings + 1,
				sizeof(*b->t.strings));
	b->t.strings[b->t.n_strings] = mem_strdup(s);
	return (uint32_t)b->t.n_strings++;
}

/* A frame; returns its index. */
static uint32_t tb_frame(struct tb *b, const char *fn, const char *mod, const char *file,
			 uint32_t line, Sampled__FrameKind kind)
{
	Sampled__Frame *f = mem_alloc(sizeof(*f));

	sampled__frame__init(f);
	f->function = tb_string(b, fn);
	f->module = tb_string(b, mod);
	f->file = tb_string(b, file);
	f->line = line;
	f->kind = kind;
	b->t.frames = mem_grow(b->t.frames, &b->cap_frames, b->t.n_frames + 1, sizeof(*b->t.frames));
	b->t.frames[b->t.n_frames] = f;
	return (uint32_t)b->t.n_frames++;
}

/* A node under parent (a value tb_node returned, 0 for the top level); returns its wire parent value. */
static uint32_t tb_node(struct tb *b, uint32_t parent, uint32_t frame, uint64_t self, uint64_t total)
{
	Sampled__Node *n = mem_alloc(sizeof(*n));

	sampled__node__init(n);
	n->parent = parent;
	n->frame = frame;
	n->self = self;
	n->total = total;
	b->t.nodes = mem_grow(b->t.nodes, &b->cap_nodes, b->t.n_nodes + 1, sizeof(*b->t.nodes));
	b->t.nodes[b->t.n_nodes] = n;
	return (uint32_t)++b->t.n_nodes;
}

static void tb_free(struct tb *b)
{
	for (size_t i = 0; i < b->t.n_strings; i++)
		free(b->t.strings[i]);
	for (size_t i = 0; i < b->t.n_frames; i++)
		free(b->t.frames[i]);
	for (size_t i = 0; i < b->t.n_nodes; i++)
		free(b->t.nodes[i]);
	free(b->t.strings);
	free(b->t.frames);
	free(b->t.nodes);
}

/* ---------------------------------------------------------------- helpers */

static const struct render_html_meta test_meta = {
	.pid = 42, .comm = "app", .cmdline = "./app --fast", .samples = 10, .rate_hz = 100,
	.mode = "cpu", .duration_ns = 2500000000u, .date_unix_ns = 1700000000000000000u,
};

/* The page for tree t (decoded, then the pipeline with collapse as asked and no threshold). */
static char *page_of(const Sampled__Tree *t, const struct render_html_meta *m, int collapse)
{
	struct view_options o;
	struct error err = { 0 };
	struct view *v = view_new(t, &err);
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	assert_non_null(v);
	view_options_init(&o);
	o.collapse = collapse;
	o.min_share = 0;
	assert_int_equal(view_apply(v, &o, &err), 0);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(render_html(out, v, m, &err), 0);
	assert_int_equal(fclose(out), 0);
	view_free(v);
	return buf;
}

/* The JSON data block of a page (newly allocated). */
static char *data_of(const char *page)
{
	static const char open[] = "<script type=\"application/json\" id=\"sampled-data\">";
	const char *start = strstr(page, open), *end;

	assert_non_null(start);
	start += strlen(open);
	end = strstr(start, "</script>");
	assert_non_null(end);
	return mem_strndup(start, (size_t)(end - start));
}

/* How often needle occurs in s, ignoring case. */
static size_t count_ci(const char *s, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (; *s != '\0'; s++)
		n += strncasecmp(s, needle, len) == 0;
	return n;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Whether s is valid UTF-8 (no overlongs, no surrogates). */
static int valid_utf8(const unsigned char *s)
{
	while (*s != '\0') {
		int len = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3
			: (*s & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp = len == 1 ? *s : len == 2 ? (*s & 0x1fu) : len == 3 ? (*s & 0x0fu)
			: (*s & 0x07u);

		if (len == 0)
			return 0;
		for (int i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3fu);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		s += len;
	}
	return 1;
}

/* ------------------------------------------------------------------ tests */

/* Names that try to end the script, open markup, or are not UTF-8 stay data. */
static void test_hostile_names(void **state)
{
	struct render_html_meta m = test_meta;
	struct tb b;
	char *page, *data;
	uint32_t f1, f2, f3, top;

	(void)state;
	tb_init(&b, 10, 0);
	f1 = tb_frame(&b, "</script><script>alert(1)</script>", "lib<x>.so", "a&b.c", 3,
		      SAMPLED__FRAME_KIND__FRAME_NATIVE);
	f2 = tb_frame(&b, "bad\xff\xfe utf8 \xc0\xaf and \xed\xa0\x80", "m\"q\\", "", 0,
		      SAMPLED__FRAME_KIND__FRAME_NATIVE);
	f3 = tb_frame(&b, "ctl\x01\x1f\x7f sep\xe2\x80\xa8\xe2\x80\xa9 <!-- x", "", "", 0,
		      SAMPLED__FRAME_KIND__FRAME_PYTHON);
	top = tb_node(&b, 0, f1, 2, 10);
	tb_node(&b, top, f2, 5, 5);
	tb_node(&b, top, f3, 3, 3);
	m.comm = "<b>evil</b> & \"co\"";
	m.cmdline = "</script><img src=x>";
	page = page_of(&b.t, &m, 0);
	data = data_of(page);

	/* Only the template's own two script elements close. */
	assert_int_equal(count_ci(page, "</script"), 2);
	assert_int_equal(count(page, "<!--"), 0);
	assert_null(strpbrk(data, "<>&"));
	assert_true(valid_utf8((const unsigned char *)page));
	assert_non_null(strstr(data, "\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
	assert_non_null(strstr(data, "\"lib\\u003cx\\u003e.so\""));
	assert_non_null(strstr(data, "\"a\\u0026b.c\""));
	assert_non_null(strstr(data, "\"bad\\ufffd\\ufffd utf8 \\ufffd\\ufffd and \\ufffd\\ufffd\\ufffd\""));
	assert_non_null(strstr(data, "\"m\\u0022q\\u005c\""));
	assert_non_null(strstr(data, "\"ctl\\u0001\\u001f\\u007f sep\\u2028\\u2029 \\u003c!-- x\""));
	assert_non_null(strstr(data, "\"cmdline\":\"\\u003c/script\\u003e\\u003cimg src=x\\u003e\""));
	assert_non_null(strstr(page, "<title>&lt;b&gt;evil&lt;/b&gt; &amp; &quot;co&quot; [42]"));
	free(data);
	free(page);
	tb_free(&b);
}

/* The documented layout: strings shared, frames six numbers, nodes four in preorder. */
static void test_layout(void **state)
{
	struct tb b;
	char *page, *data, *expect;
	uint32_t fmain, fa, fb, fmem, fsys, top, nb;

	(void)state;
	tb_init(&b, 10, 0);
	fmain = tb_frame(&b, "main", "libapp.so", "main.c", 7, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fb = tb_frame(&b, "b", "libapp.so", "main.c", 20, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fa = tb_frame(&b, "a", "libapp.so", "main.c", 10, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fmem = tb_frame(&b, "memcpy", "/usr/lib/x86_64-linux-gnu/libc.so.6", "", 0,
			SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fsys = tb_frame(&b, "do_syscall_64", "[kernel]", "", 0, SAMPLED__FRAME_KIND__FRAME_KERNEL);
	top = tb_node(&b, 0, fmain, 0, 9);
	nb = tb_node(&b, top, fb, 0, 3);	/* sent before a: the page has display order */
	tb_node(&b, top, fa, 6, 6);
	tb_node(&b, tb_node(&b, nb, fmem, 1, 3), fsys, 2, 2);
	page = page_of(&b.t, &test_meta, 0);
	data = data_of(page);

	assert_int_equal(strncmp(data, "{\"format\":\"sampled-tree\",\"version\":1,", 37), 0);
	/* root (1 sample without a stack), main, a, b, memcpy, do_syscall_64 */
	expect = mem_printf("\"nodes\":[-1,-1,1,10,0,%u,0,9,1,%u,6,6,1,%u,0,3,3,%u,1,3,4,%u,2,2]}",
			    fmain, fa, fb, fmem, fsys);
	assert_non_null(strstr(data, expect));
	free(expect);
	/* Each string once, however many frames name it. */
	assert_int_equal(count(data, "\"libapp.so\""), 1);
	assert_int_equal(count(data, "\"main.c\""), 1);
	assert_non_null(strstr(data, "\"strings\":[\"\","));
	/*
	 * Strings in order met: "", main, libapp.so, main.c, b, a, memcpy, the
	 * libc path, do_syscall_64, [kernel].  memcpy in libc is library code
	 * (flag 1); the kernel frame has kind 2; a is frame 2 at line 10.
	 */
	assert_non_null(strstr(data, "\"frames\":[1,2,3,7,0,0,4,2,3,20,0,0,5,2,3,10,0,0,"
				      "6,7,0,0,0,1,8,9,0,0,2,0,"));
	assert_non_null(strstr(data, "\"kinds\":[\"native\",\"python\",\"kernel\",\"unknown\",\"thread\",\"group\"]"));
	assert_non_null(strstr(data, "\"pid\":42,\"comm\":\"app\",\"cmdline\":\"./app --fast\",\"mode\":\"cpu\""));
	assert_non_null(strstr(data, "\"rate_hz\":100,\"samples\":10,\"duration_ns\":2500000000"));
	assert_non_null(strstr(data, "\"started_unix_ms\":1700000000000,"));
	assert_non_null(strstr(data, "\"per_thread\":false,\"collapsed\":false,\"cut_nodes\":0"));
	/* The template's markers are all filled, the assets are in. */
	assert_null(strstr(page, "@@"));
	assert_non_null(strstr(page, "<title>app [42]"));
	assert_non_null(strstr(page, "'use strict'"));
	assert_non_null(strstr(page, "--k-python"));
	free(data);
	free(page);
	tb_free(&b);
}

/* A view folded by the caller says so, and its groups arrive with kind group (5). */
static void test_collapsed(void **state)
{
	struct tb b;
	char *page, *data;
	uint32_t fmain, fq, fm, fcmp, top;

	(void)state;
	tb_init(&b, 8, 0);
	fmain = tb_frame(&b, "main", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fq = tb_frame(&b, "qsort_r", "libc.so.6", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fm = tb_frame(&b, "msort_with_tmp", "libc.so.6", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	fcmp = tb_frame(&b, "compare", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	top = tb_node(&b, 0, fmain, 0, 8);
	tb_node(&b, tb_node(&b, tb_node(&b, top, fq, 0, 8), fm, 0, 8), fcmp, 8, 8);
	page = page_of(&b.t, &test_meta, 1);
	data = data_of(page);
	assert_non_null(strstr(data, "\"collapsed\":true"));
	assert_non_null(strstr(data, "\"[2 frames hidden]\""));
	assert_non_null(strstr(data, ",5,0"));
	free(data);
	free(page);
	page = page_of(&b.t, &test_meta, 0);
	data = data_of(page);
	assert_non_null(strstr(data, "\"collapsed\":false"));
	assert_null(strstr(data, "frames hidden"));
	free(data);
	free(page);
	tb_free(&b);
}

/* Per-thread trees keep their thread roots (kind 4); NULL strings in meta are empty. */
static void test_per_thread(void **state)
{
	struct render_html_meta m = { 0 };
	struct tb b;
	char *page, *data;
	uint32_t t1, t2, fw;

	(void)state;
	tb_init(&b, 5, 1);
	t1 = tb_frame(&b, "worker (101)", "", "", 0, SAMPLED__FRAME_KIND__FRAME_THREAD);
	t2 = tb_frame(&b, "main (100)", "", "", 0, SAMPLED__FRAME_KIND__FRAME_THREAD);
	fw = tb_frame(&b, "work", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	tb_node(&b, tb_node(&b, 0, t1, 0, 3), fw, 3, 3);
	tb_node(&b, tb_node(&b, 0, t2, 0, 2), fw, 2, 2);
	page = page_of(&b.t, &m, 0);
	data = data_of(page);
	assert_non_null(strstr(data, "\"per_thread\":true"));
	assert_non_null(strstr(data, "\"comm\":\"\",\"cmdline\":\"\",\"mode\":\"\""));
	assert_null(strstr(data, "started_unix_ms"));
	assert_int_equal(count(data, ",0,0,0,4,0"), 2);
	assert_non_null(strstr(page, "<title>call tree \xe2\x80\x94 sampled</title>"));
	free(data);
	free(page);
	tb_free(&b);
}

/* A chain thousands of levels deep: no recursion, every node written. */
static void test_deep(void **state)
{
	struct tb b;
	char *page, *data, *nodes;
	uint32_t f[2], parent = 0;
	size_t commas = 0;
	const size_t depth = 6000;

	(void)state;
	tb_init(&b, depth, 0);
	f[0] = tb_frame(&b, "ping", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	f[1] = tb_frame(&b, "pong", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	for (size_t i = 0; i < depth; i++)
		parent = tb_node(&b, parent, f[i % 2], 1, depth - i);
	page = page_of(&b.t, &test_meta, 0);
	data = data_of(page);
	nodes = strstr(data, "\"nodes\":[");
	assert_non_null(nodes);
	for (const char *p = nodes; *p != ']'; p++)
		commas += *p == ',';
	assert_int_equal(commas, 4 * (depth + 1) - 1);
	/* The innermost node is the last one written, its parent the one before it. */
	assert_non_null(strstr(nodes, "5999,1,1,1]}"));
	free(data);
	free(page);
	tb_free(&b);
}

/* An empty profile is still a page, with just the root. */
static void test_empty(void **state)
{
	struct tb b;
	char *page, *data;

	(void)state;
	tb_init(&b, 0, 0);
	page = page_of(&b.t, &test_meta, 1);
	data = data_of(page);
	assert_non_null(strstr(data, "\"nodes\":[-1,-1,0,0]}"));
	assert_non_null(strstr(data, "\"collapsed\":false"));
	free(data);
	free(page);
	tb_free(&b);
}

/* Thousands of distinct strings: the table grows and every frame still points at its own. */
static void test_many_strings(void **state)
{
	struct tb b;
	char *page, *data, name[32], *want;
	uint32_t parent = 0;
	const unsigned n = 3000;

	(void)state;
	tb_init(&b, n, 0);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "fn_%u", i);
		parent = tb_node(&b, parent, tb_frame(&b, name, "libmany.so", "", 0,
							SAMPLED__FRAME_KIND__FRAME_NATIVE), 1, n - i);
	}
	page = page_of(&b.t, &test_meta, 0);
	data = data_of(page);
	/* Strings in order met: "", fn_0, libmany.so, fn_1, fn_2, ...: fn_i is i + 2 from i = 1. */
	assert_non_null(strstr(data, "\"frames\":[1,2,0,0,0,0,3,2,0,0,0,0,4,2,0,0,0,0,"));
	want = mem_printf(",%u,2,0,0,0,0,", n + 1);
	assert_non_null(strstr(data, want));
	free(want);
	assert_int_equal(count(data, "\"libmany.so\""), 1);
	assert_int_equal(count(data, "\"fn_2999\""), 1);
	free(data);
	free(page);
	tb_free(&b);
}

/* A full disk is an error with a message, not a silent truncated page. */
static void test_write_error(void **state)
{
	struct error err = { 0 };
	struct tb b;
	struct view *v;
	FILE *out = fopen("/dev/full", "w");

	(void)state;
	assert_non_null(out);
	tb_init(&b, 1, 0);
	tb_node(&b, 0, tb_frame(&b, "main", "app", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE), 1, 1);
	v = view_new(&b.t, &err);
	assert_non_null(v);
	assert_int_equal(render_html(out, v, &test_meta, &err), -1);
	assert_int_equal(err.errnum, ENOSPC);
	assert_non_null(strstr(err.msg, "HTML"));
	fclose(out);
	view_free(v);
	tb_free(&b);
}

/* ------------------------------------------------------ big page generator */

/* xorshift64*: the same tree on every machine. */
static uint64_t gen_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A pool of frames like a mixed Python/C program's: app code, libraries, libc, the kernel. */
static uint32_t *gen_frames(struct tb *b, size_t n)
{
	uint32_t *ids = mem_calloc(n, sizeof(*ids));
	char name[96], file[96];

	for (size_t i = 0; i < n; i++) {
		switch (i % 8) {
		case 0: case 1: case 2:
			snprintf(name, sizeof(name), "handler_%zu.process_item", i);
			snprintf(file, sizeof(file), "/srv/app/pkg%zu/module_%zu.py", i % 17, i);
			ids[i] = tb_frame(b, name, "", file, (uint32_t)(10 + i % 400),
					  SAMPLED__FRAME_KIND__FRAME_PYTHON);
			break;
		case 3: case 4:
			snprintf(name, sizeof(name), "engine::Stage%zu::run(std::vector<int> const&)", i);
			snprintf(file, sizeof(file), "src/engine/stage%zu.cc", i);
			ids[i] = tb_frame(b, name, "libengine.so", file, (uint32_t)(1 + i % 900),
					  SAMPLED__FRAME_KIND__FRAME_NATIVE);
			break;
		case 5: case 6:
			snprintf(name, sizeof(name), "__libc_helper_%zu", i);
			ids[i] = tb_frame(b, name, "libc.so.6", "", 0, SAMPLED__FRAME_KIND__FRAME_NATIVE);
			break;
		default:
			snprintf(name, sizeof(name), "ksys_call_%zu", i);
			ids[i] = tb_frame(b, name, "[kernel]", "", 0, SAMPLED__FRAME_KIND__FRAME_KERNEL);
			break;
		}
	}
	return ids;
}

/*
 * About nodes nodes breadth first: every node splits what is left of its
 * total after some self time among one to five children with distinct
 * frames, until the budget is spent.
 */
static void gen_tree(struct tb *b, size_t nodes, int threads)
{
	const size_t pool = 4000;
	uint32_t *frames = gen_frames(b, pool);
	uint32_t *queue = mem_calloc(nodes + 64, sizeof(*queue));
	size_t head = 0, tail = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint64_t total = b->t.total_samples;

	if (threads > 0) {
		for (int t = 0; t < threads; t++) {
			char name[64];
			uint64_t share = t + 1 < threads ? total / 2 : total;
			uint32_t f;

			snprintf(name, sizeof(name), "worker-%d (%d)", t, 4000 + t);
			f = tb_frame(b, name, "", "", 0, SAMPLED__FRAME_KIND__FRAME_THREAD);
			queue[tail++] = tb_node(b, 0, f, 0, share);
			total -= share;
		}
	} else {
		queue[tail++] = tb_node(b, 0, frames[0], 0, total);
	}
	while (head < tail && b->t.n_nodes < nodes) {
		uint32_t at = queue[head++];
		Sampled__Node *n = b->t.nodes[at - 1];
		uint64_t left = n->total - n->total / 20 * (gen_next(&seed) % 2);
		size_t k = 1 + gen_next(&seed) % 5, base = gen_next(&seed) % pool;

		if (left < k)
			k = (size_t)left;
		n->self = n->total;
		for (size_t i = 0; i < k && b->t.n_nodes < nodes; i++) {
			/* Shares fall off like real profiles: half, a quarter, ... */
			uint64_t part = i + 1 == k ? left : left / 2 + gen_next(&seed) % (left / 4 + 1);

			if (part == 0)
				break;
			if (part > left)
				part = left;
			queue[tail++] = tb_node(b, at, frames[(base + i * 7) % pool], part, part);
			left -= part;
			n->self -= part;
		}
	}
	free(queue);
	free(frames);
}

/* test_render_html --page FILE NODES [THREADS [MIN_SHARE]]: writes a big page for the browser test. */
static int gen_page(const char *path, const char *nodes, const char *threads, const char *fold)
{
	struct render_html_meta m = {
		.pid = 4242, .comm = "bigapp", .cmdline = "python3 -m bigapp --synthetic",
		.rate_hz = 999, .mode = "cpu", .duration_ns = 60000000000u,
	};
	struct view_options o;
	struct error err = { 0 };
	struct view *v = NULL;
	struct tb b;
	FILE *out = NULL;
	int rc = 1;

	tb_init(&b, 50000000, threads != NULL && atoi(threads) > 0);
	gen_tree(&b, (size_t)strtoul(nodes, NULL, 10), threads != NULL ? atoi(threads) : 0);
	v = view_new(&b.t, &err);
	if (v == NULL)
		goto out;
	view_options_init(&o);
	o.collapse = fold != NULL;
	o.min_share = fold != NULL ? strtod(fold, NULL) : 0;
	if (view_apply(v, &o, &err) < 0)
		goto out;
	m.samples = view_total(v);
	out = fopen(path, "w");
	if (out == NULL) {
		error_set(&err, errno, "cannot write %s", path);
		goto out;
	}
	if (render_html(out, v, &m, &err) < 0)
		goto out;
	printf("%zu nodes\n", view_node_count(v));
	rc = 0;
out:
	if (out != NULL && fclose(out) != 0 && rc == 0) {
		error_set(&err, errno, "writing %s", path);
		rc = 1;
	}
	if (rc != 0)
		fprintf(stderr, "test_render_html: %s\n", err.msg);
	view_free(v);
	tb_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_collapsed),
		cmocka_unit_test(test_per_thread),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_many_strings),
		cmocka_unit_test(test_write_error),
	};

	if (argc >= 4 && strcmp(argv[1], "--page") == 0)
		return gen_page(argv[2], argv[3], argc >= 5 ? argv[4] : NULL, argc >= 6 ? argv[5] : NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
