#include <sys/mman.h>
#include <sys/stat.h>

#include <elf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "elf_image.h"
#include "log.h"
#include "mem.h"

/* Failed opens a cache remembers at most, the least recently met forgotten first. */
#define ELF_CACHE_MAX_FAILURES 1024

/* Where separate debug files live unless the cache is told otherwise. */
#define ELF_IMAGE_DEBUG_ROOT "/usr/lib/debug"
/*
 * A separate debug file larger than this is skipped: its first touch (the
 * CRC of a debug link, the symbol table) must stay short, and a target can
 * name one (a sparse file of many GiB costs nothing to make).
 */
#define ELF_IMAGE_DEBUG_MAX ((int64_t)1 << 30)
/*
 * An inflated .gnu_debugdata larger than this is refused (a decompression
 * bomb), and a cache inflates no more than ELF_IMAGE_MINI_TOTAL in all.
 * MiniDebugInfo holds a .symtab of static functions: a few MiB even for
 * the largest libraries.
 */
#define ELF_IMAGE_MINI_MAX (32u << 20)
#define ELF_IMAGE_MINI_TOTAL ((uint64_t)128 << 20)
/* What liblzma may use to inflate it. */
#define ELF_IMAGE_MINI_MEMLIMIT (64u << 20)

/*
 * Settings a cache applies to its images; images opened outside a cache
 * use elf_image_defaults.  Images point at their cache's, which outlives
 * them.
 */
struct elf_cache_opts {
	const char *debug_root;
	int demangle;
};

static const struct elf_cache_opts elf_image_defaults = { ELF_IMAGE_DEBUG_ROOT, 1 };

/* What a lazy lookup has found out so far. */
enum elf_image_state {
	ELF_IMAGE_UNKNOWN,	/* not looked for yet */
	ELF_IMAGE_DONE,		/* looked for: the pointer is the answer, NULL for none */
};

/* One PT_LOAD segment: what offset<->vaddr translation needs. */
struct elf_load {
	uint64_t offset, vaddr, filesz, memsz;
};

struct elf_image {
	char *path;			/* display path */
	const char *name;		/* base name, inside path */
	uint8_t *data;			/* the whole file */
	size_t size;
	int mapped;			/* data is an mmap (else malloc'd) */
	Elf *elf;
	int type;			/* e_type */
	int machine;			/* e_machine */
	int is_64;
	struct elf_load *loads;
	size_t nloads;
	struct elf_image_shdr *shdrs;
	size_t nshdrs;
	const uint8_t *build_id;
	size_t build_id_len;
	void *derived;			/* see elf_image_set_derived */
	void (*derived_free)(void *);
	const struct elf_cache_opts *opts;
	char *root;			/* debug files are looked up under it */
	int is_debug;			/* a debug image: it has no debug files of its own */
	enum elf_image_state debug_state, mini_state, dwarf_state;
	struct elf_cache_usage *usage;	/* the cache's, or NULL outside a cache */
	uint64_t last_used;		/* the cache's clock at its last elf_cache_get */
	int marked;			/* in use, for elf_cache_sweep */
	struct elf_image *debug;	/* separate debug file */
	struct elf_image *mini;		/* MiniDebugInfo */
	Dwarf *dwarf;
};

/*
 * A cache slot.  image NULL means a remembered failure: content_failed for
 * a file that opened but is not usable ELF (sticky for every path), else
 * failed_path names the open_path that could not be opened.
 */
struct elf_cache_entry {
	uint64_t dev, ino;
	char *key_path;			/* display path, keys entries with ino 0 */
	struct elf_image *image;
	int content_failed;
	char *failed_path;
	struct error failure;
	uint64_t last_used;		/* the cache's clock at its last lookup */
	int doomed;			/* elf_cache_sweep removes it */
	struct elf_cache_entry *next;
};

struct elf_cache {
	struct elf_cache_entry **buckets;
	size_t nbuckets;		/* a power of two */
	size_t nentries;		/* images and failures */
	size_t nimages;
	struct elf_image **memory;	/* in-memory images (vdso) */
	size_t nmemory, capmemory;
	struct elf_cache_opts opts;
	char *debug_root;		/* owned copy behind opts.debug_root, or NULL */
	struct elf_cache_usage usage;
	uint64_t clock;			/* counts lookups, for least-recently-used order */
	size_t nfailures;
};

/* Initialises libelf; harmless to repeat, the library keeps the version itself. */
static int elf_image_init_libelf(struct error *err)
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		error_set(err, 0, "libelf: %s", elf_errmsg(-1));
		return -1;
	}
	return 0;
}

/* True when [off, off + len) lies inside a buffer of size bytes. */
static int elf_image_in_bounds(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

/*
 * Records the PT_LOAD segments; a broken program header table leaves none.
 * A segment whose file or address range wraps around 2^64 is skipped: the
 * translations would land on unrelated bytes.
 */
static void elf_image_read_loads(struct elf_image *img)
{
	size_t phnum, cap = 0;

	if (elf_getphdrnum(img->elf, &phnum) != 0)
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(img->elf, (int)i, &ph) == NULL)
			break;
		if (ph.p_type != PT_LOAD || ph.p_offset + ph.p_filesz < ph.p_offset ||
		    ph.p_vaddr + ph.p_filesz < ph.p_vaddr || ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			continue;
		img->loads = mem_grow(img->loads, &cap, img->nloads + 1, sizeof(*img->loads));
		img->loads[img->nloads++] = (struct elf_load){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.memsz = ph.p_memsz,
		};
	}
}

/*
 * Copies the section headers into our own table, checking each against the
 * file: data stays NULL unless the bytes are inside it, and names are used
 * only when NUL-terminated inside the section-name table.  libelf itself
 * checks that the header table lies inside the buffer it was given: a
 * table past the end of a truncated file yields no sections.
 */
static void elf_image_read_sections(struct elf_image *img)
{
	const uint8_t *names = NULL;
	size_t shnum, shstrndx, names_size = 0;

	if (elf_getshdrnum(img->elf, &shnum) != 0 || shnum == 0)
		return;
	img->shdrs = mem_calloc(shnum, sizeof(*img->shdrs));
	for (size_t i = 0; i < shnum; i++) {
		struct elf_image_shdr *s = &img->shdrs[i];
		Elf_Scn *scn = elf_getscn(img->elf, i);
		GElf_Shdr sh;

		s->name = "";
		if (scn == NULL || gelf_getshdr(scn, &sh) == NULL)
			continue;
		s->type = sh.sh_type;
		s->link = sh.sh_link;
		s->flags = sh.sh_flags;
		s->vaddr = sh.sh_addr;
		s->size = sh.sh_size;
		s->entsize = sh.sh_entsize;
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    elf_image_in_bounds(sh.sh_offset, sh.sh_size, img->size))
			s->data = img->data + sh.sh_offset;
	}
	img->nshdrs = shnum;

	if (elf_getshdrstrndx(img->elf, &shstrndx) == 0 && shstrndx < shnum &&
	    img->shdrs[shstrndx].type == SHT_STRTAB && img->shdrs[shstrndx].data != NULL) {
		names = img->shdrs[shstrndx].data;
		names_size = img->shdrs[shstrndx].size;
	}
	if (names == NULL)
		return;
	for (size_t i = 0; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(img->elf, i);
		GElf_Shdr sh;

		if (scn == NULL || gelf_getshdr(scn, &sh) == NULL || sh.sh_name >= names_size)
			continue;
		if (memchr(names + sh.sh_name, '\0', names_size - sh.sh_name) != NULL)
			img->shdrs[i].name = (const char *)names + sh.sh_name;
	}
}

/*
 * Walks one note area for NT_GNU_BUILD_ID.  Note headers are three 4-byte
 * words in both classes; name and descriptor are padded to the area's
 * alignment (4, or 8 for areas aligned so, as .note.gnu.property is).
 */
static int elf_image_find_build_id(struct elf_image *img, const uint8_t *p, size_t len,
				   uint64_t align)
{
	size_t pos = 0, a = align == 8 ? 8 : 4;

	while (len - pos >= 12) {
		uint32_t hdr[3];
		uint64_t namesz, descsz, name_end, desc_end;

		memcpy(hdr, p + pos, sizeof(hdr));
		namesz = hdr[0];
		descsz = hdr[1];
		name_end = pos + 12 + ((namesz + a - 1) & ~(uint64_t)(a - 1));
		desc_end = name_end + ((descsz + a - 1) & ~(uint64_t)(a - 1));
		if (name_end > len || pos + 12 + namesz > len || name_end + descsz > len)
			return -1;
		if (hdr[2] == NT_GNU_BUILD_ID && namesz == 4 &&
		    memcmp(p + pos + 12, "GNU", 4) == 0 && descsz > 0) {
			img->build_id = p + name_end;
			img->build_id_len = descsz;
			return 0;
		}
		if (desc_end > len)
			return -1;
		pos = desc_end;
	}
	return -1;
}

/* Finds the build-id in PT_NOTE segments first, then in SHT_NOTE sections. */
static void elf_image_read_build_id(struct elf_image *img)
{
	size_t phnum;

	if (elf_getphdrnum(img->elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(img->elf, (int)i, &ph) == NULL)
				break;
			if (ph.p_type != PT_NOTE ||
			    !elf_image_in_bounds(ph.p_offset, ph.p_filesz, img->size))
				continue;
			if (elf_image_find_build_id(img, img->data + ph.p_offset, ph.p_filesz,
						    ph.p_align) == 0)
				return;
		}
	}
	for (size_t i = 0; i < img->nshdrs; i++) {
		const struct elf_image_shdr *s = &img->shdrs[i];
		Elf_Scn *scn;
		GElf_Shdr sh;

		if (s->type != SHT_NOTE || s->data == NULL)
			continue;
		scn = elf_getscn(img->elf, i);
		if (scn == NULL || gelf_getshdr(scn, &sh) == NULL)
			continue;
		if (elf_image_find_build_id(img, s->data, s->size, sh.sh_addralign) == 0)
			return;
	}
}

/*
 * Builds an image over bytes the image now owns (mapped says how to
 * release them); on failure the bytes are released too.
 */
static struct elf_image *elf_image_build(const char *display_path, uint8_t *data, size_t size,
					 int mapped, struct error *err)
{
	struct elf_image *img = mem_zalloc(sizeof(*img));
	const char *slash;
	GElf_Ehdr eh;

	img->path = mem_strdup(display_path);
	slash = strrchr(img->path, '/');
	img->name = slash != NULL && slash[1] != '\0' ? slash + 1 : img->path;
	img->data = data;
	img->size = size;
	img->mapped = mapped;
	img->opts = &elf_image_defaults;
	img->root = mem_strdup("");

	if (elf_image_init_libelf(err) != 0)
		goto fail;
	if (size < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG) != 0) {
		error_set(err, 0, "%s: not an ELF file", display_path);
		goto fail;
	}
	if (data[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB) ||
	    (data[EI_CLASS] != ELFCLASS32 && data[EI_CLASS] != ELFCLASS64)) {
		error_set(err, 0, "%s: unsupported ELF class or byte order", display_path);
		goto fail;
	}
	/* elf_memory only reads native-order, aligned headers in place. */
	img->elf = elf_memory((char *)data, size);
	if (img->elf == NULL || elf_kind(img->elf) != ELF_K_ELF || gelf_getehdr(img->elf, &eh) == NULL) {
		error_set(err, 0, "%s: bad ELF: %s", display_path, elf_errmsg(-1));
		goto fail;
	}
	img->type = eh.e_type;
	img->machine = eh.e_machine;
	img->is_64 = data[EI_CLASS] == ELFCLASS64;
	elf_image_read_loads(img);
	elf_image_read_sections(img);
	elf_image_read_build_id(img);
	return img;
fail:
	elf_image_free(img);
	return NULL;
}

/*
 * Opens and maps one file.  *content_failed tells the cache whether the
 * failure belongs to the file (sticky) or to this way of reaching it.
 * want_ino, when non-zero, must match: a path naming a different inode than
 * the mapping means the file was replaced and its symbols would be wrong.
 * The open neither blocks (a FIFO in its place) nor, unless follow, goes
 * through a link at the last component: a profiled process names these
 * paths.  A file over max_size (0: no cap) is refused before it is read.
 */
static struct elf_image *elf_image_open_file(const char *open_path, const char *display_path,
					     uint64_t want_ino, int follow, int64_t max_size,
					     int *content_failed, struct error *err)
{
	struct elf_image *img = NULL;
	void *data = MAP_FAILED;
	struct stat st;
	int fd;

	*content_failed = 0;
	fd = open(open_path,
		  O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		if (errno == ELOOP)
			error_set(err, ELOOP, "%s is a symbolic link: not followed", open_path);
		else
			error_set(err, errno, "opening %s", open_path);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		error_set(err, errno, "stat %s", open_path);
		goto out;
	}
	if (want_ino != 0 && (uint64_t)st.st_ino != want_ino) {
		error_set(err, 0, "%s: inode %llu, the mapping has %llu (file replaced)", open_path,
			  (unsigned long long)st.st_ino, (unsigned long long)want_ino);
		goto out;
	}
	*content_failed = 1;
	if (!S_ISREG(st.st_mode)) {
		error_set(err, 0, "%s: not a regular file", open_path);
		goto out;
	}
	if (max_size > 0 && st.st_size > max_size) {
		error_set(err, EFBIG, "%s: %lld bytes, over the cap of %lld", open_path,
			  (long long)st.st_size, (long long)max_size);
		goto out;
	}
	if (st.st_size < EI_NIDENT || (uint64_t)st.st_size > SIZE_MAX) {
		error_set(err, 0, "%s: not an ELF file (%lld bytes)", open_path,
			  (long long)st.st_size);
		goto out;
	}
	data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED) {
		*content_failed = 0;
		error_set(err, errno, "mapping %s", open_path);
		goto out;
	}
	img = elf_image_build(display_path, data, (size_t)st.st_size, 1, err);
out:
	if (fd >= 0)
		close(fd);
	return img;
}

/* Opens a file the caller names directly (tests, tools): no inode to check. */
struct elf_image *elf_image_open(const char *path, struct error *err)
{
	int content_failed;

	return elf_image_open_file(path, path, 0, 1, 0, &content_failed, err);
}

/* Copies the bytes so the caller's buffer (a read of target memory) can go at once. */
struct elf_image *elf_image_open_memory(const char *display_path, const void *buf, size_t size,
					struct error *err)
{
	uint8_t *copy = mem_alloc(size);

	memcpy(copy, buf, size);
	return elf_image_build(display_path, copy, size, 0, err);
}

/* Releases the image with its symbols: every name it handed out dies here. */
void elf_image_free(struct elf_image *img)
{
	if (img == NULL)
		return;
	/* The DWARF handle reads the debug image's Elf: it goes first. */
	if (img->dwarf != NULL)
		dwarf_end(img->dwarf);
	if (img->derived_free != NULL)
		img->derived_free(img->derived);
	elf_image_free(img->debug);
	elf_image_free(img->mini);
	if (img->elf != NULL)
		elf_end(img->elf);
	if (img->mapped)
		munmap(img->data, img->size);
	else
		free(img->data);
	free(img->loads);
	free(img->shdrs);
	free(img->path);
	free(img->root);
	free(img);
}

/* The path the image is shown under (not the /proc path it was opened through). */
const char *elf_image_path(const struct elf_image *img)
{
	return img->path;
}

/* The base name, computed once so trees do not split paths per sample. */
const char *elf_image_name(const struct elf_image *img)
{
	return img->name;
}

/* The file bytes, which the unwinder reads instead of the target's memory. */
const uint8_t *elf_image_data(const struct elf_image *img, size_t *size)
{
	*size = img->size;
	return img->data;
}

/* The build-id, for finding separate debug info and labelling exports. */
const uint8_t *elf_image_build_id(const struct elf_image *img, size_t *len)
{
	*len = img->build_id_len;
	return img->build_id;
}

/* Whether addresses are absolute (ET_EXEC) rather than load-relative. */
int elf_image_is_exec(const struct elf_image *img)
{
	return img->type == ET_EXEC;
}

/* Whether symbol entries are Elf64_Sym (else Elf32_Sym). */
int elf_image_is_64(const struct elf_image *img)
{
	return img->is_64;
}

/*
 * An offset inside a segment's file bytes is exact.  Failing that, the
 * offset may sit in the page the kernel mapped around a segment whose
 * p_offset is not page aligned, or in its zero-filled tail (memsz beyond
 * filesz): the segment's bias still applies there.
 */
int elf_image_offset_to_vaddr(const struct elf_image *img, uint64_t off, uint64_t *vaddr)
{
	const struct elf_load *near = NULL;

	for (size_t i = 0; i < img->nloads; i++) {
		const struct elf_load *l = &img->loads[i];
		uint64_t lo = l->offset & ~(uint64_t)4095;
		uint64_t extent = l->memsz > l->filesz ? l->memsz : l->filesz;

		if (off >= l->offset && off - l->offset < l->filesz) {
			*vaddr = off - l->offset + l->vaddr;
			return 0;
		}
		if (near == NULL && off >= lo && off - lo < l->offset - lo + extent)
			near = l;
	}
	if (near == NULL)
		return -1;
	*vaddr = off - near->offset + near->vaddr;
	return 0;
}

/* The inverse translation; only addresses backed by file bytes have an offset. */
int elf_image_vaddr_to_offset(const struct elf_image *img, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; i < img->nloads; i++) {
		const struct elf_load *l = &img->loads[i];

		if (vaddr >= l->vaddr && vaddr - l->vaddr < l->filesz) {
			*off = vaddr - l->vaddr + l->offset;
			return 0;
		}
	}
	return -1;
}

/* A linear scan: sections are few and looked up once per image, not per sample. */
int elf_image_section(const struct elf_image *img, const char *name, uint64_t *vaddr,
		      const uint8_t **data, size_t *size)
{
	for (size_t i = 0; i < img->nshdrs; i++) {
		const struct elf_image_shdr *s = &img->shdrs[i];

		if (strcmp(s->name, name) != 0)
			continue;
		if (s->data == NULL || (s->flags & SHF_COMPRESSED))
			return -1;
		*vaddr = s->vaddr;
		*data = s->data;
		*size = s->size;
		return 0;
	}
	return -1;
}

/* How many section headers were read (0 when the table was unusable). */
size_t elf_image_section_count(const struct elf_image *img)
{
	return img->nshdrs;
}

/* Bounds-checked access, so st_shndx and sh_link from the file can be used as is. */
const struct elf_image_shdr *elf_image_section_at(const struct elf_image *img, size_t idx)
{
	return idx < img->nshdrs ? &img->shdrs[idx] : NULL;
}

/* The slot a module above keeps its per-file structure in, so the image need not know it. */
void *elf_image_derived(const struct elf_image *img)
{
	return img->derived;
}

/* Replaces the derived structure, freeing the one before with its own function. */
void elf_image_set_derived(struct elf_image *img, void *data, void (*free_fn)(void *))
{
	if (img->derived_free != NULL && img->derived != data)
		img->derived_free(img->derived);
	img->derived = data;
	img->derived_free = free_fn;
}

/* Creates an empty cache, shared by the models of all targets. */
struct elf_cache *elf_cache_new(void)
{
	struct elf_cache *cache = mem_zalloc(sizeof(*cache));

	cache->usage.mini_cap = ELF_IMAGE_MINI_TOTAL;
	cache->usage.debug_cap = (uint64_t)ELF_IMAGE_DEBUG_MAX;
	/* Not fatal here: elf_cache_get reports it with the file that needed it. */
	if (elf_image_init_libelf(NULL) != 0)
		log_warn("libelf: %s", elf_errmsg(-1));
	cache->nbuckets = 64;
	cache->buckets = mem_calloc(cache->nbuckets, sizeof(*cache->buckets));
	cache->opts = elf_image_defaults;
	return cache;
}

/* Frees every image, remembered failure and in-memory image. */
void elf_cache_free(struct elf_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t i = 0; i < cache->nbuckets; i++) {
		struct elf_cache_entry *e = cache->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			elf_image_free(e->image);
			free(e->key_path);
			free(e->failed_path);
			free(e);
		}
	}
	for (size_t i = 0; i < cache->nmemory; i++)
		elf_image_free(cache->memory[i]);
	free(cache->memory);
	free(cache->buckets);
	free(cache->debug_root);
	free(cache);
}

/* FNV-1a over the key; the path only counts for entries without an inode. */
static uint64_t elf_cache_hash(uint64_t dev, uint64_t ino, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint64_t words[2] = { dev, ino };
	const uint8_t *p = (const uint8_t *)words;

	for (size_t i = 0; i < sizeof(words); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	if (ino == 0)
		for (; *path != '\0'; path++)
			h = (h ^ (uint8_t)*path) * 0x100000001b3ULL;
	return h;
}

/* Doubles the bucket array once entries outnumber buckets. */
static void elf_cache_grow(struct elf_cache *cache)
{
	size_t n = cache->nbuckets * 2;
	struct elf_cache_entry **b = mem_calloc(n, sizeof(*b));

	for (size_t i = 0; i < cache->nbuckets; i++) {
		struct elf_cache_entry *e = cache->buckets[i], *next;

		for (; e != NULL; e = next) {
			uint64_t h = elf_cache_hash(e->dev, e->ino, e->key_path ? e->key_path : "");

			next = e->next;
			e->next = b[h & (n - 1)];
			b[h & (n - 1)] = e;
		}
	}
	free(cache->buckets);
	cache->buckets = b;
	cache->nbuckets = n;
}

/*
 * The length of "/proc/PID" when path is a /proc/PID/map_files/ entry, else
 * 0.  Those are the kernel's links to what a process maps: following them
 * is how a deleted or replaced file is reached, and nobody can redirect them.
 */
static size_t elf_cache_is_map_files(const char *path)
{
	const char *p;

	if (strncmp(path, "/proc/", 6) != 0)
		return 0;
	for (p = path + 6; *p >= '0' && *p <= '9'; p++)
		;
	return p > path + 6 && strncmp(p, "/map_files/", 11) == 0 ? (size_t)(p - path) : 0;
}

/*
 * The root a file was reached through, for finding its debug files in the
 * same filesystem: what open_path adds in front of display_path, or the
 * target's root for a map_files path (which names no directory).
 */
static char *elf_cache_root_of(const char *open_path, const char *display_path)
{
	size_t lo = strlen(open_path), ld = strlen(display_path);
	size_t proc = elf_cache_is_map_files(open_path);

	if (display_path[0] == '/' && lo > ld && strcmp(open_path + lo - ld, display_path) == 0)
		return mem_strndup(open_path, lo - ld);
	if (proc > 0)
		return mem_printf("%.*s/root", (int)proc, open_path);
	return mem_strdup("");
}

/* Looks the file up by identity, opening it once; failures answer from the entry. */
struct elf_image *elf_cache_get(struct elf_cache *cache, const char *open_path,
				const char *display_path, uint64_t dev, uint64_t ino,
				struct error *err)
{
	uint64_t h = elf_cache_hash(dev, ino, display_path);
	struct elf_cache_entry *e = cache->buckets[h & (cache->nbuckets - 1)];
	int content_failed;

	for (; e != NULL; e = e->next)
		if (e->dev == dev && e->ino == ino &&
		    (ino != 0 || strcmp(e->key_path, display_path) == 0))
			break;
	if (e != NULL)
		e->last_used = ++cache->clock;
	if (e != NULL && e->image != NULL) {
		e->image->last_used = e->last_used;
		return e->image;
	}
	if (e != NULL && (e->content_failed || strcmp(e->failed_path, open_path) == 0)) {
		if (err != NULL)
			*err = e->failure;
		return NULL;
	}
	if (e == NULL) {
		if (cache->nentries >= cache->nbuckets)
			elf_cache_grow(cache);
		e = mem_zalloc(sizeof(*e));
		e->dev = dev;
		e->ino = ino;
		if (ino == 0)
			e->key_path = mem_strdup(display_path);
		e->next = cache->buckets[h & (cache->nbuckets - 1)];
		cache->buckets[h & (cache->nbuckets - 1)] = e;
		cache->nentries++;
		e->last_used = ++cache->clock;
	} else {
		cache->nfailures--;	/* tried again: a failure no more, or counted anew below */
	}
	e->image = elf_image_open_file(open_path, display_path, ino,
				       elf_cache_is_map_files(open_path), 0, &content_failed,
				       &e->failure);
	free(e->failed_path);
	e->failed_path = NULL;
	if (e->image != NULL) {
		e->image->opts = &cache->opts;
		e->image->usage = &cache->usage;
		e->image->last_used = e->last_used;
		free(e->image->root);
		e->image->root = elf_cache_root_of(open_path, display_path);
		cache->nimages++;
		return e->image;
	}
	/* Logged once here: later calls are answered from the entry. */
	log_debug("no symbols for %s: %s", display_path, e->failure.msg);
	e->content_failed = content_failed;
	e->failed_path = mem_strdup(open_path);
	cache->nfailures++;
	if (err != NULL)
		*err = e->failure;
	return NULL;
}

/* Compares bytes, so every target on this kernel shares one vdso image per ABI. */
struct elf_image *elf_cache_get_memory(struct elf_cache *cache, const char *display_path,
				       const void *buf, size_t size, struct error *err)
{
	struct elf_image *img;

	for (size_t i = 0; i < cache->nmemory; i++) {
		img = cache->memory[i];
		if (img->size == size && memcmp(img->data, buf, size) == 0 &&
		    strcmp(img->path, display_path) == 0)
			return img;
	}
	img = elf_image_open_memory(display_path, buf, size, err);
	if (img == NULL)
		return NULL;
	img->opts = &cache->opts;
	img->usage = &cache->usage;
	cache->memory = mem_grow(cache->memory, &cache->capmemory, cache->nmemory + 1,
				 sizeof(*cache->memory));
	cache->memory[cache->nmemory++] = img;
	return img;
}

/* Counts images held, for tests and status output. */
size_t elf_cache_count(const struct elf_cache *cache)
{
	return cache->nimages + cache->nmemory;
}

void elf_cache_usage(const struct elf_cache *cache, struct elf_cache_usage *out)
{
	*out = cache->usage;
}

/* Every image starts a sweep unused, until a model marks it. */
void elf_cache_mark_begin(struct elf_cache *cache)
{
	for (size_t i = 0; i < cache->nbuckets; i++)
		for (struct elf_cache_entry *e = cache->buckets[i]; e != NULL; e = e->next)
			if (e->image != NULL)
				e->image->marked = 0;
}

void elf_image_mark(struct elf_image *img)
{
	img->marked = 1;
}

/* Orders entries oldest first for eviction. */
static int elf_cache_entry_older(const void *a, const void *b)
{
	const struct elf_cache_entry *x = *(const struct elf_cache_entry *const *)a;
	const struct elf_cache_entry *y = *(const struct elf_cache_entry *const *)b;

	return x->last_used < y->last_used ? -1 : x->last_used > y->last_used;
}

/*
 * Two kinds of entry may go: images no model marked (the file is mapped
 * no more), past keep of them, and remembered failures past
 * ELF_CACHE_MAX_FAILURES, the least recently used of each first.  The
 * entry goes with its image, so the file is opened again if it comes back.
 */
size_t elf_cache_sweep(struct elf_cache *cache, size_t keep)
{
	struct elf_cache_entry **unused = NULL, **failed = NULL;
	size_t nunused = 0, nfailed = 0, cap_unused = 0, cap_failed = 0, gone = 0;

	for (size_t i = 0; i < cache->nbuckets; i++) {
		for (struct elf_cache_entry *e = cache->buckets[i]; e != NULL; e = e->next) {
			if (e->image != NULL && !e->image->marked) {
				unused = mem_grow(unused, &cap_unused, nunused + 1, sizeof(*unused));
				unused[nunused++] = e;
			} else if (e->image == NULL) {
				failed = mem_grow(failed, &cap_failed, nfailed + 1, sizeof(*failed));
				failed[nfailed++] = e;
			}
		}
	}
	if (nunused > keep)
		qsort(unused, nunused, sizeof(*unused), elf_cache_entry_older);
	if (nfailed > ELF_CACHE_MAX_FAILURES)
		qsort(failed, nfailed, sizeof(*failed), elf_cache_entry_older);
	for (size_t i = 0; i + keep < nunused; i++) {
		unused[i]->doomed = 1;
		gone++;
	}
	for (size_t i = 0; i + ELF_CACHE_MAX_FAILURES < nfailed; i++)
		failed[i]->doomed = 1;
	cache->usage.images_evicted += gone;
	for (size_t i = 0; i < cache->nbuckets; i++) {
		struct elf_cache_entry **pp = &cache->buckets[i];

		while (*pp != NULL) {
			struct elf_cache_entry *e = *pp;

			if (!e->doomed) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			if (e->image != NULL)
				cache->nimages--;
			else
				cache->nfailures--;
			elf_image_free(e->image);
			free(e->key_path);
			free(e->failed_path);
			free(e);
			cache->nentries--;
		}
	}
	free(unused);
	free(failed);
	return gone;
}

/* Replaces the debug root; NULL restores /usr/lib/debug. */
void elf_cache_set_debug_root(struct elf_cache *cache, const char *dir)
{
	free(cache->debug_root);
	cache->debug_root = dir != NULL ? mem_strdup(dir) : NULL;
	cache->opts.debug_root = dir != NULL ? cache->debug_root : ELF_IMAGE_DEBUG_ROOT;
}

/* Read at lookup time by every image of the cache. */
void elf_cache_set_demangle(struct elf_cache *cache, int on)
{
	cache->opts.demangle = on != 0;
}

/* The root debug files are looked up under, "" for the daemon's own. */
const char *elf_image_root(const struct elf_image *img)
{
	return img->root;
}

/* The cache's demangling switch, as seen by this image. */
int elf_image_demangle(const struct elf_image *img)
{
	return img->opts->demangle;
}

/* Whether a symbol table survived stripping, so debug files are not needed for names. */
int elf_image_has_symtab(const struct elf_image *img)
{
	for (size_t i = 0; i < img->nshdrs; i++)
		if (img->shdrs[i].type == SHT_SYMTAB && img->shdrs[i].data != NULL)
			return 1;
	return 0;
}

/*
 * The CRC-32 .gnu_debuglink records is zlib's, whose implementation reads
 * several GiB a second: a debug file's check costs little next to its
 * first use.  zlib takes lengths as unsigned int, hence the chunks.
 */
uint32_t elf_image_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uLong c = crc;

	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

/* True when the image has bytes for a DWARF section (compressed or not). */
static int elf_image_has_dwarf(const struct elf_image *img)
{
	for (size_t i = 0; i < img->nshdrs; i++) {
		const struct elf_image_shdr *s = &img->shdrs[i];

		if (s->data != NULL && s->size > 0 &&
		    (strcmp(s->name, ".debug_info") == 0 || strcmp(s->name, ".zdebug_info") == 0))
			return 1;
	}
	return 0;
}

/*
 * Opens one candidate debug file and keeps it only if it belongs to img:
 * same class and machine, something to offer (.symtab or DWARF), the same
 * build-id when both have one, and for a debuglink candidate (want_crc)
 * the CRC the link records.  Candidates that do not exist are the common
 * case and are not logged.
 */
static struct elf_image *elf_image_try_debug(struct elf_image *img, const char *path,
					     int follow, int want_crc, uint32_t crc)
{
	struct elf_image *dbg;
	struct error err;
	int content_failed;
	size_t len;

	dbg = elf_image_open_file(path, path, 0, follow, ELF_IMAGE_DEBUG_MAX, &content_failed,
				  &err);
	if (dbg == NULL) {
		if (err.errnum == EFBIG) {
			log_info("debug file for %s skipped: %s", img->path, err.msg);
			if (img->usage != NULL)
				img->usage->debug_skipped++;
		} else if (err.errnum != ENOENT && err.errnum != ENOTDIR) {
			log_debug("debug file for %s: %s", img->path, err.msg);
		}
		return NULL;
	}
	dbg->is_debug = 1;
	dbg->opts = img->opts;
	dbg->usage = img->usage;
	if (dbg->is_64 != img->is_64 || dbg->machine != img->machine) {
		log_debug("%s: not a debug file for %s (class or machine)", path, img->path);
		goto fail;
	}
	if (!elf_image_has_symtab(dbg) && !elf_image_has_dwarf(dbg)) {
		log_debug("%s: neither symbols nor DWARF", path);
		goto fail;
	}
	if (img->build_id != NULL && dbg->build_id != NULL &&
	    (img->build_id_len != dbg->build_id_len ||
	     memcmp(img->build_id, dbg->build_id, img->build_id_len) != 0)) {
		log_debug("%s: build-id differs from %s's", path, img->path);
		goto fail;
	}
	if (want_crc && elf_image_crc32(0, elf_image_data(dbg, &len), dbg->size) != crc) {
		log_debug("%s: CRC does not match %s's .gnu_debuglink", path, img->path);
		goto fail;
	}
	log_debug("%s: debug file %s", img->path, path);
	return dbg;
fail:
	elf_image_free(dbg);
	return NULL;
}

/*
 * Reads .gnu_debuglink: a NUL-terminated file name, padding to 4 bytes,
 * then the CRC32 in the file's byte order (ours, as only such files open).
 * A name with a slash is refused, so a target cannot send us elsewhere.
 */
static int elf_image_debuglink(const struct elf_image *img, const char **name, uint32_t *crc)
{
	const uint8_t *data, *nul;
	uint64_t vaddr;
	size_t size, at;

	if (elf_image_section(img, ".gnu_debuglink", &vaddr, &data, &size) != 0)
		return -1;
	nul = memchr(data, '\0', size);
	if (nul == NULL || nul == data)
		return -1;
	at = ((size_t)(nul - data) + 4) & ~(size_t)3;
	if (at + 4 > size || memchr(data, '/', (size_t)(nul - data)) != NULL)
		return -1;
	memcpy(crc, data + at, 4);
	*name = (const char *)data;
	return 0;
}

/*
 * Tries the build-id path under one root.  Links are followed only in the
 * host's debug directory, where distributions make .build-id of them; a
 * target's root is the target's to fill.
 */
static struct elf_image *elf_image_try_build_id(struct elf_image *img, const char *root)
{
	struct elf_image *dbg;
	char *hex = mem_alloc(img->build_id_len * 2 + 1), *path;

	for (size_t i = 0; i < img->build_id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", img->build_id[i]);
	path = mem_printf("%s%s/.build-id/%.2s/%s.debug", root, img->opts->debug_root, hex, hex + 2);
	dbg = elf_image_try_debug(img, path, root[0] == '\0', 0, 0);
	free(path);
	free(hex);
	return dbg;
}

/* The lookup order of the header comment: build-id, then the debuglink's three places. */
static struct elf_image *elf_image_find_debug(struct elf_image *img)
{
	struct elf_image *dbg = NULL;
	const char *name, *slash;
	char *dir = NULL;
	uint32_t crc;

	if (img->build_id_len >= 2) {
		dbg = elf_image_try_build_id(img, img->root);
		if (dbg == NULL && img->root[0] != '\0')
			dbg = elf_image_try_build_id(img, "");
		if (dbg != NULL)
			return dbg;
	}
	slash = strrchr(img->path, '/');
	if (img->path[0] != '/' || slash == NULL || elf_image_debuglink(img, &name, &crc) != 0)
		return NULL;
	dir = mem_strndup(img->path, (size_t)(slash - img->path));
	for (int i = 0; i < 3 && dbg == NULL; i++) {
		char *path = i == 0 ? mem_printf("%s%s/%s", img->root, dir, name) :
			     i == 1 ? mem_printf("%s%s/.debug/%s", img->root, dir, name) :
				      mem_printf("%s%s%s/%s", img->root, img->opts->debug_root, dir,
						 name);

		/* Only the host's debug directory (i == 2, no root) is trusted with links. */
		dbg = elf_image_try_debug(img, path, i == 2 && img->root[0] == '\0', 1, crc);
		free(path);
	}
	free(dir);
	return dbg;
}

/* Looks once; debug images themselves have no debug files. */
struct elf_image *elf_image_debug_file(struct elf_image *img)
{
	if (img->debug_state == ELF_IMAGE_UNKNOWN && !img->is_debug) {
		img->debug = elf_image_find_debug(img);
		img->debug_state = ELF_IMAGE_DONE;
	}
	return img->debug;
}

/*
 * The size an xz stream says it inflates to, from its index (at the end,
 * before the 12-byte stream footer), without inflating it: a bomb is then
 * refused at once instead of after seconds of work.  -1 when the stream
 * does not parse that way (several streams, padding): inflating will tell.
 */
static int elf_image_xz_size(const uint8_t *in, size_t size, uint64_t *out)
{
	lzma_stream_flags flags;
	lzma_index *idx = NULL;
	uint64_t memlimit = ELF_IMAGE_MINI_MEMLIMIT;
	size_t pos;

	if (size < 2 * LZMA_STREAM_HEADER_SIZE ||
	    lzma_stream_footer_decode(&flags, in + size - LZMA_STREAM_HEADER_SIZE) != LZMA_OK ||
	    flags.backward_size > size - 2 * LZMA_STREAM_HEADER_SIZE)
		return -1;
	pos = size - LZMA_STREAM_HEADER_SIZE - (size_t)flags.backward_size;
	if (lzma_index_buffer_decode(&idx, &memlimit, NULL, in, &pos,
				     size - LZMA_STREAM_HEADER_SIZE) != LZMA_OK)
		return -1;
	*out = lzma_index_uncompressed_size(idx);
	lzma_index_end(idx, NULL);
	return 0;
}

/*
 * Inflates an xz stream into a buffer that grows by doubling, up to limit
 * bytes.  Returns the buffer (malloc'd) or NULL; errno-free err with
 * EFBIG in errnum when the limit refused it.
 */
static uint8_t *elf_image_unxz(const uint8_t *in, size_t in_size, size_t limit, size_t *out_size,
			       struct error *err)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	uint8_t *out = NULL;
	size_t cap = in_size * 4 < 65536 ? 65536 : in_size * 4;
	uint64_t declared;
	lzma_ret ret;

	if (elf_image_xz_size(in, in_size, &declared) == 0 && declared > limit) {
		error_set(err, EFBIG, "xz data: would inflate to %llu bytes, over the %zu allowed",
			  (unsigned long long)declared, limit);
		return NULL;
	}
	if (lzma_stream_decoder(&strm, ELF_IMAGE_MINI_MEMLIMIT, 0) != LZMA_OK) {
		error_set(err, 0, "liblzma: cannot start a decoder");
		return NULL;
	}
	if (cap > limit)
		cap = limit;
	out = mem_alloc(cap > 0 ? cap : 1);
	strm.next_in = in;
	strm.avail_in = in_size;
	strm.next_out = out;
	strm.avail_out = cap;
	for (;;) {
		ret = lzma_code(&strm, LZMA_FINISH);
		if (ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK && ret != LZMA_BUF_ERROR) {
			error_set(err, 0, "xz data: error %d", (int)ret);
			goto fail;
		}
		if (strm.avail_out > 0) {
			/* No progress possible with output room left: the input ended early. */
			error_set(err, 0, "xz data: truncated");
			goto fail;
		}
		if (cap >= limit) {
			error_set(err, EFBIG, "xz data: inflates beyond the %zu bytes allowed", limit);
			goto fail;
		}
		cap = cap * 2 > limit ? limit : cap * 2;
		out = mem_realloc(out, cap);
		strm.next_out = out + strm.total_out;
		strm.avail_out = cap - (size_t)strm.total_out;
	}
	*out_size = (size_t)strm.total_out;
	lzma_end(&strm);
	return out;
fail:
	lzma_end(&strm);
	free(out);
	return NULL;
}

/*
 * Inflates .gnu_debugdata and opens it as an image of its own, within the
 * per-file cap and what is left of the cache's total; what is refused is
 * counted and said once.
 */
static struct elf_image *elf_image_load_mini(struct elf_image *img)
{
	struct elf_image *mini = NULL;
	const uint8_t *data;
	struct error err;
	uint64_t vaddr;
	size_t size, out_size = 0, limit = ELF_IMAGE_MINI_MAX;
	uint8_t *out;
	char *name;

	if (elf_image_section(img, ".gnu_debugdata", &vaddr, &data, &size) != 0)
		return NULL;
	if (img->usage != NULL && img->usage->mini_cap - img->usage->mini_bytes < limit)
		limit = (size_t)(img->usage->mini_cap - img->usage->mini_bytes);
	error_clear(&err);
	out = elf_image_unxz(data, size, limit, &out_size, &err);
	if (out == NULL) {
		if (err.errnum == EFBIG) {
			log_info("%s: MiniDebugInfo not read: %s (caps: %u MiB a file, %llu MiB "
				 "in all)", img->path, err.msg, ELF_IMAGE_MINI_MAX >> 20,
				 (unsigned long long)(ELF_IMAGE_MINI_TOTAL >> 20));
			if (img->usage != NULL)
				img->usage->mini_refused++;
		} else {
			log_debug("%s: .gnu_debugdata: %s", img->path, err.msg);
		}
		return NULL;
	}
	name = mem_printf("%s:.gnu_debugdata", img->path);
	mini = elf_image_build(name, out, out_size, 0, &err);
	if (mini == NULL) {
		log_debug("%s", err.msg);
	} else if (mini->is_64 != img->is_64 || mini->machine != img->machine) {
		log_debug("%s: class or machine differs from the file's", name);
		elf_image_free(mini);
		mini = NULL;
	} else {
		mini->is_debug = 1;
		mini->opts = img->opts;
		mini->usage = img->usage;
		if (img->usage != NULL)
			img->usage->mini_bytes += out_size;
	}
	free(name);
	return mini;
}

/* Inflates once; the answer, found or not, is kept. */
struct elf_image *elf_image_mini_debug(struct elf_image *img)
{
	if (img->mini_state == ELF_IMAGE_UNKNOWN && !img->is_debug) {
		img->mini = elf_image_load_mini(img);
		img->mini_state = ELF_IMAGE_DONE;
	}
	return img->mini;
}

/*
 * Opens DWARF once: the file's own when it has .debug_info, else its debug
 * file's.  libdw only reads sections here; the line tables and DIEs it
 * needs later are parsed on demand and kept until dwarf_end.
 */
struct Dwarf *elf_image_dwarf(struct elf_image *img)
{
	struct elf_image *from = NULL;

	if (img->dwarf_state != ELF_IMAGE_UNKNOWN)
		return img->dwarf;
	img->dwarf_state = ELF_IMAGE_DONE;
	if (elf_image_has_dwarf(img))
		from = img;
	else if (elf_image_debug_file(img) != NULL && elf_image_has_dwarf(img->debug))
		from = img->debug;
	if (from == NULL)
		return NULL;
	/* Copy-on-write pages for libdw's in-place edits (see the header); never the file. */
	if (from->mapped && mprotect(from->data, from->size, PROT_READ | PROT_WRITE) != 0) {
		log_debug("%s: DWARF: mprotect: %s", from->path, strerror(errno));
		return NULL;
	}
	img->dwarf = dwarf_begin_elf(from->elf, DWARF_C_READ, NULL);
	if (img->dwarf == NULL)
		log_debug("%s: DWARF: %s", from->path, dwarf_errmsg(-1));
	return img->dwarf;
}
