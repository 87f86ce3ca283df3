#ifndef SAMPLED_KALLSYMS_H
#define SAMPLED_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/*
 * Names of kernel code from /proc/kallsyms ("ADDRESS TYPE NAME [MODULE]",
 * one symbol a line, in no guaranteed order).  The text symbols (types t,
 * T, w, W) are kept, sorted for binary search; every other symbol only
 * marks where the function before it ends, so an address past the last
 * function of a region is not charged to it.  A function's module is
 * "kernel" for the kernel image, else the module's name without its
 * brackets ("ext4"), as a frame's module is for user code.
 *
 * The kernel shows zero for every address to readers it does not trust
 * (kernel.kptr_restrict, or no CAP_SYSLOG): such a file names nothing, and
 * loading it fails with a message that says so.
 */

struct kallsyms;

/* What an address is in: the function, its module and where it starts. */
struct kallsyms_symbol {
	const char *name;	/* valid until kallsyms_free */
	const char *module;	/* "kernel", or a module's name */
	uint64_t start;
};

/*
 * Reads symbols in the /proc/kallsyms format from f (to its end).  Lines
 * that do not parse are skipped.  NULL with err set when no text symbol
 * has an address (hidden, or not such a file).
 */
struct kallsyms *kallsyms_parse(FILE *f, struct error *err);
/* Reads /proc/kallsyms; the same contract. */
struct kallsyms *kallsyms_load(struct error *err);
void kallsyms_free(struct kallsyms *k);
/*
 * Whether /proc/kallsyms shows us the addresses of kernel functions (a
 * quick look at its first function, without loading it): 1, or 0 with
 * the reason in err.
 */
int kallsyms_readable(struct error *err);
/* Text symbols held (aliases at one address count once). */
size_t kallsyms_count(const struct kallsyms *k);
/*
 * The function containing addr: 0 with *out filled, -1 when addr is below
 * the first function or past the end of the one before it.
 */
int kallsyms_lookup(const struct kallsyms *k, uint64_t addr, struct kallsyms_symbol *out);

#endif
