/*
 * The exporters on fixed trees: speedscope JSON against golden output,
 * pprof decoded back with protobuf-c and checked for what pprof readers
 * rely on (string 0 empty, non-zero ids that resolve, values that add up),
 * and the gzip container checked by this machine's gzip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_pprof.h"
#include "export_speedscope.h"
#include "mem.h"
#include "profile.pb-c.h"
#include "tree_fixture.h"
#include "view.h"

static struct view *view_of(const char *folded, uint64_t extra, int per_thread)
{
	Sampled__Tree *t = fx_tree(folded, extra, per_thread);
	struct error err = { 0 };
	struct view *v = view_new(t, &err);

	if (v == NULL)
		fail_msg("view_new: %s", err.msg);
	fx_tree_free(t);
	return v;
}

#define CAPTURE(buf, len, call)                                               \
	do {                                                                  \
		FILE *out = open_memstream(&(buf), &(len));                   \
		assert_non_null(out);                                         \
		assert_int_equal((call), 0);                                  \
		fclose(out);                                                  \
	} while (0)

static void assert_golden(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("output differs\n--- got:\n%s--- want:\n%s", got, want);
}

/* ---------------------------------------------------------------- speedscope */

static void test_speedscope_merged(void **state)
{
	struct view *v = view_of("main@app;a@app@a.c:3 3\nmain@app 1\nb 2\n", 1, 0);
	struct export_speedscope_meta m = { .name = "demo \"x\"", .rate_hz = 0 };
	struct error err = { 0 };
	size_t len;
	char *buf;

	(void)state;
	CAPTURE(buf, len, export_speedscope(out, v, &m, &err));
	assert_golden(buf,
		"{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		"\"shared\":{\"frames\":[\n"
		"{\"name\":\"main\",\"file\":\"app\"},\n"
		"{\"name\":\"a\",\"file\":\"a.c\",\"line\":3},\n"
		"{\"name\":\"b\"}]},\n"
		"\"profiles\":[\n"
		"{\"type\":\"sampled\",\"name\":\"demo \\\"x\\\"\",\"unit\":\"none\","
		"\"startValue\":0,\"endValue\":7,\n"
		"\"samples\":[\n[],\n[0],\n[0,1],\n[2]],\n"
		"\"weights\":[\n1,\n1,\n3,\n2]}],\n"
		"\"name\":\"demo \\\"x\\\"\",\"activeProfileIndex\":0,\"exporter\":\"sampled\"}\n");
	free(buf);
	view_free(v);
}

/* One profile per thread, stacks below the thread root, weights in seconds. */
static void test_speedscope_threads(void **state)
{
	struct view *v = view_of("t:w (2);main;f 3\nt:w (2) 1\nt:m (1);main 2\n", 0, 1);
	struct export_speedscope_meta m = { .name = NULL, .rate_hz = 100 };
	struct error err = { 0 };
	size_t len;
	char *buf;

	(void)state;
	CAPTURE(buf, len, export_speedscope(out, v, &m, &err));
	assert_non_null(strstr(buf, "\"shared\":{\"frames\":[\n{\"name\":\"main\"},\n"
				    "{\"name\":\"f\"}]},\n"));
	assert_non_null(strstr(buf, "{\"type\":\"sampled\",\"name\":\"w (2)\",\"unit\":\"seconds\","
				    "\"startValue\":0,\"endValue\":0.04,\n"
				    "\"samples\":[\n[],\n[0,1]],\n\"weights\":[\n0.01,\n0.03]}"));
	assert_non_null(strstr(buf, "{\"type\":\"sampled\",\"name\":\"m (1)\",\"unit\":\"seconds\","
				    "\"startValue\":0,\"endValue\":0.02,\n"
				    "\"samples\":[\n[0]],\n\"weights\":[\n0.02]}"));
	assert_non_null(strstr(buf, "\"name\":\"sampled\",\"activeProfileIndex\":0"));
	free(buf);
	view_free(v);
}

/* ---------------------------------------------------------------- pprof */

static const char *str_of(const Perftools__Profiles__Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

static const Perftools__Profiles__Location *location_of(const Perftools__Profiles__Profile *p,
							uint64_t id)
{
	assert_true(id != 0);
	for (size_t i = 0; i < p->n_location; i++) {
		if (p->location[i]->id == id)
			return p->location[i];
	}
	fail_msg("no location %llu", (unsigned long long)id);
	return NULL;
}

static const Perftools__Profiles__Function *function_of(const Perftools__Profiles__Profile *p,
							uint64_t id)
{
	assert_true(id != 0);
	for (size_t i = 0; i < p->n_function; i++) {
		if (p->function[i]->id == id)
			return p->function[i];
	}
	fail_msg("no function %llu", (unsigned long long)id);
	return NULL;
}

/* The function name a sample's location i (leaf first) resolves to. */
static const char *frame_name(const Perftools__Profiles__Profile *p,
			      const Perftools__Profiles__Sample *s, size_t i)
{
	const Perftools__Profiles__Location *loc = location_of(p, s->location_id[i]);

	assert_int_equal(loc->n_line, 1);
	return str_of(p, function_of(p, loc->line[0]->function_id)->name);
}

/* Everything resolves, and the values add up to the samples. */
static void test_pprof_merged(void **state)
{
	struct view *v = view_of("main@app;a@app@a.c:3 3\n"
				 "main@app;+0x1f@libc.so.6 2\n"
				 "main@app 1\n"
				 "other@lib 4\n", 5, 0);
	struct export_pprof_meta m = { .rate_hz = 100, .mode = "cpu",
				       .start_unix_ns = 1700000000000000000ull,
				       .duration_ns = 3000000000ull, .comment = "./demo -x" };
	Perftools__Profiles__Profile *p;
	uint64_t counts = 0;
	size_t len;
	uint8_t *data = export_pprof_encode(v, &m, &len);
	int found_a = 0, found_anon = 0;

	(void)state;
	p = perftools__profiles__profile__unpack(NULL, len, data);
	assert_non_null(p);
	assert_string_equal(p->string_table[0], "");
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(str_of(p, p->sample_type[0]->type), "samples");
	assert_string_equal(str_of(p, p->sample_type[0]->unit), "count");
	assert_string_equal(str_of(p, p->sample_type[1]->type), "cpu");
	assert_string_equal(str_of(p, p->sample_type[1]->unit), "nanoseconds");
	assert_string_equal(str_of(p, p->period_type->type), "cpu");
	assert_int_equal(p->period, 10000000);
	assert_int_equal(p->time_nanos, 1700000000000000000ll);
	assert_int_equal(p->duration_nanos, 3000000000ll);
	assert_int_equal(p->n_comment, 1);
	assert_string_equal(str_of(p, p->comment[0]), "./demo -x");
	for (size_t i = 0; i < p->n_mapping; i++) {
		assert_true(p->mapping[i]->id != 0);
		assert_true(str_of(p, p->mapping[i]->filename)[0] != '\0');
	}
	assert_int_equal(p->n_mapping, 3);	/* app, libc.so.6, lib */
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *loc = p->location[i];
		const char *name = frame_name(p, &(Perftools__Profiles__Sample){
			.n_location_id = 1, .location_id = (uint64_t[]){ loc->id } }, 0);

		assert_true(loc->mapping_id != 0);
		if (strcmp(name, "libc.so.6+0x1f") == 0) {
			assert_int_equal(loc->address, 0x1f);
			found_anon = 1;
		}
		if (strcmp(name, "a") == 0) {
			assert_int_equal(loc->line[0]->line, 3);
			assert_string_equal(str_of(p, function_of(p, loc->line[0]->function_id)
							->filename), "a.c");
			found_a = 1;
		}
	}
	assert_true(found_a && found_anon);
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		assert_int_equal(s->n_value, 2);
		assert_int_equal(s->value[1], s->value[0] * 10000000);
		counts += (uint64_t)s->value[0];
		if (s->value[0] == 3) {	/* main;a, leaf first */
			assert_int_equal(s->n_location_id, 2);
			assert_string_equal(frame_name(p, s, 0), "a");
			assert_string_equal(frame_name(p, s, 1), "main");
		}
		if (s->value[0] == 5)	/* the samples with no frame */
			assert_int_equal(s->n_location_id, 0);
	}
	assert_int_equal(p->n_sample, 5);
	assert_int_equal(counts, view_total(v));
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(data);
	view_free(v);
}

/* Thread roots become a label, not a location; wall mode names its value so. */
static void test_pprof_threads(void **state)
{
	struct view *v = view_of("t:w (2);main;f 3\nt:w (2) 1\nt:m (1);main 2\n", 0, 1);
	struct export_pprof_meta m = { .rate_hz = 0, .mode = "wall" };
	Perftools__Profiles__Profile *p;
	size_t len;
	uint8_t *data = export_pprof_encode(v, &m, &len);

	(void)state;
	p = perftools__profiles__profile__unpack(NULL, len, data);
	assert_non_null(p);
	assert_string_equal(str_of(p, p->sample_type[1]->type), "wall");
	assert_int_equal(p->period, 0);
	assert_int_equal(p->n_location, 2);	/* main and f */
	assert_int_equal(p->n_sample, 3);
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		const char *thread;

		assert_int_equal(s->n_label, 1);
		assert_string_equal(str_of(p, s->label[0]->key), "thread");
		thread = str_of(p, s->label[0]->str);
		if (s->value[0] == 3)
			assert_string_equal(thread, "w (2)");
		else if (s->value[0] == 2)
			assert_string_equal(thread, "m (1)");
		else
			assert_int_equal(s->n_location_id, 0);	/* w's own sample */
		assert_int_equal(s->value[1], 0);
	}
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(data);
	view_free(v);
}

/* ---------------------------------------------------------------- gzip */

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(export_pprof_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	assert_int_equal(export_pprof_crc32(0, NULL, 0), 0);
	/* Continuing a CRC gives the CRC of the whole. */
	assert_int_equal(export_pprof_crc32(export_pprof_crc32(0, (const uint8_t *)"1234", 4),
					    (const uint8_t *)"56789", 5), 0xcbf43926u);
}

/* Writes data with export_pprof_gzip and has gzip(1) decompress it again. */
static void gzip_round_trip(const uint8_t *data, size_t len)
{
	char path[] = "/tmp/test_export.XXXXXX", cmd[64];
	struct error err = { 0 };
	int fd = mkstemp(path);
	FILE *f, *back;
	uint8_t *got = mem_alloc(len + 1);
	size_t n;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(export_pprof_gzip(f, data, len, &err), 0);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gzip -dc < %s", path);
	back = popen(cmd, "r");
	assert_non_null(back);
	n = fread(got, 1, len + 1, back);
	assert_int_equal(pclose(back), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	unlink(path);
	free(got);
}

static void test_gzip(void **state)
{
	size_t big = 3 * 65535 + 17;
	uint8_t *data = mem_alloc(big);

	(void)state;
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	gzip_round_trip(data, 0);
	gzip_round_trip(data, 1);
	gzip_round_trip(data, 65535);	/* exactly one full block */
	gzip_round_trip(data, big);	/* several blocks and a partial one */
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_speedscope_merged),
		cmocka_unit_test(test_speedscope_threads),
		cmocka_unit_test(test_pprof_merged),
		cmocka_unit_test(test_pprof_threads),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_gzip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
