#ifndef SAMPLED_CFI_H
#define SAMPLED_CFI_H

#include <stddef.h>
#include <stdint.h>

#include "sample/regs.h"
#include "symbols/elf_image.h"

/*
 * x86-64 DWARF call frame information (.eh_frame), evaluated one code
 * address at a time: the FDE is found through the image's .eh_frame_hdr
 * search table, its CIE and FDE programs are run up to the address, and the
 * outcome is a compact row: how to compute the CFA (a register plus an
 * offset) and where the caller's registers are (undefined, saved at an
 * offset from the CFA, held in another register; a register without a
 * rule keeps its value).  The unwinder steps frames with rows and hands
 * whatever a row cannot express to libunwind.
 *
 * The reading of the CFI is libunwind 1.6.2's, so that a stack stepped with
 * rows is the one libunwind would give: the same table search and FDE range
 * check, the same CIE versions and augmentations, the program run while the
 * location is at or below the address.  Whatever libunwind would read
 * differently from the DWARF standard, or fail on, or evaluate with memory
 * reads (expressions, a CFA without a register, DW_CFA_set_loc, opcodes it
 * skips without their operands, indirect pointers in the FDE) makes the row
 * CFI_UNSUPPORTED rather than a guess.
 *
 * Everything here depends only on the bytes of the ELF file, so rows are
 * cached per (image, file offset of the address) and stay valid as long as
 * the image.  File offsets are what a mapping gives without translation.
 */

/* Rules one row holds (rip and six callee-saved registers need seven). */
#define CFI_MAX_RULES 10

enum cfi_status {
	CFI_OK,			/* the row is valid */
	CFI_NOINFO,		/* no FDE covers the address (libunwind: UNW_ENOINFO) */
	CFI_UNSUPPORTED,	/* CFI the row cannot express, or that libunwind
				   would reject or misread: unwind another way */
};

enum cfi_how {
	CFI_UNDEFINED,		/* the caller's value is lost */
	CFI_OFFSET,		/* saved at CFA + arg */
	CFI_REGISTER,		/* held in register arg (the callee's location of it) */
};

struct cfi_rule {
	uint8_t reg;		/* DWARF column, never REGS_DWARF_SP */
	uint8_t how;		/* enum cfi_how */
	int16_t arg;
};

/* One row of the CFI table: plain data, 48 bytes. */
struct cfi_row {
	uint8_t status;		/* enum cfi_status; nothing below is set unless CFI_OK */
	uint8_t signal;		/* the CIE marks a signal frame ('S'): the caller
				   resumes at its exact IP */
	uint8_t cfa_reg;	/* CFA = cfa_reg + cfa_off; never REGS_DWARF_IP */
	uint8_t nrules;		/* rules, sorted by register */
	int32_t cfa_off;
	struct cfi_rule rules[CFI_MAX_RULES];
};

/* Where an image's unwind tables are, found once per image (plain data). */
struct cfi_table {
	uint64_t hdr_vaddr;	/* .eh_frame_hdr */
	const uint8_t *hdr_data;
	size_t hdr_size;
	uint64_t table_vaddr;	/* its sorted (initial location, FDE) pairs */
	uint64_t fde_count;	/* 0: no usable search table */
	uint64_t frame_vaddr;	/* .eh_frame, where the FDEs and CIEs are */
	const uint8_t *frame_data;
	size_t frame_size;	/* 0 when absent */
};

/*
 * Fills t from img's sections.  A search table libunwind could not use
 * either (not datarel|sdata4 pairs, a count that does not fit) leaves
 * fde_count at 0.
 */
void cfi_table_load(struct cfi_table *t, const struct elf_image *img);
/* The row for code address vaddr (img's own addresses, no load bias) of img, whose table t is. */
void cfi_row_find(const struct cfi_table *t, const struct elf_image *img, uint64_t vaddr,
		  struct cfi_row *row);

/*
 * Rows per (image, file offset), in a bounded set-associative table
 * allocated once: a full set evicts one of its rows.  Rows of every status
 * are kept, so an address that needs another unwinder is recognized at once.
 */
struct cfi_cache;

struct cfi_cache_stats {
	uint64_t hits, misses, evictions;
};

/* A cache of at least slots rows (rounded up to a power of two, 64 bytes each). */
struct cfi_cache *cfi_cache_new(size_t slots);
/* Frees the cache; accepts NULL. */
void cfi_cache_free(struct cfi_cache *c);
/* Forgets every row (their images may be gone). */
void cfi_cache_clear(struct cfi_cache *c);
/*
 * The row for the code at file offset off of img (table t), computed on a
 * miss (CFI_NOINFO when no PT_LOAD segment holds the offset).  The pointer
 * is valid until the next call.
 */
const struct cfi_row *cfi_cache_row(struct cfi_cache *c, const struct cfi_table *t,
				    const struct elf_image *img, uint64_t off);
void cfi_cache_stats(const struct cfi_cache *c, struct cfi_cache_stats *stats);

#endif
