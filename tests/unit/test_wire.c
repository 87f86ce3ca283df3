/* Framing of the control protocol: whole, split, oversized and garbage input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

static uint8_t *pack_status_request(size_t *len)
{
	Sampled__Request req;
	Sampled__StatusRequest st;

	wire_request_init(&req);
	sampled__status_request__init(&st);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &st;
	return wire_pack(&req.base, len);
}

static void test_roundtrip(void **state)
{
	struct wire_reader *r = wire_reader_new(WIRE_MAX_REQUEST);
	const uint8_t *payload;
	struct error err;
	size_t len, plen;
	uint8_t *frame = pack_status_request(&len);
	Sampled__Request *req;

	(void)state;
	assert_int_equal(frame[0] << 24 | frame[1] << 16 | frame[2] << 8 | frame[3], len - 4);
	wire_reader_feed(r, frame, len);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 1);
	req = sampled__request__unpack(NULL, plen, payload);
	assert_non_null(req);
	assert_int_equal(req->protocol_version, WIRE_PROTOCOL_VERSION);
	assert_int_equal(req->command_case, SAMPLED__REQUEST__COMMAND_STATUS);
	sampled__request__free_unpacked(req, NULL);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 0);
	assert_int_equal(wire_reader_pending(r), 0);
	free(frame);
	wire_reader_free(r);
}

/* Bytes arriving one at a time still make exactly the frames sent. */
static void test_byte_by_byte(void **state)
{
	struct wire_reader *r = wire_reader_new(WIRE_MAX_REQUEST);
	const uint8_t *payload;
	struct error err;
	size_t len, plen;
	uint8_t *frame = pack_status_request(&len);
	int frames = 0;

	(void)state;
	for (int rep = 0; rep < 3; rep++) {
		for (size_t i = 0; i < len; i++) {
			wire_reader_feed(r, frame + i, 1);
			while (wire_reader_next(r, &payload, &plen, &err) == 1) {
				assert_int_equal(plen, len - 4);
				assert_memory_equal(payload, frame + 4, plen);
				frames++;
			}
		}
	}
	assert_int_equal(frames, 3);
	free(frame);
	wire_reader_free(r);
}

/* An empty payload is a frame (an empty message), not an error. */
static void test_zero_length(void **state)
{
	struct wire_reader *r = wire_reader_new(16);
	static const uint8_t zero[4] = { 0, 0, 0, 0 };
	const uint8_t *payload;
	struct error err;
	size_t plen = 99;

	(void)state;
	wire_reader_feed(r, zero, 4);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 1);
	assert_int_equal(plen, 0);
	wire_reader_free(r);
}

/*
 * Feeding nothing is a no-op, also to a reader that has no buffer yet (it
 * once added 0 to a NULL buffer: undefined, caught by UBSan under fuzzing).
 */
static void test_feed_nothing(void **state)
{
	struct wire_reader *r = wire_reader_new(16);
	static const uint8_t frame[5] = { 0, 0, 0, 1, 0x2a };
	const uint8_t *payload;
	struct error err;
	size_t plen = 99;

	(void)state;
	wire_reader_feed(r, NULL, 0);
	assert_int_equal(wire_reader_pending(r), 0);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 0);
	wire_reader_feed(r, frame, sizeof(frame));
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 1);
	assert_int_equal(plen, 1);
	/* An empty feed between frames still releases the one handed out. */
	wire_reader_feed(r, frame, 0);
	assert_int_equal(wire_reader_pending(r), 0);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 0);
	wire_reader_free(r);
}

/* A length above the limit is refused from the header alone. */
static void test_oversized(void **state)
{
	struct wire_reader *r = wire_reader_new(WIRE_MAX_REQUEST);
	static const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t over[4] = { 0, 1, 0, 1 };	/* 65537 */
	const uint8_t *payload;
	struct error err;
	size_t plen;

	(void)state;
	wire_reader_feed(r, huge, 4);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), -1);
	assert_non_null(strstr(err.msg, "exceeds the limit"));
	wire_reader_free(r);
	r = wire_reader_new(WIRE_MAX_REQUEST);
	wire_reader_feed(r, over, 4);
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), -1);
	wire_reader_free(r);
}

/* A truncated frame waits for more; garbage payloads fail to unpack, not crash. */
static void test_truncated_and_garbage(void **state)
{
	struct wire_reader *r = wire_reader_new(WIRE_MAX_REQUEST);
	static const uint8_t partial[6] = { 0, 0, 0, 10, 1, 2 };
	static const uint8_t garbage[] = { 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f };
	const uint8_t *payload;
	struct error err;
	size_t plen;

	(void)state;
	wire_reader_feed(r, partial, sizeof(partial));
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 0);
	assert_int_equal(wire_reader_pending(r), sizeof(partial));
	wire_reader_free(r);

	r = wire_reader_new(WIRE_MAX_REQUEST);
	wire_reader_feed(r, garbage, sizeof(garbage));
	assert_int_equal(wire_reader_next(r, &payload, &plen, &err), 1);
	assert_null(sampled__request__unpack(NULL, plen, payload));
	wire_reader_free(r);
}

/* Random payloads never crash the decoder (a cheap stand-in for the fuzzer). */
static void test_random_payloads(void **state)
{
	uint8_t buf[64];
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		Sampled__Request *req;

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		req = sampled__request__unpack(NULL, n, buf);
		if (req != NULL)
			sampled__request__free_unpacked(req, NULL);
	}
}

/* The blocking helpers carry a frame across a real socket, and time out. */
static void test_socket_io(void **state)
{
	struct error err;
	uint8_t *frame, *payload;
	size_t len, plen;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	frame = pack_status_request(&len);
	assert_int_equal(wire_write_all(sv[0], frame, len, 1000, &err), 0);
	assert_int_equal(wire_read_frame(sv[1], WIRE_MAX_FRAME, 1000, &payload, &plen, &err), 0);
	assert_int_equal(plen, len - 4);
	assert_memory_equal(payload, frame + 4, plen);
	free(payload);
	/* Nothing more to read: the deadline ends the wait. */
	assert_int_equal(wire_read_frame(sv[1], WIRE_MAX_FRAME, 50, &payload, &plen, &err), -1);
	assert_non_null(strstr(err.msg, "no answer"));
	/* A peer that announces too much is refused before the body. */
	assert_int_equal(wire_write_all(sv[0], "\xff\xff\xff\xff", 4, 1000, &err), 0);
	assert_int_equal(wire_read_frame(sv[1], 1024, 1000, &payload, &plen, &err), -1);
	assert_non_null(strstr(err.msg, "exceeds"));
	/* A peer that hangs up mid-frame is reported as such. */
	assert_int_equal(wire_write_all(sv[0], "\0\0\0\x08zz", 6, 1000, &err), 0);
	close(sv[0]);
	assert_int_equal(wire_read_frame(sv[1], 1024, 1000, &payload, &plen, &err), -1);
	assert_non_null(strstr(err.msg, "closed"));
	close(sv[1]);
	free(frame);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_feed_nothing),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_truncated_and_garbage),
		cmocka_unit_test(test_random_payloads),
		cmocka_unit_test(test_socket_io),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
