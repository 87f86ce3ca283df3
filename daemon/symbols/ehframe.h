#ifndef SAMPLED_EHFRAME_H
#define SAMPLED_EHFRAME_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Reading .eh_frame and .eh_frame_hdr: DWARF call frame information with
 * the GNU pointer encodings (DW_EH_PE_*), as the LSB describes it.  This is
 * the one place that knows the byte layout: LEB128 numbers, encoded
 * pointers, the head of a CIE or FDE (32- or 64-bit), a CIE up to its
 * instructions, and the .eh_frame_hdr binary search table.  What a reader
 * accepts is its caller's business: the CFI rows (unwind/cfi.c) and the
 * guard in front of libunwind (unwind/unwind.c) read the tables the way
 * libunwind 1.6.2 does, quirks included, while the function starts of
 * symtab.c take whatever a producer may write.  So these functions read
 * and report, and refuse only what no reader could make sense of; every
 * policy (versions, letters, encodings, bounds) stays with the caller.
 *
 * A reader walks positions in a span of bytes: a section (position 0 is its
 * first byte, at address vaddr), or, through a fetch callback, an address
 * space read a piece at a time (vaddr 0: positions are addresses).  Reads
 * are little-endian, the order of x86-64, the one machine sampled unwinds
 * (elf_image takes only files of the host's order).  A failed read makes
 * the reader bad, and every later read fails too, so a run of reads can be
 * checked once.
 */

/* DW_EH_PE pointer encodings: a format (low nibble), an application, indirect. */
#define EHFRAME_PE_ABSPTR 0x00		/* format: address-sized (r->ptr_size); application: none */
#define EHFRAME_PE_ULEB128 0x01
#define EHFRAME_PE_UDATA2 0x02
#define EHFRAME_PE_UDATA4 0x03
#define EHFRAME_PE_UDATA8 0x04
#define EHFRAME_PE_SLEB128 0x09
#define EHFRAME_PE_SDATA2 0x0a
#define EHFRAME_PE_SDATA4 0x0b
#define EHFRAME_PE_SDATA8 0x0c
#define EHFRAME_PE_FORMAT 0x0f		/* mask */
#define EHFRAME_PE_PCREL 0x10
#define EHFRAME_PE_TEXTREL 0x20
#define EHFRAME_PE_DATAREL 0x30
#define EHFRAME_PE_FUNCREL 0x40
#define EHFRAME_PE_ALIGNED 0x50
#define EHFRAME_PE_APPL 0x70		/* mask */
#define EHFRAME_PE_INDIRECT 0x80
#define EHFRAME_PE_OMIT 0xff
/* The only search table layout anyone searches: 4-byte offsets from the header. */
#define EHFRAME_PE_DATAREL_SDATA4 0x3b

/* Bytes a fetch callback may hand over at once. */
#define EHFRAME_FETCH_MAX 8
/* Augmentation letters a CIE keeps (libunwind keeps four). */
#define EHFRAME_AUG_MAX 4

/*
 * A cursor over a span of bytes, set up by ehframe_reader_init; the
 * caller moves pos and sets the other fields it needs, but end only
 * through ehframe_set_end.
 */
struct ehframe_reader {
	const uint8_t *data;	/* the bytes held, for positions [data_pos, data_pos + data_len) */
	uint64_t data_pos;
	size_t data_len;
	size_t hold;		/* of them, those before end (0 once bad): the inline readers' */
	uint64_t pos;		/* the next byte */
	uint64_t end;		/* a read that reaches it fails */
	uint64_t vaddr;		/* the address of position 0: pcrel pointers count from it */
	uint64_t datarel;	/* what DW_EH_PE_datarel pointers count from */
	uint8_t ptr_size;	/* bytes of DW_EH_PE_absptr: 8, or 4 for ELFCLASS32 (whose
				   addresses then wrap at 32 bits) */
	uint8_t leb_max;	/* a LEB128 number of more bytes fails; 0: any length */
	uint8_t bad;		/* a read failed, and so will every later one */
	/*
	 * Called when a read leaves data (NULL: data is all there is): copies
	 * the bytes at and around position pos into buf (at most
	 * EHFRAME_FETCH_MAX), sets *start to the position of buf[0] and
	 * returns how many it copied, 0 when there are none.
	 */
	size_t (*fetch)(void *arg, uint64_t pos, uint8_t *buf, uint64_t *start);
	void *arg;
	uint8_t buf[EHFRAME_FETCH_MAX];	/* what fetch filled: data points here then */
};

/*
 * Starts a reader over len bytes at data, the section at address vaddr:
 * position 0, end len, datarel pointers relative to vaddr, 8-byte absptr,
 * LEB128 of any length, no fetch.  Callers change the fields they need.
 */
void ehframe_reader_init(struct ehframe_reader *r, uint64_t vaddr, const uint8_t *data,
			 size_t len);
/* Moves the end of what r may read (anywhere: reads past the bytes that exist fail anyway). */
void ehframe_set_end(struct ehframe_reader *r, uint64_t end);
/*
 * The readers' way when the bytes are not all held, before end, in a good
 * reader (fetching, failing): out of line, used by the inline readers
 * below, not meant to be called otherwise.
 */
int ehframe_uint_slow(struct ehframe_reader *r, size_t n, uint64_t *val);
int ehframe_leb_slow(struct ehframe_reader *r, int is_signed, uint64_t *val);

/*
 * The readers are inline: CFI rows are computed from them a byte at a
 * time on every miss of the row cache, and a call per byte doubled that.
 */

/* How many bytes from r->pos on are held and before end (0 in a bad reader). */
static inline size_t ehframe_avail(const struct ehframe_reader *r)
{
	uint64_t at = r->pos - r->data_pos;

	return at < r->hold ? r->hold - (size_t)at : 0;
}

/* The little-endian number of n bytes (at most 8) at p. */
static inline uint64_t ehframe_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	uint32_t v4;
	uint16_t v2;

	switch (n) {
	case 2:
		memcpy(&v2, p, 2);
		return le16toh(v2);
	case 4:
		memcpy(&v4, p, 4);
		return le32toh(v4);
	case 8:
		memcpy(&v, p, 8);
		return le64toh(v);
	default:
		for (size_t i = n; i > 0; i--)
			v = (v << 8) | p[i - 1];
		return v;
	}
}

/*
 * Reads an unsigned little-endian number of n bytes (n at most 8).  Every
 * read returns 0, or -1 when it ran into end or out of bytes (the reader
 * is then bad); *val may be NULL (skip) and is 0 after a failure.
 */
static inline int ehframe_uint(struct ehframe_reader *r, size_t n, uint64_t *val)
{
	uint64_t at = r->pos - r->data_pos;

	if (at >= r->hold || r->hold - at < n)
		return ehframe_uint_slow(r, n, val);
	if (val != NULL)
		*val = ehframe_le(r->data + at, n);
	r->pos += n;
	return 0;
}

/* Reads one byte. */
static inline int ehframe_u8(struct ehframe_reader *r, uint8_t *val)
{
	uint64_t at = r->pos - r->data_pos, v;
	int ret;

	if (at < r->hold) {
		if (val != NULL)
			*val = r->data[at];
		r->pos++;
		return 0;
	}
	ret = ehframe_uint_slow(r, 1, &v);
	if (val != NULL)
		*val = (uint8_t)v;
	return ret;
}

/*
 * Reads a LEB128 number: bits past the 64th are dropped; a signed one is
 * sign-extended to 64 bits (two's complement).  More than r->leb_max bytes
 * (when not 0) fail.  Inline for the one-byte numbers CFI is mostly made of.
 */
static inline int ehframe_leb(struct ehframe_reader *r, int is_signed, uint64_t *val)
{
	uint64_t at = r->pos - r->data_pos, v;

	if (at >= r->hold || (r->data[at] & 0x80) != 0)
		return ehframe_leb_slow(r, is_signed, val);
	v = r->data[at];
	if (is_signed && (v & 0x40) != 0)
		v |= ~(uint64_t)0x7f;
	r->pos++;
	if (val != NULL)
		*val = v;
	return 0;
}

/* Reads an unsigned LEB128 number. */
static inline int ehframe_uleb(struct ehframe_reader *r, uint64_t *val)
{
	return ehframe_leb(r, 0, val);
}

/* Reads a signed LEB128 number. */
static inline int ehframe_sleb(struct ehframe_reader *r, uint64_t *val)
{
	return ehframe_leb(r, 1, val);
}

/*
 * Reads a pointer of encoding enc.  *raw is the value as stored,
 * sign-extended from a signed format; *value adds what its application
 * counts from, as far as the reader knows it: the field's own address
 * (pcrel), r->datarel (datarel); raw as is for absptr and for textrel,
 * funcrel and aligned, which callers refuse or only skip (nothing is
 * aligned here).  Indirect pointers are not followed: enc says whether the
 * value is one.  -1 with nothing read for a format that does not exist
 * (DW_EH_PE_omit among them).  raw and value may be NULL.
 */
int ehframe_pointer(struct ehframe_reader *r, uint8_t enc, uint64_t *raw, uint64_t *value);

/* The head of a CIE or FDE. */
struct ehframe_record {
	uint64_t len;		/* bytes after the length field; 0: a terminator */
	uint64_t body;		/* their position: the CIE id, or an FDE's CIE pointer */
	uint64_t end;		/* body + len, wrapping as libunwind computes it */
	uint64_t id;		/* 0 in a CIE; in an FDE, how far back from body its CIE is */
	uint8_t wide;		/* the 64-bit format: 8-byte length and id */
};

/* Reads the length of the record at r->pos (0xffffffff then 8 bytes: the 64-bit format). */
int ehframe_record_length(struct ehframe_reader *r, struct ehframe_record *rec);
/* Reads the CIE id or CIE pointer that follows the length, 4 or 8 bytes as the format says. */
int ehframe_record_id(struct ehframe_reader *r, struct ehframe_record *rec);
/* Where an FDE's CIE is: body - id, a 32-bit id sign-extended (libunwind's reading). */
uint64_t ehframe_record_cie(const struct ehframe_record *rec);

/* A CIE from its version on, filled by the three functions below in turn. */
struct ehframe_cie {
	uint8_t version;
	char aug[EHFRAME_AUG_MAX + 1];	/* the augmentation string's first letters */
	size_t aug_len;		/* its whole length (may exceed the letters kept) */
	uint64_t aug_pos;	/* where the whole string is */
	uint64_t code_align;
	uint64_t data_align;	/* signed, two's complement */
	uint64_t ra;		/* the return address column */
	uint8_t sized;		/* 'z': FDEs say how long their augmentation data is */
	uint64_t aug_size;	/* 'z': bytes of the CIE's augmentation data */
	uint8_t fde_enc;	/* 'R'; absent: an address-sized constant (udata8 or udata4) */
	uint8_t lsda_enc;	/* 'L'; absent: DW_EH_PE_omit */
	uint8_t per_enc;	/* 'P', the personality routine's pointer; absent: omit */
	uint64_t per_raw, per_value;	/* that pointer as ehframe_pointer read it */
	uint8_t signal;		/* 'S': a signal frame */
};

/*
 * Reads a CIE's version and augmentation string (after its id), and sets
 * what the letters would otherwise say.  Any version is read.
 */
int ehframe_cie_head(struct ehframe_reader *r, struct ehframe_cie *cie);
/*
 * Reads what follows the augmentation string: the code and data alignment
 * factors and the return address column (a byte in version 1).  GCC 2's
 * "eh" augmentation puts a pointer before them, which only the caller can
 * decide to skip (libunwind does not).
 */
int ehframe_cie_factors(struct ehframe_reader *r, struct ehframe_cie *cie);
/*
 * Reads the augmentation data of one letter into cie: 'z' (only as the
 * first letter) its length, which is not skipped to; 'L', 'R' an encoding;
 * 'P' an encoding and a pointer of it; 'S' none.  1 for any other letter,
 * with nothing read: where to go from there is the caller's choice.
 */
int ehframe_cie_letter(struct ehframe_reader *r, struct ehframe_cie *cie, char letter, int first);

/* What .eh_frame_hdr says about its search table. */
struct ehframe_hdr {
	uint8_t ptr_enc;	/* of eh_frame_ptr */
	uint8_t count_enc;	/* of fde_count */
	uint64_t frame_ptr;	/* .eh_frame's address as given (0 when omitted) */
	uint64_t count;		/* entries in the table (its application added) */
	uint64_t table;		/* their position: (initial location, FDE) pairs */
};

/*
 * Reads the header at r->pos.  -1 for a version other than 1, a table not
 * made of datarel sdata4 pairs, an omitted count, or more entries than the
 * rest of the section holds.
 */
int ehframe_hdr_read(struct ehframe_reader *r, struct ehframe_hdr *hdr);
/*
 * Finds the FDE for address addr in the count pairs at position table:
 * the last entry whose initial location is at or below addr, compared as
 * libunwind does, in signed 32-bit offsets from segbase (the header's
 * address).  Sets *fde to its address; -1 when addr is below the first
 * entry or a read fails.
 */
int ehframe_hdr_search(struct ehframe_reader *r, uint64_t table, uint64_t count, uint64_t segbase,
		       uint64_t addr, uint64_t *fde);

#endif
