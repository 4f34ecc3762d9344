/*
 * The snappy block encoder of assembly/snappy.ts transcribed to C, to measure what the same
 * algorithm does natively on the benchmark bodies: the ceiling for the WebAssembly core.
 * Same structure, same probes, same bytes (the program checks its output against the
 * reference bytes that bodies.ts writes next to each body).
 *
 *   npx tsx bench/native/bodies.ts /tmp/bodies       # W1 and W2 request bodies, protobuf
 *   gcc -O2 -march=native -o /tmp/snappy-encode bench/native/snappy-encode.c
 *   /tmp/snappy-encode /tmp/bodies/W1.bin /tmp/bodies/W2.bin
 *
 * Not part of the build or of CI: it needs a C compiler, which the project does not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BLOCK 65536
#define MARGIN 15
#define MAX_TABLE (1 << 14)

static uint16_t table[MAX_TABLE];

static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void store16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t hash(uint32_t u, uint32_t shift) { return (u * 0x1e35a7bdu) >> shift; }

static size_t emit_literal(uint8_t *d, const uint8_t *lit, size_t len) {
  uint32_t n = (uint32_t)len - 1;
  size_t i;
  if (n < 60) { d[0] = (uint8_t)(n << 2); i = 1; }
  else if (n < 256) { d[0] = 60 << 2; d[1] = (uint8_t)n; i = 2; }
  else { d[0] = 61 << 2; store16(d + 1, (uint16_t)n); i = 3; }
  memcpy(d + i, lit, len);
  return i + len;
}

static inline size_t emit_literal_short(uint8_t *d, const uint8_t *lit, size_t len) {
  if (len <= 16) {
    d[0] = (uint8_t)((len - 1) << 2);
    store64(d + 1, load64(lit));
    store64(d + 9, load64(lit + 8));
    return 1 + len;
  }
  return emit_literal(d, lit, len);
}

static inline size_t emit_copy(uint8_t *d, size_t offset, size_t length) {
  size_t i = 0;
  while (length >= 68) { d[i] = (63 << 2) | 2; store16(d + i + 1, (uint16_t)offset); i += 3; length -= 64; }
  if (length > 64) { d[i] = (59 << 2) | 2; store16(d + i + 1, (uint16_t)offset); i += 3; length -= 60; }
  if (length >= 12 || offset >= 2048) {
    d[i] = (uint8_t)(((length - 1) << 2) | 2);
    store16(d + i + 1, (uint16_t)offset);
    return i + 3;
  }
  d[i] = (uint8_t)(((offset >> 8) << 5) | ((length - 4) << 2) | 1);
  d[i + 1] = (uint8_t)offset;
  return i + 2;
}

static inline const uint8_t *extend_match(const uint8_t *i, const uint8_t *j, const uint8_t *end) {
  while (j + 8 <= end) {
    uint64_t x = load64(j) ^ load64(i);
    if (x) return j + (__builtin_ctzll(x) >> 3);
    i += 8;
    j += 8;
  }
  while (j < end && *j == *i) { i++; j++; }
  return j;
}

/* The table step of a probe at pos: returns the candidate and stores pos. */
static inline const uint8_t *lookup(const uint8_t *src, const uint8_t *pos, uint32_t h) {
  const uint8_t *candidate = src + table[h];
  table[h] = (uint16_t)(pos - src);
  return candidate;
}

static size_t encode_block(uint8_t *dst, const uint8_t *src, size_t len) {
  uint32_t shift = 32 - 8;
  size_t table_size = 1 << 8;
  while (table_size < MAX_TABLE && table_size < len) { table_size <<= 1; shift--; }
  memset(table, 0, table_size * 2);
  const uint8_t *end = src + len, *s_limit = end - MARGIN, *next_emit = src, *s = src + 1;
  uint8_t *d = dst;
  for (;;) {
    uint32_t skip = 32;
    const uint8_t *candidate = NULL;
    int found = 0;
    /* The core takes the first 32 probes 8 at a time from two loads (V8 compiles that
     * better); gcc does best with the plain loop, which makes the same probes. */
    {
      const uint8_t *next_s = s;
      uint32_t next_val = load32(s), next_hash = hash(next_val, shift);
      for (;;) {
        s = next_s;
        uint32_t val = next_val, step = skip >> 5;
        next_s = s + step;
        skip += step;
        if (next_s > s_limit) break;
        candidate = lookup(src, s, next_hash);
        next_val = load32(next_s);
        next_hash = hash(next_val, shift);
        if (val == load32(candidate)) { found = 1; break; }
      }
      if (!found) break;
    }
    d += emit_literal_short(d, next_emit, (size_t)(s - next_emit));
    int more = 1;
    for (;;) {
      const uint8_t *base = s;
      s = extend_match(candidate + 4, s + 4, end);
      d += emit_copy(d, (size_t)(base - candidate), (size_t)(s - base));
      next_emit = s;
      if (s >= s_limit) { more = 0; break; }
      uint64_t x = load64(s - 1);
      table[hash((uint32_t)x, shift)] = (uint16_t)(s - 1 - src);
      candidate = lookup(src, s, hash((uint32_t)(x >> 8), shift));
      if ((uint32_t)(x >> 8) != load32(candidate)) { s++; break; }
    }
    if (!more) break;
  }
  if (next_emit < end) d += emit_literal(d, next_emit, (size_t)(end - next_emit));
  return (size_t)(d - dst);
}

static size_t compress(const uint8_t *src, size_t n, uint8_t *dst) {
  uint8_t *d = dst;
  uint32_t v = (uint32_t)n;
  while (v >= 0x80) { *d++ = (uint8_t)(v | 0x80); v >>= 7; }
  *d++ = (uint8_t)v;
  const uint8_t *end = src + n;
  while (src < end) {
    size_t k = (size_t)(end - src) < MAX_BLOCK ? (size_t)(end - src) : MAX_BLOCK;
    d += k < 1 + 1 + MARGIN ? emit_literal(d, src, k) : encode_block(d, src, k);
    src += k;
  }
  return (size_t)(d - dst);
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(*len + 16);
  if (fread(buf, 1, *len, f) != *len) { perror(path); exit(2); }
  fclose(f);
  return buf;
}

/* A body file holds u32 count, count × u32 length, then the bodies back to back; the file
 * with ".snappy" appended holds the reference encoder's output for each, the same way. */
int main(int argc, char **argv) {
  for (int a = 1; a < argc; a++) {
    size_t len, rlen;
    uint8_t *buf = read_file(argv[a], &len);
    char ref_path[4096];
    snprintf(ref_path, sizeof ref_path, "%s.snappy", argv[a]);
    uint8_t *ref = read_file(ref_path, &rlen);
    uint32_t n, rn;
    memcpy(&n, buf, 4);
    memcpy(&rn, ref, 4);
    if (n != rn || n > 64) { fprintf(stderr, "%s: bad body files\n", argv[a]); return 2; }
    uint8_t *out = malloc(8 << 20);
    size_t total = 0;
    const uint8_t *body = buf + 4 + 4 * n, *want = ref + 4 + 4 * n;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t bl, wl;
      memcpy(&bl, buf + 4 + 4 * i, 4);
      memcpy(&wl, ref + 4 + 4 * i, 4);
      size_t m = compress(body, bl, out);
      if (m != wl || memcmp(out, want, m) != 0) { fprintf(stderr, "%s: body %u differs from the reference\n", argv[a], i); return 1; }
      total += bl;
      body += bl;
      want += wl;
    }
    double best = 1e9;
    for (int round = 0; round < 16; round++) {
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      for (int rep = 0; rep < 10; rep++) {
        body = buf + 4 + 4 * n;
        for (uint32_t i = 0; i < n; i++) {
          uint32_t bl;
          memcpy(&bl, buf + 4 + 4 * i, 4);
          compress(body, bl, out);
          body += bl;
        }
      }
      clock_gettime(CLOCK_MONOTONIC, &t1);
      double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
      if (dt < best) best = dt;
    }
    printf("%s: %u bodies, %.0f KiB each: %.0f MB/s (best of 16 rounds), output identical to the reference\n",
           argv[a], n, (double)total / n / 1024, (double)total * 10 / best / 1e6);
    free(out);
    free(buf);
    free(ref);
  }
  return 0;
}
