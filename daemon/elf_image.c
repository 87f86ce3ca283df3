#include <sys/mman.h>
#include <sys/stat.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_image.h"
#include "log.h"
#include "mem.h"
#include "symtab.h"

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
	int is_64;
	struct elf_load *loads;
	size_t nloads;
	struct elf_image_shdr *shdrs;
	size_t nshdrs;
	const uint8_t *build_id;
	size_t build_id_len;
	struct symtab *symtab;		/* loaded by elf_image_symtab */
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

/* Records the PT_LOAD segments; a broken program header table leaves none. */
static void elf_image_read_loads(struct elf_image *img)
{
	size_t phnum, cap = 0;

	if (elf_getphdrnum(img->elf, &phnum) != 0)
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(img->elf, (int)i, &ph) == NULL)
			break;
		if (ph.p_type != PT_LOAD)
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
	symtab_free(img->symtab);
	if (img->elf != NULL)
		elf_end(img->elf);
	if (img->mapped)
		munmap(img->data, img->size);
	else
		free(img->data);
	free(img->loads);
	free(img->shdrs);
	free(img->path);
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

/* Loads symbols on first use: most mapped files never appear in a sample. */
const struct symtab *elf_image_symtab(struct elf_image *img)
{
	if (img->symtab == NULL)
		img->symtab = symtab_load(img);
	return img->symtab;
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
