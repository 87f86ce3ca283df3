#ifndef SAMPLED_DUMP_TEXT_H
#define SAMPLED_DUMP_TEXT_H

#include <stdio.h>

#include "sampled.pb-c.h"

/*
 * A dump as text, for `samplectl dump` and `sampled dump`: per thread a
 * heading (tid, name, state, the system call it waits in), then its frames
 * innermost first, each "function (file:line) [module]".
 */
void dump_text_print(FILE *out, const Sampled__Dump *d);

#endif
