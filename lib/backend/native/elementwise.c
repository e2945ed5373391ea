/* Adam, broadcasting add/sub/mul and transpose over float32 buffers, split
 * over the thread team by ranges of output elements or rows. */
#include "glyphnet.h"

/* Adam over [lo, hi): reads value, m and v and writes the *_out buffers
 * (other buffers: restrict lets gcc vectorise the loop, which it did not). */
static void adam_range(const float *restrict value, const float *restrict grad,
                       const float *restrict m, const float *restrict v,
                       float *restrict value_out, float *restrict m_out, float *restrict v_out,
                       size_t lo, size_t hi, float a, float b1, float b2, float e) {
  for (size_t i = lo; i < hi; i++) {
    const float gi = grad[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m_out[i] = mi;
    v_out[i] = vi;
    value_out[i] = value[i] - a * mi / (sqrtf(vi) + e);
  }
}

typedef struct {
  const float *value, *grad, *m, *v;
  float *value_out, *m_out, *v_out;
  int n;
  float a, b1, b2, e;
} Adam;

static void adam_part(void *p, int t, int nt) {
  const Adam *j = p;
  size_t lo, hi;
  gn__split((size_t)j->n, nt, t, &lo, &hi);
  adam_range(j->value, j->grad, j->m, j->v, j->value_out, j->m_out, j->v_out, lo, hi, j->a, j->b1,
             j->b2, j->e);
}

/**
 * One Adam step on n floats, from value, m and v into value_out, m_out and
 * v_out (new buffers: the team writes them while it reads, instead of JS
 * copying three arrays first): m' = b1·m + (1−b1)·g; v' = b2·v + (1−b2)·g²;
 * value' = value − a · m' / (sqrt(v') + e). Keras's form is
 * a = lr·sqrt(1−b2^t)/(1−b1^t), e = eps; tfjs's is the same a with
 * e = eps·sqrt(1−b2^t).
 */
void gn_adam(const float *value, const float *grad, const float *m, const float *v,
             float *value_out, float *m_out, float *v_out, int n, float a, float b1, float b2,
             float e) {
  Adam job = {value, grad, m, v, value_out, m_out, v_out, n, a, b1, b2, e};
  gn__parallel(gn__team(50.0 * n), adam_part, &job);
}

/**
 * A running average: out = m·keep + x·take over n floats, each product
 * rounded to float before the sum, as JavaScript's Math.fround computes it.
 */
void gn_moving_average(const float *m, const float *x, float *out, int n, float keep, float take) {
  for (int i = 0; i < n; i++) out[i] = m[i] * keep + x[i] * take;
}

/* out[i] = a[i % na] op b[i % nb] for i in [lo, hi). */
static void binary_range(int op, const float *a, int na, const float *b, int nb, float *out,
                         int n, size_t lo, size_t hi) {
  if (na == n && nb == n) {
    if (op == 0) for (size_t i = lo; i < hi; i++) out[i] = a[i] + b[i];
    if (op == 1) for (size_t i = lo; i < hi; i++) out[i] = a[i] - b[i];
    if (op == 2) for (size_t i = lo; i < hi; i++) out[i] = a[i] * b[i];
    if (op == 3) for (size_t i = lo; i < hi; i++) out[i] = a[i] / b[i];
    return;
  }
  if (na == 1 || nb == 1) {
    const float s = na == 1 ? a[0] : b[0];
    const float *v = na == 1 ? b : a;
    if (op == 0) for (size_t i = lo; i < hi; i++) out[i] = v[i] + s;
    if (op == 1 && nb == 1) for (size_t i = lo; i < hi; i++) out[i] = v[i] - s;
    if (op == 1 && na == 1) for (size_t i = lo; i < hi; i++) out[i] = s - v[i];
    if (op == 2) for (size_t i = lo; i < hi; i++) out[i] = v[i] * s;
    if (op == 3 && nb == 1) for (size_t i = lo; i < hi; i++) out[i] = v[i] / s;
    if (op == 3 && na == 1) for (size_t i = lo; i < hi; i++) out[i] = s / v[i];
    return;
  }
  /* One operand repeats every `len` values (a per-channel vector): whole
   * repeats only, so ranges start and end on a repeat's boundary. */
  const size_t len = (size_t)(na < nb ? na : nb);
  for (size_t base = lo - lo % len; base < hi; base += len) {
    const float *pa = na == n || (size_t)na > len ? a + (base % (size_t)na) : a;
    const float *pb = nb == n || (size_t)nb > len ? b + (base % (size_t)nb) : b;
    float *po = out + base;
    const size_t i0 = base < lo ? lo - base : 0, i1 = base + len > hi ? hi - base : len;
    if (op == 0) for (size_t i = i0; i < i1; i++) po[i] = pa[i] + pb[i];
    if (op == 1) for (size_t i = i0; i < i1; i++) po[i] = pa[i] - pb[i];
    if (op == 2) for (size_t i = i0; i < i1; i++) po[i] = pa[i] * pb[i];
    if (op == 3) for (size_t i = i0; i < i1; i++) po[i] = pa[i] / pb[i];
  }
}

typedef struct {
  int op;
  const float *a;
  int na;
  const float *b;
  int nb;
  float *out;
  int n;
} Binary;

static void binary_part(void *p, int t, int nt) {
  const Binary *j = p;
  size_t lo, hi;
  gn__split((size_t)j->n, nt, t, &lo, &hi);
  if (hi > lo) binary_range(j->op, j->a, j->na, j->b, j->nb, j->out, j->n, lo, hi);
}

/**
 * out[i] = a[i % na] op b[i % nb] for i < n, where na and nb divide n (a
 * trailing broadcast). op: 0 add, 1 subtract, 2 multiply, 3 divide.
 */
void gn_binary(int op, const float *a, int na, const float *b, int nb, float *out, int n) {
  Binary job = {op, a, na, b, nb, out, n};
  gn__parallel(gn__team(8.0 * n), binary_part, &job);
}

static inline float apply(int op, float x, float y) {
  return op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
}

/* A row with a constant op, one loop per pair of strides, so each vectorises. */
static inline void row_of(int op, const float *a, int sa, const float *b, int sb, float *o,
                          int n) {
  if (sa && sb) for (int i = 0; i < n; i++) o[i] = apply(op, a[i], b[i]);
  else if (sa) for (int i = 0; i < n; i++) o[i] = apply(op, a[i], b[0]);
  else if (sb) for (int i = 0; i < n; i++) o[i] = apply(op, a[0], b[i]);
  else for (int i = 0; i < n; i++) o[i] = apply(op, a[0], b[0]);
}

/* One row of a broadcast binary op: strides 0 (repeat) or 1 per operand. */
static void binary_row(int op, const float *a, int sa, const float *b, int sb, float *o, int n) {
  switch (op) {
  case 0: row_of(0, a, sa, b, sb, o, n); break;
  case 1: row_of(1, a, sa, b, sb, o, n); break;
  case 2: row_of(2, a, sa, b, sb, o, n); break;
  default: row_of(3, a, sa, b, sb, o, n);
  }
}

/* Index of row r in a shape's leading dimensions (all but the last), into idx. */
static void unravel(size_t r, const int *shape, int lead, int *idx) {
  for (int k = lead - 1; k >= 0; k--) {
    idx[k] = (int)(r % (size_t)shape[k]);
    r /= (size_t)shape[k];
  }
}

typedef struct {
  int op, rank, inner;
  const float *a, *b;
  float *out;
  const int *shape, *sa, *sb;
  size_t rows;
} Bcast;

static void bcast_part(void *p, int t, int nt) {
  const Bcast *j = p;
  const int rank = j->rank, inner = j->inner;
  const int *shape = j->shape, *sa = j->sa, *sb = j->sb;
  size_t lo, hi;
  gn__split(j->rows, nt, t, &lo, &hi);
  int idx[8] = {0};
  unravel(lo, shape, rank - 1, idx);
  for (size_t r = lo; r < hi; r++) {
    size_t oa = 0, ob = 0;
    for (int k = 0; k < rank - 1; k++) {
      oa += (size_t)idx[k] * sa[k];
      ob += (size_t)idx[k] * sb[k];
    }
    binary_row(j->op, j->a + oa, sa[rank - 1], j->b + ob, sb[rank - 1], j->out + r * inner, inner);
    for (int k = rank - 2; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

/**
 * General broadcasting binary op. d = [rank, out shape (rank), a strides
 * (rank), b strides (rank)], strides 0 on broadcast dimensions, rank <= 8.
 */
void gn_binary_bcast(int op, const float *a, const float *b, float *out, const int *d) {
  const int rank = d[0];
  const int *shape = d + 1, *sa = d + 1 + rank, *sb = d + 1 + 2 * rank;
  const int inner = shape[rank - 1];
  size_t rows = 1;
  for (int k = 0; k < rank - 1; k++) rows *= (size_t)shape[k];
  Bcast job = {op, rank, inner, a, b, out, shape, sa, sb, rows};
  gn__parallel(gn__team(8.0 * (double)rows * inner), bcast_part, &job);
}

/* A transpose with adjacent axes merged: shape and perm of rank <= 8. */
typedef struct {
  int rank;
  size_t shape[8];
  int perm[8];
} Perm;

/* Merges input axes that stay next to each other in the output ([B,C,H,W]
 * by [0,2,3,1] is [B,C,HW] by [0,2,1]), so loops run over whole runs. */
static Perm merged(const int *shape, const int *perm, int rank) {
  Perm p = {0, {0}, {0}};
  int first[8]; /* input axis that starts each merged axis, in output order */
  for (int k = 0; k < rank; k++) {
    if (k > 0 && perm[k] == perm[k - 1] + 1) {
      p.shape[p.rank - 1] *= (size_t)shape[perm[k]];
    } else {
      first[p.rank] = perm[k];
      p.shape[p.rank++] = (size_t)shape[perm[k]];
    }
  }
  /* Merged axis j (output order) is input axis number = its rank among the firsts. */
  for (int j = 0; j < p.rank; j++) {
    int before = 0;
    for (int i = 0; i < p.rank; i++) before += first[i] < first[j];
    p.perm[j] = before;
  }
  return p;
}

/* The walk's arrays are gn_transpose's (the parts end before it returns). */
typedef struct {
  const float *x;
  float *out;
  int rank;
  const size_t *walk_shape, *src, *dst;
  size_t inner, rows, s_in, s_out;
} Transpose;

static void transpose_part(void *p, int t, int nt) {
  const Transpose *j = p;
  const int rank = j->rank;
  const size_t *walk_shape = j->walk_shape, *src = j->src, *dst = j->dst;
  const size_t inner = j->inner, s_in = j->s_in, s_out = j->s_out;
  size_t lo, hi;
  gn__split(j->rows, nt, t, &lo, &hi);
  size_t idx[8] = {0}, r = lo;
  for (int a = rank - 2; a >= 0; a--) {
    idx[a] = r % walk_shape[a];
    r /= walk_shape[a];
  }
  for (size_t row = lo; row < hi; row++) {
    size_t oi = 0, oo = 0;
    for (int a = 0; a < rank - 1; a++) oi += idx[a] * src[a], oo += idx[a] * dst[a];
    const float *xi = j->x + oi;
    float *yo = j->out + oo;
    for (size_t i = 0; i < inner; i++) yo[i * s_out] = xi[i * s_in];
    for (int a = rank - 2; a >= 0; a--) {
      if (++idx[a] < walk_shape[a]) break;
      idx[a] = 0;
    }
  }
}

/**
 * out = transpose(x, perm). d = [rank, x shape (rank), perm (rank)], rank <= 8.
 * Runs over the input's or the output's last axis, whichever is longer (an
 * image's 3 channels made rows of 3 floats, each paying for its index math).
 */
void gn_transpose(const float *x, float *out, const int *d) {
  const Perm p = merged(d + 1, d + 1 + d[0], d[0]);
  const int rank = p.rank;
  size_t in_shape[8], in_stride[8], out_stride[8], stride = 1;
  for (int j = 0; j < rank; j++) in_shape[p.perm[j]] = p.shape[j];
  for (int a = rank - 1; a >= 0; a--) in_stride[a] = stride, stride *= in_shape[a];
  stride = 1;
  for (int j = rank - 1; j >= 0; j--) out_stride[p.perm[j]] = stride, stride *= p.shape[j];
  /* Walk the input in order (scatter) or the output in order (gather). */
  const int scatter = in_shape[rank - 1] > p.shape[rank - 1];
  size_t walk_shape[8], src[8], dst[8];
  for (int a = 0; a < rank; a++) {
    const int axis = scatter ? a : p.perm[a];
    walk_shape[a] = in_shape[axis];
    src[a] = in_stride[axis];
    dst[a] = out_stride[axis];
  }
  const size_t inner = walk_shape[rank - 1], rows = stride / inner;
  const size_t s_in = src[rank - 1], s_out = dst[rank - 1];
  Transpose job = {x, out, rank, walk_shape, src, dst, inner, rows, s_in, s_out};
  gn__parallel(gn__team(8.0 * (double)stride), transpose_part, &job);
}

/* splitmix64's finaliser: a counter-based stream, so any thread can draw any
 * index and the values do not depend on the thread count. */
static inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* log(u) for u in (0, 1]: u = m·2^e with m in [√½, √2), then the atanh
 * series in s = (m − 1)/(m + 1), |s| <= 0.172 (error ~1e-7). Branch-free,
 * so loops over it vectorise; glibc's logf does not. */
static inline float log_unit(float u) {
  int32_t bits;
  memcpy(&bits, &u, sizeof bits);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  const int32_t mbits = (bits & 0x7fffff) | 0x3f800000;
  float m;
  memcpy(&m, &mbits, sizeof m);
  const int big = m > 1.41421356f;
  m = big ? 0.5f * m : m;
  e += big;
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float p =
      GN_FMA(s2, GN_FMA(s2, GN_FMA(s2, GN_FMA(s2, 1.0f / 9, 1.0f / 7), 0.2f), 1.0f / 3), 1.0f);
  return GN_FMA((float)e, 0.693147181f, 2.0f * s * p);
}

/* sin and cos of 2π·u for u in [0, 1): the quarter turn q = ⌊4u⌋ and
 * Taylor polynomials around the middle of the quarter (|t| <= π/4, error
 * ~3e-7), rotated by q. Branch-free, as log_unit. */
static inline void sincos_turn(float u, float *sine, float *cosine) {
  const float q4 = 4.0f * u, qf = floorf(q4);
  const int q = (int)qf;
  const float t = (q4 - qf - 0.5f) * 1.57079633f, t2 = t * t;
  const float sn =
      t * GN_FMA(t2, GN_FMA(t2, GN_FMA(t2, -1.0f / 5040, 1.0f / 120), -1.0f / 6), 1.0f);
  const float cs = GN_FMA(
      t2, GN_FMA(t2, GN_FMA(t2, GN_FMA(t2, 1.0f / 40320, -1.0f / 720), 1.0f / 24), -0.5f), 1.0f);
  /* The quarter's middle is π/4 past its start. */
  const float sq = (sn + cs) * 0.707106781f, cq = (cs - sn) * 0.707106781f;
  *sine = q == 0 ? sq : q == 1 ? cq : q == 2 ? -sq : -cq;
  *cosine = q == 0 ? cq : q == 1 ? -sq : q == 2 ? -cq : sq;
}

/* Draws per block: the hashes in a scalar loop (64-bit multiplies), then
 * the arithmetic in a loop gcc vectorises. */
#define NORMAL_BLOCK 256

/* Pairs [p0, p1) of the key's stream into out[2p], out[2p + 1] (the last
 * value only when below n): Box-Muller on draw p's two uniforms. */
static void normal_pairs(uint64_t key, size_t p0, size_t p1, float mean, float sd, float *out,
                         size_t n) {
  float u1[NORMAL_BLOCK], u2[NORMAL_BLOCK], a[NORMAL_BLOCK], b[NORMAL_BLOCK];
  for (size_t p = p0; p < p1; p += NORMAL_BLOCK) {
    const int len = p1 - p < NORMAL_BLOCK ? (int)(p1 - p) : NORMAL_BLOCK;
    for (int j = 0; j < len; j++) {
      const uint64_t r = mix64(key ^ mix64(p + (size_t)j));
      u1[j] = (float)((r >> 40) + 1) * 0x1p-24f; /* (0, 1]: log stays finite */
      u2[j] = (float)((r >> 16) & 0xFFFFFF) * 0x1p-24f;
    }
    for (int j = 0; j < len; j++) {
      const float radius = sqrtf(-2.0f * log_unit(u1[j])) * sd;
      float s, c;
      sincos_turn(u2[j], &s, &c);
      a[j] = GN_FMA(radius, c, mean);
      b[j] = GN_FMA(radius, s, mean);
    }
    for (int j = 0; j < len; j++) {
      const size_t i = 2 * (p + (size_t)j);
      out[i] = a[j];
      if (i + 1 < n) out[i + 1] = b[j];
    }
  }
}

typedef struct {
  uint64_t key;
  size_t pairs, n;
  float mean, sd;
  float *out;
} Normal;

static void normal_part(void *p, int t, int nt) {
  const Normal *j = p;
  size_t lo, hi;
  gn__split(j->pairs, nt, t, &lo, &hi);
  normal_pairs(j->key, lo, hi, j->mean, j->sd, j->out, j->n);
}

/**
 * out[0..n) = normal draws (mean, sd) from the stream `seed` names: the same
 * seed and n give the same values at any thread count. tfjs draws these in
 * JavaScript, about 35 ns a value; this, about 2 ns.
 */
void gn_random_normal(double seed, float *out, size_t n, float mean, float sd) {
  const uint64_t key = mix64((uint64_t)seed);
  const size_t pairs = (n + 1) / 2;
  Normal job = {key, pairs, n, mean, sd, out};
  gn__parallel(gn__team(450.0 * (double)n), normal_part, &job);
}

typedef struct {
  int op;
  const float *x;
  float *out;
  size_t n;
} Unary;

static void unary_part(void *p, int t, int nt) {
  const Unary *j = p;
  const float *x = j->x;
  float *out = j->out;
  size_t lo, hi;
  gn__split(j->n, nt, t, &lo, &hi);
  if (j->op == 0) {
    for (size_t i = lo; i < hi; i++) out[i] = (float)exp((double)x[i]);
  } else if (j->op == 1) {
    for (size_t i = lo; i < hi; i++) out[i] = -x[i];
  } else if (j->op == 3) {
    for (size_t i = lo; i < hi; i++) out[i] = (float)log((double)x[i]);
  } else {
    for (size_t i = lo; i < hi; i++) out[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
  }
}

/**
 * out = exp(x) (op 0), −x (op 1), 1 / (1 + exp(−x)) (op 2) or log(x) (op 3)
 * over n floats; exp, sigmoid and log in double, as tfjs's cpu kernels compute them.
 */
void gn_unary(int op, const float *x, float *out, size_t n) {
  Unary job = {op, x, out, n};
  gn__parallel(gn__team((op == 1 ? 8.0 : 250.0) * (double)n), unary_part, &job);
}

/** One row's sum (op 0, in double, in order, as tfjs's cpu kernel) or max (op 1, NaN wins). */
static float reduce_row(int op, const float *r, size_t len) {
  if (op == 0) {
    double s = 0;
    for (size_t j = 0; j < len; j++) s += r[j];
    return (float)s;
  }
  float m = r[0];
  for (size_t j = 1; j < len; j++) {
    if (r[j] > m || isnan(r[j])) m = r[j];
  }
  return m;
}

typedef struct {
  int op;
  const float *x;
  float *out;
  size_t len, rows;
} Reduce;

static void reduce_part(void *p, int t, int nt) {
  const Reduce *j = p;
  size_t lo, hi;
  gn__split(j->rows, nt, t, &lo, &hi);
  for (size_t i = lo; i < hi; i++) j->out[i] = reduce_row(j->op, j->x + i * j->len, j->len);
}

/**
 * out = the sum (op 0) or max (op 1) of x over its last axes after
 * transpose(x, perm) (d as gn_transpose's), the len values of each output
 * in order. Returns -1 when out of memory for the transposed copy.
 */
int gn_reduce(int op, const float *x, float *out, const int *d, size_t len) {
  const int rank = d[0];
  size_t n = 1;
  int moved = 0;
  for (int k = 0; k < rank; k++) n *= (size_t)d[1 + k], moved |= d[1 + rank + k] != k;
  if (moved) {
    float *t = gn__scratch(n);
    if (!t) return -1;
    gn_transpose(x, t, d);
    x = t;
  }
  const size_t rows = n / len;
  Reduce job = {op, x, out, len, rows};
  gn__parallel(gn__team(4.0 * (double)n), reduce_part, &job);
  return 0;
}
