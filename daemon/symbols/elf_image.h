#ifndef SAMPLED_ELF_IMAGE_H
#define SAMPLED_ELF_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * One ELF file, mapped read-only once and shared by every mapping of it
 * (keyed in the cache by device+inode).  Parsing is defensive: a truncated
 * or corrupt file yields an image with fewer capabilities (no symbols, no
 * unwind tables), or fails to open, never a crash.  Only ELF files of the
 * host's byte order are accepted; both ELFCLASS32 and ELFCLASS64 are.
 *
 * Lifetimes: every pointer an image hands out (path, name, file bytes,
 * section data, symbol names, its debug images and DWARF handle) lives as
 * long as the image, and images in a cache live until elf_cache_free.  A
 * file truncated by someone else while it is mapped would raise SIGBUS on
 * access; replaced files are fine (the old inode stays mapped).  Files are
 * mapped private and read-only, except that the file DWARF is read from
 * becomes writable (still private) when its DWARF is opened: libdw inflates
 * compressed debug sections by rewriting their section headers in place,
 * which must reach neither the file nor a read-only page.
 *
 * Debug information beyond the file itself is found on first need and
 * remembered, found or not:
 *  - a separate debug file: ROOT/DEBUG/.build-id/xx/rest.debug from the
 *    build-id note first (also tried under the host's DEBUG when ROOT is a
 *    target's root, since a build-id names one build wherever it lies),
 *    then the .gnu_debuglink name in ROOT/DIR/, ROOT/DIR/.debug/ and
 *    ROOT/DEBUG/DIR/, where DIR is the directory of the display path.
 *    DEBUG is /usr/lib/debug unless the cache says otherwise; ROOT is the
 *    root the image was reached through (see elf_cache_get).  A candidate
 *    is used only if it is ELF of the same class and machine, has a
 *    .symtab or DWARF, carries the same build-id when both have one, and
 *    (debuglink) matches the link's CRC32 over its whole contents.
 *  - MiniDebugInfo: the xz-compressed ELF in .gnu_debugdata, whose .symtab
 *    names the static functions of a stripped file (Fedora's way).
 *
 * Every one of these files may be named by a profiled process (its library
 * directory, its root, its debug link), so none is opened through a final
 * symbolic link (except under the host's debug directory, where
 * distributions use them), none may block the open (a FIFO), only regular
 * files are read, and sizes are capped before any work: see
 * elf_cache_usage.
 *  - DWARF (libdw), from the file itself when it has .debug_info, else
 *    from its separate debug file.
 */

struct elf_image;
struct elf_cache;
struct Dwarf;

struct elf_cache *elf_cache_new(void);
/* Frees the cache and every image in it; accepts NULL. */
void elf_cache_free(struct elf_cache *cache);
/*
 * Where separate debug files live instead of /usr/lib/debug (tests, other
 * layouts); dir is copied.  It applies to lookups not done yet, so set it
 * before the first image is used.
 */
void elf_cache_set_debug_root(struct elf_cache *cache, const char *dir);
/* Whether symbol and DWARF names starting with _Z are shown demangled (default 1). */
void elf_cache_set_demangle(struct elf_cache *cache, int on);
/*
 * Returns the image for (dev, ino), opening open_path on first use
 * (open_path may differ from display_path: /proc/PID/root/..., map_files).
 * The root its debug files are looked up under follows from the two: the
 * prefix open_path adds to display_path ("/proc/PID/root"), or
 * /proc/PID/root for a /proc/PID/map_files/ path, else none (our own).
 * The cache owns the image; NULL with err set when the file cannot be read
 * as ELF.  Failures are remembered: a file that opened but is not usable
 * ELF fails at once on every later call, whatever the path; a file that
 * could not be opened (or whose inode is not ino: the path now names
 * another file) fails at once when asked again through the same open_path,
 * while another open_path (map_files) is still tried.  ino 0 means unknown:
 * the entry is then keyed by display_path and the inode is not checked.
 */
struct elf_image *elf_cache_get(struct elf_cache *cache, const char *open_path,
				const char *display_path, uint64_t dev, uint64_t ino,
				struct error *err);
/*
 * Returns an image of ELF bytes read from memory (the vdso), sharing one
 * image among callers that pass identical bytes; buf is copied.
 */
struct elf_image *elf_cache_get_memory(struct elf_cache *cache, const char *display_path,
				       const void *buf, size_t size, struct error *err);
/* The number of images the cache owns (failures not counted). */
size_t elf_cache_count(const struct elf_cache *cache);

/*
 * What a cache's images have cost and refused, against its caps: debug
 * files over the size cap are skipped, MiniDebugInfo over the per-file or
 * the cache's total cap is not inflated.
 */
struct elf_cache_usage {
	uint64_t mini_bytes;		/* MiniDebugInfo inflated, all images */
	uint64_t mini_cap;		/* the total allowed */
	uint64_t mini_refused;		/* sections not inflated: over a cap */
	uint64_t debug_skipped;		/* debug files over the size cap */
	uint64_t debug_cap;		/* that cap, in bytes */
	uint64_t images_evicted;	/* images freed by elf_cache_sweep */
};

void elf_cache_usage(const struct elf_cache *cache, struct elf_cache_usage *out);

/*
 * Evicting images no mapping uses any more (a library unmapped, a program
 * replaced by exec), so that a target mapping ever new files cannot grow
 * the cache without end: elf_cache_mark_begin, then elf_image_mark on
 * every image the address-space models still hold (maps_mark_images),
 * then elf_cache_sweep.  The sweep frees unmarked images past keep of
 * them, least recently used first, and remembered failures past 1024; it
 * returns how many images went.  Every pointer into an image freed so is
 * dead: callers that cache image pointers (the unwinder) must drop them
 * when it returns more than 0.
 */
void elf_cache_mark_begin(struct elf_cache *cache);
void elf_image_mark(struct elf_image *img);
size_t elf_cache_sweep(struct elf_cache *cache, size_t keep);

/* Opens one file outside any cache (tests, tools); free with elf_image_free. */
struct elf_image *elf_image_open(const char *path, struct error *err);
/* Builds an image from ELF bytes in memory (copied), e.g. a vdso read from a target. */
struct elf_image *elf_image_open_memory(const char *display_path, const void *buf, size_t size,
					struct error *err);
void elf_image_free(struct elf_image *img);

const char *elf_image_path(const struct elf_image *img);
/* The file's base name, as shown in trees ("libc.so.6"). */
const char *elf_image_name(const struct elf_image *img);
/* Raw bytes of the whole file. */
const uint8_t *elf_image_data(const struct elf_image *img, size_t *size);
/* Build-id note bytes, NULL when absent. */
const uint8_t *elf_image_build_id(const struct elf_image *img, size_t *len);
/* 1 for ET_EXEC (absolute addresses), 0 for ET_DYN. */
int elf_image_is_exec(const struct elf_image *img);
/* 1 for ELFCLASS64, 0 for ELFCLASS32 (the symbol entry layout). */
int elf_image_is_64(const struct elf_image *img);
/* Maps a file offset to the ELF virtual address through the PT_LOAD segments. */
int elf_image_offset_to_vaddr(const struct elf_image *img, uint64_t off, uint64_t *vaddr);
int elf_image_vaddr_to_offset(const struct elf_image *img, uint64_t vaddr, uint64_t *off);
/*
 * Finds a section by name; returns 0 and its address, file bytes and size,
 * -1 when absent, without file bytes (SHT_NOBITS), compressed
 * (SHF_COMPRESSED: the bytes would need inflating) or lying outside the file.
 */
int elf_image_section(const struct elf_image *img, const char *name, uint64_t *vaddr,
		      const uint8_t **data, size_t *size);

/* A section header as readers of symbol tables need it, checked against the file. */
struct elf_image_shdr {
	const char *name;	/* "" when the name is unreadable */
	uint32_t type;		/* SHT_* */
	uint32_t link;		/* sh_link: the string table of a symbol table */
	uint64_t flags;		/* SHF_* */
	uint64_t vaddr, size;	/* sh_addr, sh_size */
	uint64_t entsize;
	const uint8_t *data;	/* the section's bytes; NULL when not inside the file */
};

/* The number of section headers (0 when the table is absent or unreadable). */
size_t elf_image_section_count(const struct elf_image *img);
/* Section header idx (an st_shndx, sh_link...), or NULL when out of range. */
const struct elf_image_shdr *elf_image_section_at(const struct elf_image *img, size_t idx);
/*
 * One structure a module above derives from the file and keeps with it
 * (symtab.h's symbol table, built on first use), freed with the image by
 * free_fn.  The image only holds it: it knows nothing of what it is.
 * NULL until set.
 */
void *elf_image_derived(const struct elf_image *img);
void elf_image_set_derived(struct elf_image *img, void *data, void (*free_fn)(void *));

/* The root debug files are looked up under: "" or "/proc/PID/root". */
const char *elf_image_root(const struct elf_image *img);
/* Whether names from this image are to be demangled (its cache's setting). */
int elf_image_demangle(const struct elf_image *img);
/* 1 when the file has its own symbol table (SHT_SYMTAB), so it was not stripped. */
int elf_image_has_symtab(const struct elf_image *img);
/*
 * The separate debug file (see above), looked up on the first call; NULL
 * when there is none.  Owned by img.
 */
struct elf_image *elf_image_debug_file(struct elf_image *img);
/* The ELF inside .gnu_debugdata, inflated on the first call; NULL when none.  Owned by img. */
struct elf_image *elf_image_mini_debug(struct elf_image *img);
/*
 * A libdw handle on the file's DWARF or its debug file's, opened on the
 * first call; NULL when neither has any.  Owned by img: never dwarf_end it.
 */
struct Dwarf *elf_image_dwarf(struct elf_image *img);
/* The .gnu_debuglink CRC32 (zlib's) of len bytes, continuing from crc (0 to start). */
uint32_t elf_image_crc32(uint32_t crc, const void *buf, size_t len);

#endif
