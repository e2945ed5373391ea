/* thin.c's kernels again, in 16-float AVX-512 vectors, for thin layers
 * whose wide side is a whole number of them (D's stem to 32 outputs, G's
 * head from 16 inputs): each instruction does twice the work of the 8-float
 * build, which ran D's stem at 90 % of what 8-float FMAs allow. Layers of 8
 * or 24 keep the 8-float build (conv.c asks gn__thin16_fits first). */
#ifdef __AVX512F__
#define VW 16
#define THIN(name) gn__thin16_##name
#include "thin.c"
#else
#include "glyphnet.h"

/* Without AVX-512 no layer fits, and the rest are never called. */
int gn__thin16_fits(const int *g, int pass) {
  (void)g, (void)pass;
  return 0;
}

void gn__thin16_fwd(const float *x, const float *w, float *y, const int *g, float *scratch) {
  (void)x, (void)w, (void)y, (void)g, (void)scratch;
  abort();
}

void gn__thin16_bwd_input(const float *dy, const float *w, float *dx, const int *g,
                          float *scratch) {
  (void)dy, (void)w, (void)dx, (void)g, (void)scratch;
  abort();
}

void gn__thin16_bwd_filter(const float *x, const float *dy, float *dw, const int *g,
                           float *scratch) {
  (void)x, (void)dy, (void)dw, (void)g, (void)scratch;
  abort();
}
#endif
