#ifndef SAMPLED_VERSION_H
#define SAMPLED_VERSION_H

/* The release of sampled and samplectl, shown by --version and in hello. */
#define SAMPLED_VERSION "0.1.0"

#endif
