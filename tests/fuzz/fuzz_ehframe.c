/*
 * libFuzzer harness for the unwind tables: the .eh_frame_hdr binary search
 * table and the .eh_frame CIEs and FDEs, as the unwinder (unwind.c, which
 * parses the header and hands the search to libunwind) and the symbol
 * tables' function-start fallback (symtab.c, which walks the FDEs itself)
 * read them.
 *
 * The input is not an ELF file but the parts that matter, so that
 * mutations land in the tables rather than in ELF headers:
 *
 *   struct fuzz_layout (below, little-endian), then text_len bytes of
 *   code, hdr_len bytes of .eh_frame_hdr, frame_len bytes of .eh_frame,
 *   and the rest: a copy of the stack at SP.
 *
 * The harness wraps them in a minimal ELF (each section at its own
 * address, with a PT_LOAD apiece), writes it to a file and maps its code
 * at FUZZ_TEXT_MAP of a pretend target, the way the daemon reaches a
 * target's files; the stack lies at FUZZ_STACK_SP.  Then it unwinds one
 * sample with IP in the code twice (cold, then with warm caches: the same
 * answer both times), symbolizes every frame and asks for function starts
 * across the code.  make-ehframe-seeds.py cuts seeds out of real binaries,
 * with the same two addresses.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "unwind/unwind.h"

/* Where the code is mapped and SP points; make-ehframe-seeds.py uses the same. */
#define FUZZ_TEXT_MAP 0x10000000000ULL
#define FUZZ_STACK_MAP 0x7ff000000000ULL
#define FUZZ_STACK_MAP_LEN 0x100000ULL
#define FUZZ_STACK_SP (FUZZ_STACK_MAP + FUZZ_STACK_MAP_LEN / 2)
/* File offset of the code in the ELF built around it (page aligned, as mmap wants). */
#define FUZZ_TEXT_OFF 4096u
#define FUZZ_MAX_FRAMES 64
/* Addresses across the code whose function start is asked for. */
#define FUZZ_STARTS 16

/* The head of an input. */
struct fuzz_layout {
	uint64_t text_vaddr, hdr_vaddr, frame_vaddr;
	uint32_t text_len, hdr_len, frame_len;
	uint32_t ip_off;	/* IP = code start + ip_off % text_len */
	uint32_t bp_off;	/* RBP = SP + bp_off */
	uint32_t depth;		/* frames asked for: 1 + depth % FUZZ_MAX_FRAMES */
};
_Static_assert(sizeof(struct fuzz_layout) == 48, "make-ehframe-seeds.py packs 48 bytes");

/* An input cut into its parts; the byte pointers point into the input. */
struct fuzz_parts {
	struct fuzz_layout l;
	const uint8_t *text, *hdr, *frame, *stack;
	size_t stack_len;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run on a broken promise, so libFuzzer keeps the input. */
static void fuzz_check(int ok, const char *what, uint64_t addr)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_ehframe: %s at %#llx\n", what, (unsigned long long)addr);
	abort();
}

/* Takes up to *len bytes off the front of the input, fewer when it runs out. */
static const uint8_t *fuzz_take(const uint8_t **p, size_t *left, uint32_t *len)
{
	const uint8_t *at = *p;

	if (*len > *left)
		*len = (uint32_t)*left;
	*p += *len;
	*left -= *len;
	return at;
}

/* Cuts the input; -1 when it is too short to hold a layout. */
static int fuzz_split(const uint8_t *data, size_t size, struct fuzz_parts *parts)
{
	size_t left = size;

	if (size < sizeof(parts->l))
		return -1;
	memcpy(&parts->l, data, sizeof(parts->l));
	data += sizeof(parts->l);
	left -= sizeof(parts->l);
	parts->text = fuzz_take(&data, &left, &parts->l.text_len);
	parts->hdr = fuzz_take(&data, &left, &parts->l.hdr_len);
	parts->frame = fuzz_take(&data, &left, &parts->l.frame_len);
	parts->stack = data;
	parts->stack_len = left;
	return 0;
}

/* Rounds up to a multiple of 8. */
static size_t fuzz_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/*
 * Builds the ELF around the parts: header, three PT_LOADs, the code at
 * FUZZ_TEXT_OFF, the two tables, the section names and the section header
 * table.  Returns malloc'd bytes.
 */
static uint8_t *fuzz_build_elf(const struct fuzz_parts *p, size_t *size)
{
	static const char names[] = "\0.text\0.eh_frame_hdr\0.eh_frame\0.shstrtab";
	size_t hdr_off = fuzz_align8(FUZZ_TEXT_OFF + p->l.text_len);
	size_t frame_off = fuzz_align8(hdr_off + p->l.hdr_len);
	size_t names_off = fuzz_align8(frame_off + p->l.frame_len);
	size_t sh_off = fuzz_align8(names_off + sizeof(names));
	uint8_t *buf;
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[3];
	Elf64_Shdr sh[5];

	*size = sh_off + sizeof(sh);
	buf = calloc(1, *size);
	if (buf == NULL)
		abort();
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_shoff = sh_off;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph[0]);
	eh.e_phnum = 3;
	eh.e_shentsize = sizeof(sh[0]);
	eh.e_shnum = 5;
	eh.e_shstrndx = 4;
	memcpy(buf, &eh, sizeof(eh));

	ph[0] = (Elf64_Phdr){ PT_LOAD, PF_R | PF_X, FUZZ_TEXT_OFF, p->l.text_vaddr,
			      p->l.text_vaddr, p->l.text_len, p->l.text_len, 4096 };
	ph[1] = (Elf64_Phdr){ PT_LOAD, PF_R, hdr_off, p->l.hdr_vaddr, p->l.hdr_vaddr,
			      p->l.hdr_len, p->l.hdr_len, 4 };
	ph[2] = (Elf64_Phdr){ PT_LOAD, PF_R, frame_off, p->l.frame_vaddr, p->l.frame_vaddr,
			      p->l.frame_len, p->l.frame_len, 8 };
	memcpy(buf + sizeof(eh), ph, sizeof(ph));

	memset(sh, 0, sizeof(sh));
	sh[1] = (Elf64_Shdr){ 1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, p->l.text_vaddr,
			      FUZZ_TEXT_OFF, p->l.text_len, 0, 0, 16, 0 };
	sh[2] = (Elf64_Shdr){ 7, SHT_PROGBITS, SHF_ALLOC, p->l.hdr_vaddr, hdr_off, p->l.hdr_len,
			      0, 0, 4, 0 };
	sh[3] = (Elf64_Shdr){ 21, SHT_PROGBITS, SHF_ALLOC, p->l.frame_vaddr, frame_off,
			      p->l.frame_len, 0, 0, 8, 0 };
	sh[4] = (Elf64_Shdr){ 31, SHT_STRTAB, 0, 0, names_off, sizeof(names), 0, 0, 1, 0 };
	memcpy(buf + sh_off, sh, sizeof(sh));

	memcpy(buf + FUZZ_TEXT_OFF, p->text, p->l.text_len);
	memcpy(buf + hdr_off, p->hdr, p->l.hdr_len);
	memcpy(buf + frame_off, p->frame, p->l.frame_len);
	memcpy(buf + names_off, names, sizeof(names));
	return buf;
}

/* Replaces the input file's contents with the file built. */
static void fuzz_write_file(int fd, const uint8_t *buf, size_t size)
{
	size_t done = 0;

	if (ftruncate(fd, 0) != 0)
		abort();
	while (done < size) {
		ssize_t n = pwrite(fd, buf + done, size - done, (off_t)done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
}

/* True when addr lies in an executable mapping of maps. */
static int fuzz_is_code(const struct maps *maps, uint64_t addr)
{
	const struct maps_entry *e = maps_find(maps, addr);

	return e != NULL && (e->prot & MAPS_PROT_EXEC) != 0;
}

/*
 * Checks one unwind's answer: the sampled IP first, within max frames, a
 * known end, every caller a call site (one byte before a return address
 * into code, or the exact IP after a signal frame), and every frame
 * symbolizes to some module.
 */
static void fuzz_check_frames(const struct maps *maps, const uint64_t *pcs, size_t n, size_t max,
			      enum unwind_end end, uint64_t ip)
{
	fuzz_check(n >= 1 && n <= max && pcs[0] == ip, "frame count or first frame", n);
	fuzz_check(end == UNWIND_END_ROOT || end == UNWIND_END_TRUNCATED ||
		   end == UNWIND_END_FAILED || end == UNWIND_END_DEPTH, "end reason", end);
	for (size_t i = 0; i < n; i++) {
		struct resolve_result r;

		fuzz_check(i == 0 || fuzz_is_code(maps, pcs[i]) || fuzz_is_code(maps, pcs[i] + 1),
			   "frame outside code", pcs[i]);
		(void)resolve_addr(maps, pcs[i], &r);
		fuzz_check(r.module != NULL, "frame without a module", pcs[i]);
	}
}

/*
 * Unwinds the sample twice: cold, then with the unwinder's caches (and
 * libunwind's rule cache) warm.  Both answers must be sound and the same:
 * an answer that changes means something read memory it should not have
 * (as libunwind did on CFI naming registers past its array, which now
 * never reaches it).
 */
static void fuzz_unwind(struct maps *maps, const struct fuzz_parts *p)
{
	uint64_t pcs[FUZZ_MAX_FRAMES], first[FUZZ_MAX_FRAMES];
	struct unwind_sample s = { 0 };
	size_t n, n_first = 0, max = 1 + p->l.depth % FUZZ_MAX_FRAMES;
	enum unwind_end end, end_first = UNWIND_END_DEPTH;
	struct unwinder *u;
	struct error err;

	u = unwind_new(maps, &err);
	if (u == NULL)
		abort();
	s.regs[REGS_IP] = FUZZ_TEXT_MAP + p->l.ip_off % p->l.text_len;
	s.regs[REGS_SP] = FUZZ_STACK_SP;
	s.regs[REGS_BP] = FUZZ_STACK_SP + p->l.bp_off;
	s.stack = p->stack;
	s.stack_len = p->stack_len;
	for (int round = 0; round < 2; round++) {
		n = unwind_stack(u, &s, pcs, max, &end);
		fuzz_check_frames(maps, pcs, n, max, end, s.regs[REGS_IP]);
		if (round == 0) {
			memcpy(first, pcs, n * sizeof(pcs[0]));
			n_first = n;
			end_first = end;
		}
	}
	fuzz_check(n == n_first && end == end_first && memcmp(first, pcs, n * sizeof(pcs[0])) == 0,
		   "a second unwind differs", n);
	unwind_free(u);
}

/* The FDE fallback of the symbol table, across the code. */
static void fuzz_starts(struct elf_image *img, const struct fuzz_parts *p)
{
	const struct symtab *tab = symtab_get(img);
	uint64_t start;

	(void)symtab_fde_count(tab);
	for (unsigned i = 0; i < FUZZ_STARTS; i++) {
		uint64_t vaddr = p->l.text_vaddr + (uint64_t)p->l.text_len * i / FUZZ_STARTS;

		if (symtab_function_start(tab, vaddr, &start) == 0)
			fuzz_check(start <= vaddr, "function starting after the address", vaddr);
	}
}

/* The input file and its directory: the harness's only state beyond one input. */
static char fuzz_dir[] = "/tmp/fuzz_ehframe.XXXXXX";
static char fuzz_path[64];

static void fuzz_remove_input(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
}

/* The log goes nowhere, but every message is still formatted. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *sink = fopen("/dev/null", "we");

	(void)argc;
	(void)argv;
	log_init(sink != NULL ? sink : stderr, sink != NULL ? LOG_DEBUG : LOG_ERROR);
	return 0;
}

/*
 * One input.  A fresh cache and model each time: images are cached by
 * inode, and the file keeps its inode from one input to the next.  A
 * regular file in a directory of our own, not a memfd: the daemon opens a
 * mapping's path without following links, as a target could plant them.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct fuzz_parts parts;
	struct elf_cache *cache;
	struct maps *maps;
	const struct maps_entry *e;
	struct stat st;
	uint8_t *elf;
	size_t elf_size;

	if (fuzz_split(data, size, &parts) < 0 || parts.l.text_len == 0)
		return 0;
	/* One file for the whole run, removed at its end. */
	if (fd < 0) {
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
		snprintf(fuzz_path, sizeof(fuzz_path), "%s/input.elf", fuzz_dir);
		fd = open(fuzz_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			abort();
		atexit(fuzz_remove_input);
	}
	elf = fuzz_build_elf(&parts, &elf_size);
	fuzz_write_file(fd, elf, elf_size);
	free(elf);
	if (fstat(fd, &st) != 0)
		abort();

	cache = elf_cache_new();
	elf_cache_set_debug_root(cache, "/nonexistent");
	maps = maps_new(getpid(), cache);
	maps_add(maps, FUZZ_TEXT_MAP, ((uint64_t)parts.l.text_len + 4095) & ~4095ULL, FUZZ_TEXT_OFF,
		 st.st_dev, st.st_ino, MAPS_PROT_READ | MAPS_PROT_EXEC, fuzz_path);
	maps_add(maps, FUZZ_STACK_MAP, FUZZ_STACK_MAP_LEN, 0, 0, 0,
		 MAPS_PROT_READ | MAPS_PROT_WRITE, "[stack]");
	e = maps_find(maps, FUZZ_TEXT_MAP);
	fuzz_check(e != NULL && e->image != NULL, "the built file did not open", FUZZ_TEXT_MAP);
	fuzz_unwind(maps, &parts);
	fuzz_starts(e->image, &parts);
	maps_free(maps);
	elf_cache_free(cache);
	return 0;
}
