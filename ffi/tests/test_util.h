/* Helpers shared by the C tests of parla-ffi (not part of the public API). */
#ifndef PARLA_TEST_UTIL_H
#define PARLA_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_failures = 0;

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
      g_failures++;                                                                    \
    }                                                                                  \
  } while (0)

#define CHECK_STATUS(expr, want)                                                       \
  do {                                                                                 \
    int32_t got_ = (expr);                                                             \
    if (got_ != (want)) {                                                              \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", __FILE__,      \
              __LINE__, #expr, got_, parla_status_str(got_), (int)(want),             \
              parla_status_str(want));                                                 \
      g_failures++;                                                                    \
    }                                                                                  \
  } while (0)

/* Read a mono 16-bit PCM WAV file (the canonical 44-byte-header layout and the usual chunk
 * list); returns malloc'ed samples and their count, or NULL. */
static inline int16_t *read_wav_mono16(const char *path, size_t *n, uint32_t *rate) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char hdr[12];
  int16_t *out = NULL;
  if (fread(hdr, 1, 12, f) != 12 || memcmp(hdr, "RIFF", 4) || memcmp(hdr + 8, "WAVE", 4)) goto done;
  uint16_t channels = 0, bits = 0;
  for (;;) {
    unsigned char ch[8];
    if (fread(ch, 1, 8, f) != 8) goto done;
    uint32_t size = ch[4] | (ch[5] << 8) | (ch[6] << 16) | ((uint32_t)ch[7] << 24);
    if (!memcmp(ch, "fmt ", 4)) {
      unsigned char fmt[16];
      if (size < 16 || fread(fmt, 1, 16, f) != 16) goto done;
      channels = fmt[2] | (fmt[3] << 8);
      *rate = fmt[4] | (fmt[5] << 8) | (fmt[6] << 16) | ((uint32_t)fmt[7] << 24);
      bits = fmt[14] | (fmt[15] << 8);
      if (fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR)) goto done;
    } else if (!memcmp(ch, "data", 4)) {
      if (channels != 1 || bits != 16) goto done;
      *n = size / 2;
      out = malloc(*n * sizeof(int16_t) + 1);
      if (!out) goto done;
      for (size_t i = 0; i < *n; i++) {
        unsigned char s[2];
        if (fread(s, 1, 2, f) != 2) { *n = i; break; }
        out[i] = (int16_t)(s[0] | (s[1] << 8));
      }
      goto done;
    } else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
      goto done;
    }
  }
done:
  fclose(f);
  return out;
}

/* Sleep until `deadline` (CLOCK_MONOTONIC), then advance it by `step_ns`: paces a loop like an
 * audio callback. */
static inline void pace(struct timespec *deadline, long step_ns) {
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
  deadline->tv_nsec += step_ns;
  while (deadline->tv_nsec >= 1000000000L) {
    deadline->tv_nsec -= 1000000000L;
    deadline->tv_sec += 1;
  }
}

/* The key agreement between two calls in one process (`parla.h` is included before this file):
 * each takes the other's public key under `id`, and both show the same safety code (printed). */
static inline void exchange_keys_as(ParlaCall *a, ParlaCall *b, const char *id) {
  uint8_t ka[PARLA_KEY_BLOB_LEN], kb[PARLA_KEY_BLOB_LEN];
  const uint8_t *idb = (const uint8_t *)id;
  CHECK_STATUS(parla_call_local_public_key(a, ka, sizeof ka), PARLA_OK);
  CHECK_STATUS(parla_call_local_public_key(b, kb, sizeof kb), PARLA_OK);
  CHECK(memcmp(ka, kb, sizeof ka) != 0);
  CHECK_STATUS(parla_call_set_peer_key(a, kb, sizeof kb, idb, strlen(id)), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_key(b, ka, sizeof ka, idb, strlen(id)), PARLA_OK);
  char ca[PARLA_SAFETY_CODE_LEN], cb[PARLA_SAFETY_CODE_LEN];
  CHECK_STATUS(parla_call_safety_code(a, ca, sizeof ca), PARLA_OK);
  CHECK_STATUS(parla_call_safety_code(b, cb, sizeof cb), PARLA_OK);
  CHECK(strcmp(ca, cb) == 0);
  CHECK(strlen(ca) == PARLA_SAFETY_CODE_LEN - 1);
  printf("safety codes: A %s, B %s (%s)\n", ca, cb, strcmp(ca, cb) ? "DIFFER" : "equal");
}

static inline int finish(const char *name) {
  if (g_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, g_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif
