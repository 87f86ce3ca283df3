#ifndef SAMPLED_RENDER_FLAME_H
#define SAMPLED_RENDER_FLAME_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/*
 * A flame graph as one standalone SVG file (samplectl flame): no scripts,
 * so it opens anywhere an image does.  The bottom bar ("all") is every
 * sample; each node is a bar as wide as its total, above its parent (or
 * below it with icicle), children left to right in the view's order
 * (largest first).  Every bar carries a <title>, shown as a tooltip on
 * hover: name, module or file:line, samples, share of all and, when the
 * rate is known, seconds.  Labels are cut to what fits the bar ("..");
 * bars narrower than min_width pixels are left out with what they hold
 * (their parent's bar spans their place).  Colours: warm hues for native
 * code, green for Python, orange for the kernel, blue for threads, grey
 * for collapsed groups; the hue is a hash of the name, so the same
 * function has the same colour in every graph; the fill hook below
 * replaces all that.
 */

struct render_flame_options {
	unsigned width;			/* pixels; 0: 1200 */
	int icicle;			/* roots at the top, growing down */
	const char *title;		/* NULL: "Flame graph" */
	uint32_t rate_hz;		/* 0: no seconds in the tooltips */
	double min_width;		/* pixels; 0: 0.1 */
	/*
	 * Hooks for another colouring (a differential flame graph, diff.h);
	 * NULL: none.  fill gives a bar's colour as 0xRRGGBB instead of the
	 * colour by kind; note writes text (escaped here) that ends the bar's
	 * tooltip after "; ".  Both get arg.
	 */
	uint32_t (*fill)(const struct view_node *n, void *arg);
	void (*note)(const struct view_node *n, void *arg, char *buf, size_t size);
	void *arg;
};

/* Writes the SVG; -1 with err if out fails. */
int render_flame(FILE *out, const struct view *v, const struct render_flame_options *o,
		 struct error *err);

#endif
