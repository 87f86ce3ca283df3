#ifndef SAMPLED_HTML_ASSETS_H
#define SAMPLED_HTML_ASSETS_H

/*
 * The HTML page's assets, compiled in so that samplectl needs no files at
 * run time: cli/html/embed.sh turns page.html, app.js and style.css into
 * a generated C file (build/gen/html_assets.c) that defines these
 * NUL-terminated arrays.  Only render_html.c reads them.
 */

/* page.html: the page, with @@TITLE@@, @@STYLE@@, @@SCRIPT@@ and @@DATA@@ where the rest goes. */
extern const char render_html_template[];
/* app.js: the script; holds no "</script" so it can sit inline. */
extern const char render_html_app_js[];
/* style.css: the style sheet; holds no "</style". */
extern const char render_html_style_css[];

#endif
