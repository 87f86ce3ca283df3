/*
 * The .eh_frame reader (symbols/ehframe.h) on bytes made by hand: LEB128
 * numbers at their limits, every pointer encoding, a CIE and its FDE, a
 * truncated record, the 64-bit format, a reader that fetches its bytes a
 * word at a time; then the .eh_frame_hdr search on the libc this test
 * runs with, against a walk of its .eh_frame and against libdw's own
 * lookup (dwarf_cfi_addrframe).
 */
#include <dlfcn.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "symbols/ehframe.h"
#include "symbols/elf_image.h"

/* Addresses of libc's code whose FDE is looked up. */
#define LIBC_PROBES 4000

/* A reader over n bytes of a test's array, as a section at address vaddr. */
static void reader(struct ehframe_reader *r, const uint8_t *bytes, size_t n, uint64_t vaddr)
{
	ehframe_reader_init(r, vaddr, bytes, n);
}

/* Unsigned LEB128: one byte, several, the ten of UINT64_MAX, bits past 64, too long, cut short. */
static void test_uleb(void **state)
{
	static const uint8_t small[] = { 0x02, 0x7f, 0xe5, 0x8e, 0x26, 0x80, 0x01 };
	static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	/* The tenth byte carries bits 63..69: only bit 63 is kept. */
	static const uint8_t over[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f };
	/* Eleven bytes for the value 5: redundant continuation bytes. */
	static const uint8_t longer[] = { 0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x80, 0x80, 0x00, 0x2a };
	static const uint8_t cut[] = { 0x81, 0x80 };
	struct ehframe_reader r;
	uint64_t v;

	(void)state;
	reader(&r, small, sizeof(small), 0);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_int_equal(v, 127);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_int_equal(v, 624485);
	assert_int_equal(ehframe_uleb(&r, NULL), 0);	/* skipped: 128 */
	assert_int_equal(r.pos, sizeof(small));
	assert_int_equal(ehframe_uleb(&r, &v), -1);	/* at the end */
	assert_true(r.bad);

	reader(&r, max, sizeof(max), 0);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_true(v == UINT64_MAX);
	reader(&r, over, sizeof(over), 0);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_true(v == 1ULL << 63);

	/* Any length by default; ten bytes at most for readers that say so. */
	reader(&r, longer, sizeof(longer), 0);
	assert_int_equal(ehframe_uleb(&r, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(r.pos, 11);
	reader(&r, longer, sizeof(longer), 0);
	r.leb_max = 10;
	v = 7;
	assert_int_equal(ehframe_uleb(&r, &v), -1);
	assert_int_equal(v, 0);
	assert_true(r.bad);
	reader(&r, max, sizeof(max), 0);
	r.leb_max = 10;
	assert_int_equal(ehframe_uleb(&r, &v), 0);

	/* Cut short: fails, and so does everything after. */
	reader(&r, cut, sizeof(cut), 0);
	assert_int_equal(ehframe_uleb(&r, &v), -1);
	assert_true(r.bad);
	r.pos = 0;
	assert_int_equal(ehframe_u8(&r, NULL), -1);
}

/* Signed LEB128: signs in the last byte, the extremes, ten bytes, cut short. */
static void test_sleb(void **state)
{
	static const uint8_t bytes[] = {
		0x3f,				/* 63 */
		0x40,				/* -64 */
		0x7f,				/* -1 */
		0xc0, 0x00,			/* 64 */
		0x80, 0x7f,			/* -128 */
		0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f,	/* INT64_MIN */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,	/* INT64_MAX */
		0xff,				/* cut short */
	};
	static const int64_t want[] = { 63, -64, -1, 64, -128, INT64_MIN, INT64_MAX };
	struct ehframe_reader r;
	uint64_t v;

	(void)state;
	reader(&r, bytes, sizeof(bytes), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(ehframe_sleb(&r, &v), 0);
		assert_true((int64_t)v == want[i]);
	}
	assert_int_equal(ehframe_sleb(&r, &v), -1);
	assert_int_equal(v, 0);
}

/* Fixed-size numbers are little-endian; a read past end fails and the reader stays bad. */
static void test_uint(void **state)
{
	static const uint8_t bytes[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
					 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	struct ehframe_reader r;
	uint64_t v;
	uint8_t b;

	(void)state;
	reader(&r, bytes, sizeof(bytes), 0);
	assert_int_equal(ehframe_u8(&r, &b), 0);
	assert_int_equal(b, 0x01);
	assert_int_equal(ehframe_uint(&r, 2, &v), 0);
	assert_int_equal(v, 0x0302);
	assert_int_equal(ehframe_uint(&r, 4, &v), 0);
	assert_int_equal(v, 0x07060504);
	assert_int_equal(ehframe_uint(&r, 8, &v), 0);
	assert_true(v == 0x0f0e0d0c0b0a0908ULL);
	assert_int_equal(ehframe_u8(&r, &b), -1);
	assert_int_equal(b, 0);

	/* An end inside the bytes: a read reaching it fails, and the reader stays bad. */
	reader(&r, bytes, sizeof(bytes), 0);
	ehframe_set_end(&r, 6);
	assert_int_equal(ehframe_uint(&r, 4, &v), 0);
	assert_int_equal(ehframe_uint(&r, 4, &v), -1);
	assert_int_equal(v, 0);
	assert_true(r.bad);
	ehframe_set_end(&r, sizeof(bytes));
	r.pos = 0;
	assert_int_equal(ehframe_u8(&r, &b), -1);
}

/* One case of test_pointers: bytes of a field at position 2 of a section at 0x1000. */
struct pointer_case {
	uint8_t enc;
	uint8_t bytes[9];
	size_t len;		/* bytes the field takes */
	uint64_t raw, value;
};

/* Every format, each application, indirect, absent and unknown formats, 32-bit files. */
static void test_pointers(void **state)
{
	static const struct pointer_case cases[] = {
		{ EHFRAME_PE_ABSPTR, { 1, 2, 3, 4, 5, 6, 7, 8 }, 8, 0x0807060504030201ULL,
		  0x0807060504030201ULL },
		{ EHFRAME_PE_ULEB128, { 0xe5, 0x8e, 0x26 }, 3, 624485, 624485 },
		{ EHFRAME_PE_UDATA2, { 0xfe, 0xff }, 2, 0xfffe, 0xfffe },
		{ EHFRAME_PE_UDATA4, { 0xfe, 0xff, 0xff, 0xff }, 4, 0xfffffffe, 0xfffffffe },
		{ EHFRAME_PE_UDATA8, { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 8,
		  UINT64_MAX - 1, UINT64_MAX - 1 },
		{ EHFRAME_PE_SLEB128, { 0x80, 0x7f }, 2, (uint64_t)-128, (uint64_t)-128 },
		{ EHFRAME_PE_SDATA2, { 0xfe, 0xff }, 2, (uint64_t)-2, (uint64_t)-2 },
		{ EHFRAME_PE_SDATA4, { 0xfe, 0xff, 0xff, 0xff }, 4, (uint64_t)-2, (uint64_t)-2 },
		{ EHFRAME_PE_SDATA8, { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 8,
		  (uint64_t)-2, (uint64_t)-2 },
		/* pc-relative: from the field's own address, 0x1002. */
		{ EHFRAME_PE_PCREL | EHFRAME_PE_SDATA4, { 0xfe, 0xff, 0xff, 0xff }, 4, (uint64_t)-2,
		  0x1000 },
		{ EHFRAME_PE_PCREL | EHFRAME_PE_UDATA2, { 0x10, 0x00 }, 2, 0x10, 0x1012 },
		/* data-relative: from r.datarel (set to 0x5000 below). */
		{ EHFRAME_PE_DATAREL | EHFRAME_PE_SDATA4, { 0x00, 0xf0, 0xff, 0xff }, 4,
		  (uint64_t)-4096, 0x4000 },
		/* No base known here: the value as stored, for the caller to refuse. */
		{ EHFRAME_PE_TEXTREL | EHFRAME_PE_UDATA4, { 4, 0, 0, 0 }, 4, 4, 4 },
		{ EHFRAME_PE_FUNCREL | EHFRAME_PE_UDATA4, { 4, 0, 0, 0 }, 4, 4, 4 },
		{ EHFRAME_PE_ALIGNED, { 1, 0, 0, 0, 0, 0, 0, 0 }, 8, 1, 1 },
		/* Indirect: the address of the pointer, not followed. */
		{ EHFRAME_PE_INDIRECT | EHFRAME_PE_PCREL | EHFRAME_PE_SDATA4, { 0x10, 0, 0, 0 }, 4,
		  0x10, 0x1012 },
	};
	static const uint8_t unknown[] = { 0x05, 0x06, 0x07, 0x08, 0x0d, 0x0e, 0x0f };
	uint8_t bytes[16];
	struct ehframe_reader r;
	uint64_t raw, value;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pointer_case *c = &cases[i];

		memset(bytes, 0xee, sizeof(bytes));
		memcpy(bytes + 2, c->bytes, c->len);
		reader(&r, bytes, sizeof(bytes), 0x1000);
		r.datarel = 0x5000;
		r.pos = 2;
		assert_int_equal(ehframe_pointer(&r, c->enc, &raw, &value), 0);
		if (raw != c->raw || value != c->value || r.pos != 2 + c->len)
			fail_msg("encoding %#x: raw %#llx value %#llx, %zu bytes", c->enc,
				 (unsigned long long)raw, (unsigned long long)value,
				 (size_t)(r.pos - 2));
	}

	/* Omitted and unknown formats read nothing. */
	reader(&r, bytes, sizeof(bytes), 0x1000);
	assert_int_equal(ehframe_pointer(&r, EHFRAME_PE_OMIT, &raw, &value), -1);
	for (size_t i = 0; i < sizeof(unknown); i++)
		assert_int_equal(ehframe_pointer(&r, unknown[i], &raw, NULL), -1);
	assert_int_equal(r.pos, 0);
	assert_false(r.bad);

	/* ELFCLASS32: absptr is four bytes, and addresses wrap at 32 bits. */
	memset(bytes, 0, sizeof(bytes));
	bytes[0] = 0xfc;
	bytes[1] = 0xff;
	bytes[2] = 0xff;
	bytes[3] = 0xff;
	reader(&r, bytes, sizeof(bytes), 0x1000);
	r.ptr_size = 4;
	assert_int_equal(ehframe_pointer(&r, EHFRAME_PE_ABSPTR, &raw, &value), 0);
	assert_int_equal(raw, 0xfffffffc);
	assert_int_equal(r.pos, 4);
	r.pos = 0;
	assert_int_equal(ehframe_pointer(&r, EHFRAME_PE_PCREL | EHFRAME_PE_SDATA4, &raw, &value), 0);
	assert_int_equal(value, 0xffc);

	/* A field cut short. */
	reader(&r, bytes, 3, 0x1000);
	assert_int_equal(ehframe_pointer(&r, EHFRAME_PE_UDATA4, &raw, &value), -1);
	assert_int_equal(raw, 0);
	assert_true(r.bad);
}

/*
 * A CIE ("zPLR", personality pc-relative and indirect, FDEs pc-relative
 * sdata4) and an FDE for [0x2000, 0x2040) with an LSDA, in a section at
 * 0x3000; then a CIE without augmentation (version 3) and an FDE of it.
 */
static const uint8_t cie_fde[] = {
	/* 0x00: CIE, length 0x1c */
	0x1c, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,	/* length, CIE id */
	0x01, 'z', 'P', 'L', 'R', 0x00,				/* version, augmentation */
	0x01, 0x78, 0x10,					/* code 1, data -8, ra 16 */
	0x07,							/* augmentation data length */
	0x9b, 0x10, 0x00, 0x00, 0x00,				/* P: indirect pcrel sdata4 */
	0x1b, 0x1b,						/* L, R */
	0x0c, 0x07, 0x08,					/* 0x19: def_cfa rsp+8 */
	0x90, 0x01, 0x00, 0x00,					/* offset rip at cfa-8, nops */
	/* 0x20: FDE, length 0x1c */
	0x1c, 0x00, 0x00, 0x00,  0x24, 0x00, 0x00, 0x00,	/* length, CIE pointer (back 0x24) */
	0xd8, 0xef, 0xff, 0xff,					/* start: 0x2000 - 0x3028 */
	0x40, 0x00, 0x00, 0x00,					/* range */
	0x04, 0x10, 0x00, 0x00, 0x00,				/* LSDA */
	0x41, 0x0e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,		/* advance 1, def_cfa_offset 16 */
	/* 0x40: CIE, version 3, no augmentation, length 0x0c */
	0x0c, 0x00, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x04, 0x7c, 0x81, 0x01, 0x00, 0x00,		/* code 4, data -4, ra 129 */
	/* 0x50: FDE of it, absolute udata8 by default */
	0x14, 0x00, 0x00, 0x00,  0x14, 0x00, 0x00, 0x00,
	0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  0x08, 0, 0, 0, 0, 0, 0, 0,
	/* 0x68: terminator */
	0x00, 0x00, 0x00, 0x00,
};
_Static_assert(sizeof(cie_fde) == 0x6c, "the offsets above");

/* Reads the CIE at position at into c, letters and all. */
static void read_cie(struct ehframe_reader *r, uint64_t at, struct ehframe_cie *c)
{
	struct ehframe_record rec;

	r->pos = at;
	assert_int_equal(ehframe_record_length(r, &rec), 0);
	assert_int_equal(ehframe_record_id(r, &rec), 0);
	assert_int_equal(rec.id, 0);
	assert_int_equal(ehframe_cie_head(r, c), 0);
	assert_int_equal(ehframe_cie_factors(r, c), 0);
	for (size_t i = 0; c->aug[i] != '\0'; i++)
		assert_int_equal(ehframe_cie_letter(r, c, c->aug[i], i == 0), 0);
}

/* A CIE and its FDEs, read field by field. */
static void test_cie_fde(void **state)
{
	struct ehframe_reader r;
	struct ehframe_record fde;
	struct ehframe_cie c;
	uint64_t start, range, lsda, len;

	(void)state;
	reader(&r, cie_fde, sizeof(cie_fde), 0x3000);
	read_cie(&r, 0, &c);
	assert_int_equal(c.version, 1);
	assert_string_equal(c.aug, "zPLR");
	assert_int_equal(c.aug_len, 4);
	assert_int_equal(c.aug_pos, 9);
	assert_int_equal(c.code_align, 1);
	assert_true((int64_t)c.data_align == -8);
	assert_int_equal(c.ra, 16);
	assert_true(c.sized);
	assert_int_equal(c.aug_size, 7);
	assert_int_equal(c.per_enc, 0x9b);
	assert_int_equal(c.per_raw, 0x10);
	assert_int_equal(c.per_value, 0x3013 + 0x10);	/* from the field, at 0x3013 */
	assert_int_equal(c.lsda_enc, 0x1b);
	assert_int_equal(c.fde_enc, 0x1b);
	assert_false(c.signal);
	assert_int_equal(r.pos, 0x19);			/* the instructions */

	r.pos = 0x20;
	assert_int_equal(ehframe_record_length(&r, &fde), 0);
	assert_int_equal(fde.len, 0x1c);
	assert_int_equal(fde.body, 0x24);
	assert_int_equal(fde.end, 0x40);
	assert_false(fde.wide);
	assert_int_equal(ehframe_record_id(&r, &fde), 0);
	assert_int_equal(ehframe_record_cie(&fde), 0);
	assert_int_equal(ehframe_pointer(&r, c.fde_enc, NULL, &start), 0);
	assert_int_equal(start, 0x2000);
	assert_int_equal(ehframe_pointer(&r, c.fde_enc & EHFRAME_PE_FORMAT, &range, NULL), 0);
	assert_int_equal(range, 0x40);
	assert_int_equal(ehframe_uleb(&r, &len), 0);
	assert_int_equal(len, 4);
	assert_int_equal(ehframe_pointer(&r, c.lsda_enc, NULL, &lsda), 0);
	assert_int_equal(lsda, 0x3031 + 0x10);

	/* Version 3: a LEB128 return column; no 'R', so address-sized absolute FDE fields. */
	read_cie(&r, 0x40, &c);
	assert_int_equal(c.version, 3);
	assert_string_equal(c.aug, "");
	assert_int_equal(c.code_align, 4);
	assert_true((int64_t)c.data_align == -4);
	assert_int_equal(c.ra, 129);
	assert_int_equal(c.fde_enc, EHFRAME_PE_UDATA8);
	assert_int_equal(c.lsda_enc, EHFRAME_PE_OMIT);
	assert_int_equal(c.per_enc, EHFRAME_PE_OMIT);
	r.pos = 0x50;
	assert_int_equal(ehframe_record_length(&r, &fde), 0);
	assert_int_equal(ehframe_record_id(&r, &fde), 0);
	assert_int_equal(ehframe_record_cie(&fde), 0x40);
	assert_int_equal(ehframe_pointer(&r, c.fde_enc, NULL, &start), 0);
	assert_int_equal(start, 0x5000);

	/* The terminator: a length of 0. */
	r.pos = 0x68;
	assert_int_equal(ehframe_record_length(&r, &fde), 0);
	assert_int_equal(fde.len, 0);
}

/* Letters: 'z' only first, unknown ones left to the caller, strings longer than those kept. */
static void test_letters(void **state)
{
	static const uint8_t cie[] = { 0x01, 'z', 'R', 'S', 'B', 'x', 'z', 0x00, 0x01, 0x78, 0x10,
				       0x01, 0x1b };
	struct ehframe_reader r;
	struct ehframe_cie c;

	(void)state;
	reader(&r, cie, sizeof(cie), 0);
	assert_int_equal(ehframe_cie_head(&r, &c), 0);
	assert_string_equal(c.aug, "zRSB");
	assert_int_equal(c.aug_len, 6);
	assert_int_equal(ehframe_cie_factors(&r, &c), 0);
	assert_int_equal(ehframe_cie_letter(&r, &c, 'z', 1), 0);
	assert_int_equal(c.aug_size, 1);
	assert_int_equal(ehframe_cie_letter(&r, &c, 'R', 0), 0);
	assert_int_equal(c.fde_enc, 0x1b);
	assert_int_equal(ehframe_cie_letter(&r, &c, 'S', 0), 0);
	assert_true(c.signal);
	assert_int_equal(ehframe_cie_letter(&r, &c, 'B', 0), 1);
	assert_int_equal(ehframe_cie_letter(&r, &c, 'z', 0), 1);
	assert_int_equal(r.pos, sizeof(cie));
	/* A letter whose data is missing. */
	assert_int_equal(ehframe_cie_letter(&r, &c, 'L', 0), -1);

	/* An augmentation string without its NUL. */
	reader(&r, cie, 5, 0);
	assert_int_equal(ehframe_cie_head(&r, &c), -1);
}

/* Records cut short: the length, the id, a length past the section (the caller's check). */
static void test_truncated(void **state)
{
	struct ehframe_reader r;
	struct ehframe_record rec;
	struct ehframe_cie c;

	(void)state;
	reader(&r, cie_fde, 3, 0);
	assert_int_equal(ehframe_record_length(&r, &rec), -1);
	reader(&r, cie_fde, 6, 0);
	assert_int_equal(ehframe_record_length(&r, &rec), 0);
	assert_int_equal(rec.len, 0x1c);
	assert_true(rec.len > r.end - r.pos);		/* callers refuse it */
	assert_int_equal(ehframe_record_id(&r, &rec), -1);
	/* The CIE cut inside its factors. */
	reader(&r, cie_fde, 16, 0);
	r.pos = 8;
	assert_int_equal(ehframe_cie_head(&r, &c), 0);
	assert_int_equal(ehframe_cie_factors(&r, &c), -1);
	assert_true(r.bad);
}

/* The 64-bit format: 0xffffffff, an 8-byte length and an 8-byte id; 32-bit ids are signed. */
static void test_wide(void **state)
{
	static const uint8_t wide[] = {
		0xff, 0xff, 0xff, 0xff,  0x10, 0, 0, 0, 0, 0, 0, 0,	/* 64-bit length 16 */
		0x0c, 0, 0, 0, 0, 0, 0, 0,				/* id: 12 back */
		0, 0, 0, 0, 0, 0, 0, 0,
		0xf8, 0xff, 0xff, 0xff,  0xfc, 0xff, 0xff, 0xff,	/* 32-bit: length, id -4 */
		0xff, 0xff, 0xff, 0xff,  0x10, 0,			/* cut inside the length */
	};
	struct ehframe_reader r;
	struct ehframe_record rec;

	(void)state;
	reader(&r, wide, sizeof(wide), 0);
	assert_int_equal(ehframe_record_length(&r, &rec), 0);
	assert_true(rec.wide);
	assert_int_equal(rec.len, 16);
	assert_int_equal(rec.body, 12);
	assert_int_equal(rec.end, 28);
	assert_int_equal(ehframe_record_id(&r, &rec), 0);
	assert_int_equal(rec.id, 12);
	assert_int_equal(r.pos, 20);
	assert_int_equal(ehframe_record_cie(&rec), 0);

	r.pos = 28;
	assert_int_equal(ehframe_record_length(&r, &rec), 0);
	assert_false(rec.wide);
	assert_int_equal(rec.len, 0xfffffff8);
	assert_int_equal(ehframe_record_id(&r, &rec), 0);
	assert_int_equal(ehframe_record_cie(&rec), 32 + 4);	/* -4 back: forward */

	r.pos = 36;
	assert_int_equal(ehframe_record_length(&r, &rec), -1);
}

/* Memory a fetching reader sees: 8-byte words of fetch_bytes, none at or past fetch_hole. */
static const uint8_t *fetch_bytes;
static uint64_t fetch_base, fetch_hole;
static unsigned fetch_calls;

/* The fetch callback of test_fetch. */
static size_t fetch_word(void *arg, uint64_t pos, uint8_t *buf, uint64_t *start)
{
	uint64_t aligned = pos & ~(uint64_t)7;

	(void)arg;
	fetch_calls++;
	if (aligned < fetch_base || aligned + 8 > fetch_hole)
		return 0;
	memcpy(buf, fetch_bytes + (aligned - fetch_base), 8);
	*start = aligned;
	return 8;
}

/* A fetching reader: each word asked for once while reads stay in it, numbers across words. */
static void test_fetch(void **state)
{
	static const uint8_t mem[32] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xe5, 0x8e,
		0x26, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	};
	struct ehframe_reader r;
	uint64_t v;

	(void)state;
	fetch_bytes = mem;
	fetch_base = 0x7000;
	fetch_hole = 0x7000 + sizeof(mem);
	fetch_calls = 0;
	ehframe_reader_init(&r, 0, NULL, 0);
	r.fetch = fetch_word;
	r.pos = 0x7000;
	ehframe_set_end(&r, UINT64_MAX);
	assert_int_equal(ehframe_uint(&r, 4, &v), 0);
	assert_int_equal(v, 0x04030201);
	assert_int_equal(ehframe_uint(&r, 2, &v), 0);
	assert_int_equal(v, 0x0605);
	assert_int_equal(fetch_calls, 1);
	assert_int_equal(ehframe_uleb(&r, &v), 0);	/* across the words */
	assert_int_equal(v, 624485);
	assert_int_equal(fetch_calls, 2);
	assert_int_equal(ehframe_uint(&r, 8, &v), 0);	/* across the words */
	assert_true(v == 0x11100f0e0d0c0b0aULL);
	assert_int_equal(fetch_calls, 3);

	/* The search table and FDEs are read this way by the unwinder: a pointer, pc-relative. */
	r.pos = 0x7010;
	assert_int_equal(ehframe_pointer(&r, EHFRAME_PE_PCREL | EHFRAME_PE_SDATA4, NULL, &v), 0);
	assert_int_equal(v, 0x7010 + 0x14131211);

	/* A number running into memory that cannot be read. */
	r.pos = 0x7018;
	assert_int_equal(ehframe_uleb(&r, &v), -1);
	assert_true(r.bad);

	/* An end short of the word: reads stop there although the word is held. */
	ehframe_reader_init(&r, 0, NULL, 0);
	r.fetch = fetch_word;
	r.pos = 0x7000;
	ehframe_set_end(&r, 0x7003);
	assert_int_equal(ehframe_uint(&r, 2, &v), 0);
	assert_int_equal(ehframe_uint(&r, 2, &v), -1);
}

/* .eh_frame_hdr heads libunwind could not use, or that claim too much. */
static void test_hdr_read(void **state)
{
	uint8_t hdr[28] = { 0x01, 0x1b, 0x03, 0x3b,  0x00, 0x10, 0x00, 0x00,  0x02, 0, 0, 0 };
	struct ehframe_reader r;
	struct ehframe_hdr h;

	(void)state;
	reader(&r, hdr, sizeof(hdr), 0x9000);
	assert_int_equal(ehframe_hdr_read(&r, &h), 0);
	assert_int_equal(h.frame_ptr, 0x9004 + 0x1000);
	assert_int_equal(h.count, 2);
	assert_int_equal(h.table, 12);

	reader(&r, hdr, 27, 0x9000);			/* room for one entry only */
	assert_int_equal(ehframe_hdr_read(&r, &h), -1);
	hdr[0] = 2;
	reader(&r, hdr, sizeof(hdr), 0x9000);
	assert_int_equal(ehframe_hdr_read(&r, &h), -1);
	hdr[0] = 1;
	hdr[3] = EHFRAME_PE_DATAREL | EHFRAME_PE_UDATA4;
	reader(&r, hdr, sizeof(hdr), 0x9000);
	assert_int_equal(ehframe_hdr_read(&r, &h), -1);
	hdr[3] = EHFRAME_PE_DATAREL_SDATA4;
	hdr[2] = EHFRAME_PE_OMIT;
	reader(&r, hdr, sizeof(hdr), 0x9000);
	assert_int_equal(ehframe_hdr_read(&r, &h), -1);
	/* No eh_frame_ptr: the count follows at once. */
	memcpy(hdr, (const uint8_t[]){ 0x01, EHFRAME_PE_OMIT, EHFRAME_PE_UDATA4, 0x3b, 0x02, 0, 0, 0 }, 8);
	reader(&r, hdr, sizeof(hdr), 0x9000);
	assert_int_equal(ehframe_hdr_read(&r, &h), 0);
	assert_int_equal(h.frame_ptr, 0);
	assert_int_equal(h.count, 2);
	assert_int_equal(h.table, 8);
}

/* The fetch callback of test_libc: the section's bytes, 8 at a time, as the unwinder reads. */
static size_t fetch_section(void *arg, uint64_t pos, uint8_t *buf, uint64_t *start)
{
	uint64_t aligned = pos & ~(uint64_t)7;
	size_t n = 0;

	(void)arg;
	for (unsigned i = 0; i < 8; i++) {
		uint64_t at = aligned + i;

		buf[i] = at >= fetch_base && at < fetch_hole ? fetch_bytes[at - fetch_base] : 0;
		n += at >= fetch_base && at < fetch_hole;
	}
	*start = aligned;
	return n != 0 ? 8 : 0;
}

/* Finds the FDE for addr through the search table and reads its range; -1 when none. */
static int fde_range(struct ehframe_reader *hr, const struct ehframe_hdr *h, uint64_t hdr_vaddr,
		     struct ehframe_reader *fr, uint64_t addr, uint64_t *fde_at, uint64_t *start,
		     uint64_t *end)
{
	struct ehframe_record rec;
	struct ehframe_cie c;
	uint64_t range;

	if (ehframe_hdr_search(hr, h->table, h->count, hdr_vaddr, addr, fde_at) < 0)
		return -1;
	fr->pos = *fde_at - fr->vaddr;
	assert_int_equal(ehframe_record_length(fr, &rec), 0);
	assert_int_equal(ehframe_record_id(fr, &rec), 0);
	assert_true(rec.len != 0 && rec.id != 0);
	read_cie(fr, ehframe_record_cie(&rec), &c);
	fr->pos = rec.body + (rec.wide ? 8 : 4);
	assert_int_equal(ehframe_pointer(fr, c.fde_enc, NULL, start), 0);
	assert_int_equal(ehframe_pointer(fr, c.fde_enc & EHFRAME_PE_FORMAT, &range, NULL), 0);
	*end = *start + range;
	return 0;
}

/* Counts the FDEs of .eh_frame by walking its records. */
static uint64_t count_fdes(const uint8_t *data, size_t size)
{
	struct ehframe_reader r;
	struct ehframe_record rec;
	uint64_t n = 0;

	reader(&r, data, size, 0);
	while (r.pos < size) {
		assert_int_equal(ehframe_record_length(&r, &rec), 0);
		if (rec.len == 0)
			break;
		assert_int_equal(ehframe_record_id(&r, &rec), 0);
		n += rec.id != 0;
		r.pos = rec.end;
	}
	return n;
}

/* libdw's CFI of the file at path; the caller ends it, then *elf, then closes *fd. */
static Dwarf_CFI *libdw_cfi(const char *path, int *fd, Elf **elf)
{
	Dwarf_CFI *cfi;

	*fd = open(path, O_RDONLY);
	assert_true(*fd >= 0 && elf_version(EV_CURRENT) != EV_NONE);
	*elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	cfi = *elf != NULL ? dwarf_getcfi_elf(*elf) : NULL;
	assert_non_null(cfi);
	return cfi;
}

/*
 * libc's tables: the search table lists every FDE of .eh_frame, and for
 * addresses across .text the FDE it gives covers the address exactly when
 * libdw finds a row for it, within that FDE's range; a reader fetching 8
 * bytes at a time finds the same FDEs.
 */
static void test_libc(void **state)
{
	const uint8_t *hdr, *frame, *text;
	uint64_t hdr_vaddr, frame_vaddr, text_vaddr, seed = 1;
	size_t hdr_size, frame_size, text_size, covered = 0, outside = 0;
	struct ehframe_reader hr, fr, fetching;
	struct ehframe_hdr h;
	struct elf_image *img;
	struct error err;
	Dl_info info;
	Dwarf_CFI *cfi;
	Elf *elf;
	int fd;

	(void)state;
	assert_true(dladdr((void *)&fopen, &info) != 0 && info.dli_fname != NULL);
	img = elf_image_open(info.dli_fname, &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".eh_frame_hdr", &hdr_vaddr, &hdr, &hdr_size), 0);
	assert_int_equal(elf_image_section(img, ".eh_frame", &frame_vaddr, &frame, &frame_size), 0);
	assert_int_equal(elf_image_section(img, ".text", &text_vaddr, &text, &text_size), 0);
	reader(&hr, hdr, hdr_size, hdr_vaddr);
	assert_int_equal(ehframe_hdr_read(&hr, &h), 0);
	assert_int_equal(h.ptr_enc, EHFRAME_PE_PCREL | EHFRAME_PE_SDATA4);
	assert_int_equal(h.frame_ptr, frame_vaddr);
	assert_int_equal(h.count, count_fdes(frame, frame_size));
	reader(&fr, frame, frame_size, frame_vaddr);

	fetch_bytes = hdr;
	fetch_base = hdr_vaddr;
	fetch_hole = hdr_vaddr + hdr_size;
	ehframe_reader_init(&fetching, 0, NULL, 0);
	fetching.fetch = fetch_section;
	ehframe_set_end(&fetching, UINT64_MAX);

	cfi = libdw_cfi(info.dli_fname, &fd, &elf);
	for (int i = 0; i < LIBC_PROBES; i++) {
		uint64_t addr, fde_at, fetched_at, start = 0, end = 0;
		Dwarf_Frame *df = NULL;
		Dwarf_Addr ds, de;
		bool sig;
		int found, dr;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		addr = text_vaddr + (seed >> 20) % text_size;
		found = fde_range(&hr, &h, hdr_vaddr, &fr, addr, &fde_at, &start, &end) == 0;
		assert_int_equal(ehframe_hdr_search(&fetching, hdr_vaddr + h.table, h.count,
						    hdr_vaddr, addr, &fetched_at),
				 found ? 0 : -1);
		if (found)
			assert_true(fetched_at == fde_at);
		dr = dwarf_cfi_addrframe(cfi, addr, &df);
		if (found && addr >= start && addr < end) {
			covered++;
			if (dr != 0)
				fail_msg("%#llx: FDE [%#llx, %#llx), libdw: %s", (unsigned long long)addr,
					 (unsigned long long)start, (unsigned long long)end,
					 dwarf_errmsg(-1));
			/* libdw gives the range of the row: inside the FDE's, around addr. */
			dwarf_frame_info(df, &ds, &de, &sig);
			assert_true(start <= ds && ds <= addr && addr < de && de <= end);
		} else {
			/* No FDE covers it: libdw finds none either, or one not covering it. */
			outside++;
			if (dr == 0) {
				dwarf_frame_info(df, &ds, &de, &sig);
				assert_false(addr >= ds && addr < de);
			}
		}
		free(df);
	}
	print_message("%s: %llu FDEs; %zu of %d addresses in one (libdw agrees), %zu in none\n",
		      info.dli_fname, (unsigned long long)h.count, covered, LIBC_PROBES, outside);
	assert_true(covered > LIBC_PROBES * 9 / 10);
	dwarf_cfi_end(cfi);
	elf_end(elf);
	close(fd);
	elf_image_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uleb),
		cmocka_unit_test(test_sleb),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_cie_fde),
		cmocka_unit_test(test_letters),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wide),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_hdr_read),
		cmocka_unit_test(test_libc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
