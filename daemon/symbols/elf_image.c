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

#include "elf_image.h"
#include "log.h"
#include "mem.h"

/* Where separate debug files live unless the cache is told otherwise. */
#define ELF_IMAGE_DEBUG_ROOT "/usr/lib/debug"
/* An inflated .gnu_debugdata larger than this is refused (a decompression bomb). */
#define ELF_IMAGE_MINI_MAX (256u << 20)
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
 */
static struct elf_image *elf_image_open_file(const char *open_path, const char *display_path,
					     uint64_t want_ino, int *content_failed,
					     struct error *err)
{
	struct elf_image *img = NULL;
	void *data = MAP_FAILED;
	struct stat st;
	int fd;

	*content_failed = 0;
	fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
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

	return elf_image_open_file(path, path, 0, &content_failed, err);
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
 * The root a file was reached through, for finding its debug files in the
 * same filesystem: what open_path adds in front of display_path, or the
 * target's root for a map_files path (which names no directory).
 */
static char *elf_cache_root_of(const char *open_path, const char *display_path)
{
	size_t lo = strlen(open_path), ld = strlen(display_path);
	const char *p;

	if (display_path[0] == '/' && lo > ld && strcmp(open_path + lo - ld, display_path) == 0)
		return mem_strndup(open_path, lo - ld);
	if (strncmp(open_path, "/proc/", 6) == 0) {
		p = open_path + 6;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p > open_path + 6 && strncmp(p, "/map_files/", 11) == 0)
			return mem_printf("%.*s/root", (int)(p - open_path), open_path);
	}
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
	if (e != NULL && e->image != NULL)
		return e->image;
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
	}
	e->image = elf_image_open_file(open_path, display_path, ino, &content_failed, &e->failure);
	free(e->failed_path);
	e->failed_path = NULL;
	if (e->image != NULL) {
		e->image->opts = &cache->opts;
		free(e->image->root);
		e->image->root = elf_cache_root_of(open_path, display_path);
		cache->nimages++;
		return e->image;
	}
	/* Logged once here: later calls are answered from the entry. */
	log_debug("no symbols for %s: %s", display_path, e->failure.msg);
	e->content_failed = content_failed;
	e->failed_path = mem_strdup(open_path);
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

/* zlib's CRC-32 (reflected 0xedb88320), which .gnu_debuglink uses. */
static const uint32_t elf_image_crc_table[256] = {
	0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f,
	0xe963a535, 0x9e6495a3, 0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
	0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91, 0x1db71064, 0x6ab020f2,
	0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
	0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9,
	0xfa0f3d63, 0x8d080df5, 0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
	0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b, 0x35b5a8fa, 0x42b2986c,
	0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
	0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423,
	0xcfba9599, 0xb8bda50f, 0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
	0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d, 0x76dc4190, 0x01db7106,
	0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
	0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d,
	0x91646c97, 0xe6635c01, 0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
	0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457, 0x65b0d9c6, 0x12b7e950,
	0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
	0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7,
	0xa4d1c46d, 0xd3d6f4fb, 0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
	0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9, 0x5005713c, 0x270241aa,
	0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
	0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81,
	0xb7bd5c3b, 0xc0ba6cad, 0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
	0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683, 0xe3630b12, 0x94643b84,
	0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
	0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb,
	0x196c3671, 0x6e6b06e7, 0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
	0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5, 0xd6d6a3e8, 0xa1d1937e,
	0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
	0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55,
	0x316e8eef, 0x4669be79, 0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
	0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f, 0xc5ba3bbe, 0xb2bd0b28,
	0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
	0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f,
	0x72076785, 0x05005713, 0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
	0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21, 0x86d3d2d4, 0xf1d4e242,
	0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
	0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69,
	0x616bffd3, 0x166ccf45, 0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
	0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db, 0xaed16a4a, 0xd9d65adc,
	0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
	0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693,
	0x54de5729, 0x23d967bf, 0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
	0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

/* Byte at a time: run once per candidate debug file, not per sample. */
uint32_t elf_image_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = elf_image_crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
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
					     int want_crc, uint32_t crc)
{
	struct elf_image *dbg;
	struct error err;
	int content_failed;
	size_t len;

	dbg = elf_image_open_file(path, path, 0, &content_failed, &err);
	if (dbg == NULL) {
		if (err.errnum != ENOENT && err.errnum != ENOTDIR)
			log_debug("debug file for %s: %s", img->path, err.msg);
		return NULL;
	}
	dbg->is_debug = 1;
	dbg->opts = img->opts;
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

/* Tries the build-id path under one root. */
static struct elf_image *elf_image_try_build_id(struct elf_image *img, const char *root)
{
	struct elf_image *dbg;
	char *hex = mem_alloc(img->build_id_len * 2 + 1), *path;

	for (size_t i = 0; i < img->build_id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", img->build_id[i]);
	path = mem_printf("%s%s/.build-id/%.2s/%s.debug", root, img->opts->debug_root, hex, hex + 2);
	dbg = elf_image_try_debug(img, path, 0, 0);
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

		dbg = elf_image_try_debug(img, path, 1, crc);
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
 * Inflates an xz stream into a buffer that grows by doubling, up to
 * ELF_IMAGE_MINI_MAX.  Returns the buffer (malloc'd) or NULL.
 */
static uint8_t *elf_image_unxz(const uint8_t *in, size_t in_size, size_t *out_size,
			       struct error *err)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	uint8_t *out = NULL;
	size_t cap = in_size * 4 < 65536 ? 65536 : in_size * 4;
	lzma_ret ret;

	if (lzma_stream_decoder(&strm, ELF_IMAGE_MINI_MEMLIMIT, 0) != LZMA_OK) {
		error_set(err, 0, "liblzma: cannot start a decoder");
		return NULL;
	}
	if (cap > ELF_IMAGE_MINI_MAX)
		cap = ELF_IMAGE_MINI_MAX;
	out = mem_alloc(cap);
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
		if (cap >= ELF_IMAGE_MINI_MAX) {
			error_set(err, 0, "xz data: inflates beyond %u MiB", ELF_IMAGE_MINI_MAX >> 20);
			goto fail;
		}
		cap = cap * 2 > ELF_IMAGE_MINI_MAX ? ELF_IMAGE_MINI_MAX : cap * 2;
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

/* Inflates .gnu_debugdata and opens it as an image of its own. */
static struct elf_image *elf_image_load_mini(struct elf_image *img)
{
	struct elf_image *mini = NULL;
	const uint8_t *data;
	struct error err;
	uint64_t vaddr;
	size_t size, out_size = 0;
	uint8_t *out;
	char *name;

	if (elf_image_section(img, ".gnu_debugdata", &vaddr, &data, &size) != 0)
		return NULL;
	out = elf_image_unxz(data, size, &out_size, &err);
	if (out == NULL) {
		log_debug("%s: .gnu_debugdata: %s", img->path, err.msg);
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
