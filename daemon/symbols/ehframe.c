#include <stdint.h>
#include <string.h>

#include "ehframe.h"

/* Marks the reader bad (every later read fails) and clears what a read would have set. */
static int ehframe_fail(struct ehframe_reader *r, void *val, size_t size)
{
	r->bad = 1;
	r->hold = 0;
	if (val != NULL)
		memset(val, 0, size);
	return -1;
}

/* The bytes held that lie before end, from data_pos on. */
static size_t ehframe_hold(const struct ehframe_reader *r)
{
	if (r->bad || r->end <= r->data_pos)
		return 0;
	return r->end - r->data_pos < r->data_len ? (size_t)(r->end - r->data_pos) : r->data_len;
}

/*
 * Makes position r->pos readable through the fetch callback, or fails:
 * a read left the bytes held.
 */
static int ehframe_refill(struct ehframe_reader *r)
{
	uint64_t start;
	size_t n;

	if (r->fetch == NULL)
		return -1;
	n = r->fetch(r->arg, r->pos, r->buf, &start);
	if (n == 0 || n > sizeof(r->buf) || r->pos - start >= n)
		return -1;
	r->data = r->buf;
	r->data_pos = start;
	r->data_len = n;
	r->hold = ehframe_hold(r);
	return 0;
}

/* The byte at r->pos, advancing; -1 past the end or where nothing can be read. */
static int ehframe_byte(struct ehframe_reader *r, uint8_t *b)
{
	if (r->bad || r->pos >= r->end)
		return -1;
	if (r->pos - r->data_pos >= r->data_len && ehframe_refill(r) < 0)
		return -1;
	*b = r->data[r->pos - r->data_pos];
	r->pos++;
	return 0;
}

void ehframe_reader_init(struct ehframe_reader *r, uint64_t vaddr, const uint8_t *data,
			 size_t len)
{
	*r = (struct ehframe_reader){ .data = data, .data_len = len, .hold = len, .end = len,
				      .vaddr = vaddr, .datarel = vaddr, .ptr_size = 8 };
}

void ehframe_set_end(struct ehframe_reader *r, uint64_t end)
{
	r->end = end;
	r->hold = ehframe_hold(r);
}

/*
 * One byte at a time, so that a fetching reader asks for each piece in
 * order, as byte reads would, and stops at the first it cannot have.
 */
int ehframe_uint_slow(struct ehframe_reader *r, size_t n, uint64_t *val)
{
	uint64_t v = 0;
	uint8_t b;

	for (size_t i = 0; i < n; i++) {
		if (ehframe_byte(r, &b) < 0)
			return ehframe_fail(r, val, sizeof(*val));
		v |= (uint64_t)b << (8 * i);
	}
	if (val != NULL)
		*val = v;
	return 0;
}

/* Reads a LEB128 number of more than one byte, or one not held, as ehframe_leb describes. */
int ehframe_leb_slow(struct ehframe_reader *r, int is_signed, uint64_t *val)
{
	uint64_t v = 0;
	unsigned shift = 0, n = 0;
	uint8_t b;

	do {
		if ((r->leb_max != 0 && n == r->leb_max) || ehframe_u8(r, &b) < 0)
			return ehframe_fail(r, val, sizeof(*val));
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		n++;
	} while (b & 0x80);
	if (is_signed && (b & 0x40) != 0 && shift < 64)
		v |= ~(uint64_t)0 << shift;
	if (val != NULL)
		*val = v;
	return 0;
}

/* Bytes of the fixed-size pointer formats but absptr (r->ptr_size); 0 for the others. */
static const uint8_t ehframe_format_size[16] = {
	[EHFRAME_PE_UDATA2] = 2, [EHFRAME_PE_UDATA4] = 4, [EHFRAME_PE_UDATA8] = 8,
	[EHFRAME_PE_SDATA2] = 2, [EHFRAME_PE_SDATA4] = 4, [EHFRAME_PE_SDATA8] = 8,
};

int ehframe_pointer(struct ehframe_reader *r, uint8_t enc, uint64_t *raw, uint64_t *value)
{
	uint64_t field = r->vaddr + r->pos, v = 0;
	uint8_t format = enc & EHFRAME_PE_FORMAT;
	size_t n = format == EHFRAME_PE_ABSPTR ? r->ptr_size : ehframe_format_size[format];
	int ret = -1;

	if (format == EHFRAME_PE_ULEB128) {
		ret = ehframe_uleb(r, &v);
	} else if (format == EHFRAME_PE_SLEB128) {
		ret = ehframe_sleb(r, &v);
	} else if (n != 0) {
		ret = ehframe_uint(r, n, &v);
		/* The signed formats are 0x08 | the unsigned ones. */
		if ((format & 0x08) != 0 && n < 8 && (v >> (8 * n - 1)) != 0)
			v |= ~(uint64_t)0 << (8 * n);
	}
	if (raw != NULL)
		*raw = ret < 0 ? 0 : v;
	if (ret < 0) {
		if (value != NULL)
			*value = 0;
		return -1;
	}
	if ((enc & EHFRAME_PE_APPL) == EHFRAME_PE_PCREL)
		v += field;
	else if ((enc & EHFRAME_PE_APPL) == EHFRAME_PE_DATAREL)
		v += r->datarel;
	if (r->ptr_size == 4)
		v &= 0xffffffffu;
	if (value != NULL)
		*value = v;
	return 0;
}

int ehframe_record_length(struct ehframe_reader *r, struct ehframe_record *rec)
{
	uint64_t len;

	memset(rec, 0, sizeof(*rec));
	if (ehframe_uint(r, 4, &len) < 0)
		return -1;
	if (len == 0xffffffffu) {
		rec->wide = 1;
		if (ehframe_uint(r, 8, &len) < 0)
			return -1;
	}
	rec->len = len;
	rec->body = r->pos;
	rec->end = r->pos + len;
	return 0;
}

int ehframe_record_id(struct ehframe_reader *r, struct ehframe_record *rec)
{
	return ehframe_uint(r, rec->wide ? 8 : 4, &rec->id);
}

uint64_t ehframe_record_cie(const struct ehframe_record *rec)
{
	return rec->body - (rec->wide ? rec->id : (uint64_t)(int64_t)(int32_t)(uint32_t)rec->id);
}

int ehframe_cie_head(struct ehframe_reader *r, struct ehframe_cie *cie)
{
	uint8_t ch;

	memset(cie, 0, sizeof(*cie));
	cie->fde_enc = r->ptr_size == 4 ? EHFRAME_PE_UDATA4 : EHFRAME_PE_UDATA8;
	cie->lsda_enc = EHFRAME_PE_OMIT;
	cie->per_enc = EHFRAME_PE_OMIT;
	if (ehframe_u8(r, &cie->version) < 0)
		return -1;
	cie->aug_pos = r->pos;
	for (;;) {
		if (ehframe_u8(r, &ch) < 0)
			return -1;
		if (ch == 0)
			return 0;
		if (cie->aug_len < EHFRAME_AUG_MAX)
			cie->aug[cie->aug_len] = (char)ch;
		cie->aug_len++;
	}
}

int ehframe_cie_factors(struct ehframe_reader *r, struct ehframe_cie *cie)
{
	uint8_t ra;

	if (ehframe_uleb(r, &cie->code_align) < 0 || ehframe_sleb(r, &cie->data_align) < 0)
		return -1;
	if (cie->version != 1)
		return ehframe_uleb(r, &cie->ra);
	if (ehframe_u8(r, &ra) < 0)
		return -1;
	cie->ra = ra;
	return 0;
}

int ehframe_cie_letter(struct ehframe_reader *r, struct ehframe_cie *cie, char letter, int first)
{
	switch (letter) {
	case 'z':
		if (!first)
			return 1;
		cie->sized = 1;
		return ehframe_uleb(r, &cie->aug_size);
	case 'L':
		return ehframe_u8(r, &cie->lsda_enc);
	case 'R':
		return ehframe_u8(r, &cie->fde_enc);
	case 'P':
		if (ehframe_u8(r, &cie->per_enc) < 0)
			return -1;
		if (cie->per_enc == EHFRAME_PE_OMIT)
			return 0;
		return ehframe_pointer(r, cie->per_enc, &cie->per_raw, &cie->per_value);
	case 'S':
		cie->signal = 1;
		return 0;
	default:
		return 1;
	}
}

int ehframe_hdr_read(struct ehframe_reader *r, struct ehframe_hdr *hdr)
{
	uint8_t version, table_enc;

	memset(hdr, 0, sizeof(*hdr));
	if (ehframe_u8(r, &version) < 0 || version != 1 || ehframe_u8(r, &hdr->ptr_enc) < 0 ||
	    ehframe_u8(r, &hdr->count_enc) < 0 || ehframe_u8(r, &table_enc) < 0 ||
	    table_enc != EHFRAME_PE_DATAREL_SDATA4)
		return -1;
	if (hdr->ptr_enc != EHFRAME_PE_OMIT &&
	    ehframe_pointer(r, hdr->ptr_enc, NULL, &hdr->frame_ptr) < 0)
		return -1;
	if (hdr->count_enc == EHFRAME_PE_OMIT ||
	    ehframe_pointer(r, hdr->count_enc, NULL, &hdr->count) < 0)
		return -1;
	if (r->pos > r->end || hdr->count > (r->end - r->pos) / 8)
		return -1;
	hdr->table = r->pos;
	return 0;
}

/*
 * Searches the table in place when the reader holds it whole (a section),
 * else entry by entry through the reader (a fetching one).
 */
int ehframe_hdr_search(struct ehframe_reader *r, uint64_t table, uint64_t count, uint64_t segbase,
		       uint64_t addr, uint64_t *fde)
{
	int32_t rel = (int32_t)(uint32_t)(addr - segbase);
	uint64_t lo = 0, hi = count, v;
	const uint8_t *held = NULL;
	size_t avail;

	r->pos = table;
	avail = ehframe_avail(r);
	if (avail != 0 && count <= avail / 8)
		held = r->data + (table - r->data_pos);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (held != NULL) {
			v = ehframe_le(held + mid * 8, 4);
		} else {
			r->pos = table + mid * 8;
			if (ehframe_uint(r, 4, &v) < 0)
				return -1;
		}
		if (rel < (int32_t)(uint32_t)v)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (hi == 0)
		return -1;
	r->pos = table + (hi - 1) * 8 + 4;
	if (ehframe_uint(r, 4, &v) < 0)
		return -1;
	*fde = segbase + (uint64_t)(int64_t)(int32_t)(uint32_t)v;
	return 0;
}
