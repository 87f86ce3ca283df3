/*
 * A shared library for tests/targets/dlburn: exported entries that burn
 * CPU in static leaves, so a profile of it holds names from .dynsym (the
 * entries, which the dynamic loader also sees) and from .symtab only (the
 * leaves).  dlburn calls burnlib_NAME_burn (-> burnlib_NAME_core) first
 * and burnlib_NAME_late (-> burnlib_NAME_late_core) once told to switch.
 * Built once per test variant with -DBURNLIB_VARIANT=NAME, which puts
 * NAME in every function name: then
 * a frame names the copy it came from even when several copies of this
 * library are loaded at once.
 *
 * The non-allocated padding section puts .symtab, .strtab and the section
 * headers two pages or more past the last byte the loader maps, so a test
 * can cut that tail off the file while the library runs (the process never
 * touches it) and see how a profiler that mapped the whole file copes.
 *
 * cc -shared -fPIC -O2 -fomit-frame-pointer -g -DBURNLIB_VARIANT=x -o libx.so burnlib.c
 */
#ifndef BURNLIB_VARIANT
#define BURNLIB_VARIANT plain
#endif
#define BURNLIB_CAT2(a, b, c) a##b##c
#define BURNLIB_CAT(a, b, c) BURNLIB_CAT2(a, b, c)
#define BURNLIB_FN(suffix) BURNLIB_CAT(burnlib_, BURNLIB_VARIANT, suffix)

__asm__(".section .burnlib_pad,\"\",@progbits\n\t.fill 12288,1,0x5a\n\t.previous");

unsigned long BURNLIB_FN(_burn)(unsigned long n, unsigned long seed);
unsigned long BURNLIB_FN(_late)(unsigned long n, unsigned long seed);

/* The leaf that takes the time: a static function, named only in .symtab. */
static __attribute__((noinline)) unsigned long BURNLIB_FN(_core)(unsigned long n,
								 unsigned long x)
{
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

/* The exported entry: a frame of its own above the leaf. */
unsigned long BURNLIB_FN(_burn)(unsigned long n, unsigned long seed)
{
	unsigned long x = BURNLIB_FN(_core)(n, seed);

	__asm__ volatile("" : "+r"(x));
	return x ^ n;
}

/* A second leaf, run only once the caller switches to _late. */
static __attribute__((noinline)) unsigned long BURNLIB_FN(_late_core)(unsigned long n,
								      unsigned long x)
{
	for (unsigned long i = 0; i < n; i++)
		x = (x ^ (x >> 7)) * 0x9e3779b97f4a7c15ul + i;
	return x;
}

/*
 * The second entry: code the process reaches only late, so a profiler
 * meets its addresses (and looks up their names) for the first time after
 * the test has changed the file on disk.
 */
unsigned long BURNLIB_FN(_late)(unsigned long n, unsigned long seed)
{
	unsigned long x = BURNLIB_FN(_late_core)(n, seed);

	__asm__ volatile("" : "+r"(x));
	return x ^ n;
}
