#ifndef SAMPLED_MAPS_H
#define SAMPLED_MAPS_H

#include <stdint.h>
#include <sys/types.h>

#include "elf_image.h"
#include "error.h"

/*
 * The address space of one target process: its mappings, sorted, each tied
 * to the ELF image behind it.  Loaded from /proc/PID/maps at attach and kept
 * current from PERF_RECORD_MMAP2 records.  Files are opened through
 * /proc/PID/root (containers) and /proc/PID/map_files (deleted binaries).
 */

#define MAPS_PROT_READ 1u
#define MAPS_PROT_WRITE 2u
#define MAPS_PROT_EXEC 4u

struct maps_entry {
	uint64_t start, end;	/* [start, end) in the target */
	uint64_t pgoff;		/* file offset of start; 0 for non-file mappings */
	uint64_t dev, ino;	/* dev is makedev(major, minor) */
	uint32_t prot;
	const char *path;	/* as the kernel names it, without " (deleted)"; "" for anonymous */
	const char *name;	/* what trees show: "libc.so.6", "[vdso]", "[anon]" */
	/*
	 * The ELF image of an executable file mapping, or the [vdso] image read
	 * from the target's memory; NULL for data, anonymous and special
	 * mappings and for files that are not readable ELF.  Owned by the cache.
	 */
	struct elf_image *image;
};

struct maps;
struct perfmap;

/*
 * Images come from cache, which must outlive the maps and is shared by the
 * models of all targets; a NULL cache gives a model without images.
 */
struct maps *maps_new(pid_t pid, struct elf_cache *cache);
void maps_free(struct maps *maps);
/* Replaces the whole model with /proc/PID/maps. */
int maps_load(struct maps *maps, struct error *err);
/*
 * Replaces the whole model with text in the /proc/PID/maps format (what
 * maps_load does once it has read the file; exported for tests).  Fails on
 * a malformed line and leaves the model unchanged.
 */
int maps_parse_text(struct maps *maps, const char *text, struct error *err);
/*
 * Adds a mapping (from MMAP2), replacing whatever it overlaps: entries it
 * covers go, entries it overlaps partly are trimmed or split.  dev is
 * makedev(maj, min); path is the record's filename ("//anon", "[vdso]",
 * "/usr/lib/... (deleted)").
 */
void maps_add(struct maps *maps, uint64_t start, uint64_t len, uint64_t pgoff, uint64_t dev,
	      uint64_t ino, uint32_t prot, const char *path);
/*
 * The mapping holding addr, or NULL.  Entry pointers are valid until the
 * next maps_load/maps_parse_text/maps_add; the path and name strings stay
 * valid until maps_free.
 */
const struct maps_entry *maps_find(const struct maps *maps, uint64_t addr);
/* Counts model changes, so caches keyed on addresses know when to flush. */
uint64_t maps_generation(const struct maps *maps);
/*
 * The target's perf map (JIT symbols, see perfmap.h), owned by the model;
 * mutable through a const model because lookups re-read it when it grows.
 */
struct perfmap *maps_perfmap(const struct maps *maps);
/* Marks the image of every mapping as in use, for elf_cache_sweep. */
void maps_mark_images(const struct maps *maps);
/* The number of mappings (tests, diagnostics). */
size_t maps_count(const struct maps *maps);
/* Mapping i in address order, or NULL past the end. */
const struct maps_entry *maps_at(const struct maps *maps, size_t i);

/*
 * Translates a target address inside e to the ELF virtual address of the
 * image: the file offset addr - start + pgoff goes through the image's
 * PT_LOAD segments, which removes the load bias of PIE executables and
 * shared libraries and is the identity shift for ET_EXEC.  -1 without an
 * image or when no segment holds the offset.
 */
int maps_to_vaddr(const struct maps_entry *e, uint64_t addr, uint64_t *vaddr);

#endif
