#ifndef SAMPLED_KFRAMES_H
#define SAMPLED_KFRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "symbols/kallsyms.h"
#include "tree.h"

/*
 * Kernel code addresses to tree frames (kind kernel), for the profile.
 * The kernel's address space is the same for every thread and process, so
 * one cache serves them all: each distinct address is looked up once, and
 * /proc/kallsyms is read only when the first kernel address comes.  The
 * cache is bounded (past its limit it starts over).
 */
struct kframes;

/*
 * Frames in tree, named from syms, which the cache then owns; with syms
 * NULL, /proc/kallsyms is read on the first kframes_ids.
 */
struct kframes *kframes_new(struct tree *tree, struct kallsyms *syms);
void kframes_free(struct kframes *kf);
/*
 * Writes the frame ids of a kernel call chain to ids, outermost first
 * (the order a stack goes into the tree): pcs[0] is the interrupted
 * instruction, pcs[1..n-1] the return addresses of its callers, as perf
 * reports them.  Returns how many ids were written (n), or 0 when the
 * kernel's symbols cannot be read (logged once), so that the caller shows
 * the kernel part of the stack as one frame.  An address no function
 * covers becomes "kernel+0x<address>".
 */
size_t kframes_ids(struct kframes *kf, const uint64_t *pcs, size_t n, uint32_t *ids);

#endif
