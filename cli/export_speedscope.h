#ifndef SAMPLED_EXPORT_SPEEDSCOPE_H
#define SAMPLED_EXPORT_SPEEDSCOPE_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/*
 * speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * shared.frames lists the view's frames ({name, file, line}; file is the
 * source file, else the module), and each profile is of type "sampled"
 * with one entry per unique stack: samples[i] the frame indexes root
 * first, weights[i] its self samples (in seconds when the rate is known,
 * unit "seconds", else counts with unit "none").  A merged view gives one
 * profile; a per-thread view one profile per thread, named after it, whose
 * stacks start below the thread's root.  Samples with no frame are an
 * empty stack with their weight, so the weights add up to all samples (of
 * a view that view_prune did not cut: cut samples are not in the file).
 * endValue is the sum of the weights.  Strings are JSON-escaped, invalid
 * UTF-8 replaced.
 */

struct export_speedscope_meta {
	const char *name;		/* the file's and the merged profile's name; NULL: "sampled" */
	uint32_t rate_hz;		/* 0: weights are sample counts */
};

/* Writes the view as speedscope JSON; -1 with err if out fails. */
int export_speedscope(FILE *out, const struct view *v, const struct export_speedscope_meta *m,
		      struct error *err);

#endif
