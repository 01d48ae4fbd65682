/*
 * loopback_call: a minimal C front end of Parla. Two engines in one process make an end-to-end
 * encrypted call in app-owned audio mode: side A's microphone is a WAV file, the program moves
 * the packets between the two sides (where an app would use its network), and writes what side
 * B heard to another WAV file. Runs in real time (10 ms per frame), like an audio callback.
 *
 * Usage: loopback_call IN.wav OUT.wav [MAX_SECONDS] [video]
 *   IN.wav: mono 16-bit PCM at 48 kHz. OUT.wav: same format, as long as the audio sent.
 *   video: also a video call: A sends a moving test pattern (320x180, 30 fps, H.264), B pulls
 *   the pictures and counts them (needs the full library, with FFmpeg).
 * Build:  see README.md (pkg-config --cflags --libs parla).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <parla.h>

#define RATE 48000
#define FRAME (RATE / 100) /* 10 ms */

static uint32_t le32(const unsigned char *p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Reads a mono 16-bit PCM WAV; returns malloc'ed samples or NULL. */
static int16_t *wav_read(const char *path, size_t *n, uint32_t *rate) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char h[12], c[8], fmt[16];
  int16_t *data = NULL;
  unsigned channels = 0, bits = 0;
  if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) goto out;
  while (fread(c, 1, 8, f) == 8) {
    uint32_t size = le32(c + 4);
    if (!memcmp(c, "fmt ", 4) && size >= 16) {
      if (fread(fmt, 1, 16, f) != 16) goto out;
      channels = fmt[2] | (fmt[3] << 8);
      *rate = le32(fmt + 4);
      bits = fmt[14] | (fmt[15] << 8);
      if (fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR)) goto out;
    } else if (!memcmp(c, "data", 4)) {
      if (channels != 1 || bits != 16) goto out;
      *n = size / 2;
      data = malloc(*n * 2 + 2);
      if (!data) goto out;
      unsigned char s[2];
      for (size_t i = 0; i < *n; i++) {
        if (fread(s, 1, 2, f) != 2) { *n = i; break; }
        data[i] = (int16_t)(s[0] | (s[1] << 8));
      }
      goto out;
    } else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
      goto out;
    }
  }
out:
  fclose(f);
  return data;
}

static void put32(FILE *f, uint32_t v) {
  unsigned char b[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
  fwrite(b, 1, 4, f);
}

/* Writes a mono 16-bit PCM WAV; returns 0 on success. */
static int wav_write(const char *path, const int16_t *s, size_t n, uint32_t rate) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  fwrite("RIFF", 1, 4, f);
  put32(f, (uint32_t)(36 + n * 2));
  fwrite("WAVEfmt ", 1, 8, f);
  put32(f, 16);
  unsigned char fmt[4] = {1, 0, 1, 0}; /* PCM, mono */
  fwrite(fmt, 1, 4, f);
  put32(f, rate);
  put32(f, rate * 2);
  unsigned char align[4] = {2, 0, 16, 0}; /* block align 2, 16 bits */
  fwrite(align, 1, 4, f);
  fwrite("data", 1, 4, f);
  put32(f, (uint32_t)(n * 2));
  for (size_t i = 0; i < n; i++) {
    unsigned char b[2] = {(uint16_t)s[i] & 255, (uint16_t)s[i] >> 8};
    fwrite(b, 1, 2, f);
  }
  return fclose(f) == 0 ? 0 : -1;
}

#define TRY(expr)                                                                        \
  do {                                                                                   \
    int32_t s_ = (expr);                                                                 \
    if (s_ < 0) {                                                                        \
      fprintf(stderr, "%s: %s\n", #expr, parla_status_str(s_));                          \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

/* Moves every waiting packet from one side to the other (an app would send it over UDP). */
static int32_t forward(ParlaCall *from, ParlaCall *to) {
  uint8_t pkt[PARLA_MAX_PACKET];
  size_t len = 0;
  int32_t s;
  while ((s = parla_call_poll_packet(from, pkt, sizeof pkt, &len)) == PARLA_OK) {
    int32_t r = parla_call_receive_packet(to, pkt, len);
    if (r < 0) return r;
  }
  return s == PARLA_NO_PACKET ? PARLA_OK : s;
}

#define VW 320
#define VH 180

/* Picture i of a moving test pattern (I420): a scrolling gradient and a travelling box. */
static void test_pattern(unsigned i, uint8_t *y, uint8_t *u, uint8_t *v) {
  unsigned bx = (i * 4) % (VW - VW / 5), by = (i * 2) % (VH - VH / 5);
  for (unsigned r = 0; r < VH; r++)
    for (unsigned c = 0; c < VW; c++) {
      int in_box = c >= bx && c < bx + VW / 5 && r >= by && r < by + VH / 5;
      y[r * VW + c] = in_box ? 235 : (uint8_t)(40 + (c + r + i * 2) % 160);
    }
  memset(u, 128, VW * VH / 4);
  memset(v, 128, VW * VH / 4);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s IN.wav OUT.wav [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  size_t n = 0;
  uint32_t rate = 0;
  int16_t *in = wav_read(argv[1], &n, &rate);
  if (!in || rate != RATE) {
    fprintf(stderr, "%s: need a mono 16-bit PCM WAV at 48 kHz\n", argv[1]);
    return 1;
  }
  if (argc > 3) {
    size_t max = (size_t)(atof(argv[3]) * RATE);
    if (max < n) n = max;
  }
  size_t frames = n / FRAME;
  int16_t *heard = calloc(frames * FRAME + 1, sizeof(int16_t));
  if (!heard) return 1;
  printf("parla %s: loopback call of %.2f s from %s\n", parla_version(), frames / 100.0, argv[1]);

  /* Both sides use the defaults: 48 kHz mono, Opus 20 ms, AEC3, noise suppression, SFrame. */
  ParlaCallConfig cfg = {.size = sizeof cfg};
  TRY(parla_call_config_default(&cfg));
  int video = argc > 4 && strcmp(argv[4], "video") == 0;
  ParlaVideoConfig vcfg = {.size = sizeof vcfg};
  TRY(parla_video_config_default(&vcfg));
  vcfg.width = VW;
  vcfg.height = VH;
  ParlaCall *a = NULL, *b = NULL;
  int32_t ra = video ? parla_call_new_video(&cfg, &vcfg, &a) : parla_call_new(&cfg, &a);
  int32_t rb = video ? parla_call_new_video(&cfg, &vcfg, &b) : parla_call_new(&cfg, &b);
  if (ra < 0 || rb < 0) {
    fprintf(stderr, "parla_call_new: %s\n", parla_last_error());
    return 1;
  }
  /* The camera's picture (A) and the screen's (B). */
  static uint8_t cam_y[VW * VH], cam_u[VW * VH / 4], cam_v[VW * VH / 4];
  static uint8_t scr_y[VW * VH], scr_u[VW * VH / 4], scr_v[VW * VH / 4];
  unsigned pictures_sent = 0, pictures_shown = 0;

  /* Key agreement: each side sends its public key through the app's signalling. */
  uint8_t ka[PARLA_KEY_BLOB_LEN], kb[PARLA_KEY_BLOB_LEN];
  const uint8_t call_id[] = "loopback-sample";
  TRY(parla_call_local_public_key(a, ka, sizeof ka));
  TRY(parla_call_local_public_key(b, kb, sizeof kb));
  TRY(parla_call_set_peer_key(a, kb, sizeof kb, call_id, sizeof call_id - 1));
  TRY(parla_call_set_peer_key(b, ka, sizeof ka, call_id, sizeof call_id - 1));
  char code_a[PARLA_SAFETY_CODE_LEN], code_b[PARLA_SAFETY_CODE_LEN];
  TRY(parla_call_safety_code(a, code_a, sizeof code_a));
  TRY(parla_call_safety_code(b, code_b, sizeof code_b));
  printf("safety code A: %s\nsafety code B: %s (%s)\n", code_a, code_b,
         strcmp(code_a, code_b) == 0 ? "match" : "MISMATCH");

  TRY(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL));
  TRY(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL));

  int16_t silence[FRAME] = {0}, speaker_a[FRAME];
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (size_t f = 0; f < frames; f++) {
    /* What each side's audio callback does every 10 ms. */
    TRY(parla_call_push_capture_i16(a, in + f * FRAME, FRAME));
    TRY(parla_call_push_capture_i16(b, silence, FRAME));
    TRY(parla_call_pull_playout_i16(a, speaker_a, FRAME));
    TRY(parla_call_pull_playout_i16(b, heard + f * FRAME, FRAME));
    /* Video: A's camera delivers 30 pictures a second; B's renderer shows what is due. */
    if (video && f * 30 / 100 >= pictures_sent) {
      test_pattern(pictures_sent++, cam_y, cam_u, cam_v);
      TRY(parla_call_push_video_frame(a, PARLA_PIXEL_I420, VW, VH, cam_y, VW, cam_u, VW / 2, cam_v,
                                      VW / 2));
    }
    if (video) {
      ParlaVideoFrameInfo info;
      int32_t s;
      while ((s = parla_call_pull_video_frame(b, scr_y, VW, scr_u, scr_v, VW / 2, VW, VH, &info)) ==
             PARLA_OK)
        pictures_shown++;
      if (s != PARLA_NO_FRAME) TRY(s);
    }
    /* What each side's network code does. */
    TRY(forward(a, b));
    TRY(forward(b, a));
    next.tv_nsec += 10000000L;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  TRY(parla_call_stop(a));
  TRY(parla_call_stop(b));

  ParlaCallStats st = {.size = sizeof st};
  TRY(parla_call_get_stats(b, &st));
  printf("B received %llu packets (%llu authenticated, %llu rejected), lost %llu, concealed %llu "
         "samples, jitter buffer delay %.1f ms\n",
         (unsigned long long)st.packets_received, (unsigned long long)st.e2ee_accepted,
         (unsigned long long)(st.e2ee_auth_failures + st.e2ee_replays + st.e2ee_malformed +
                              st.e2ee_unknown_key),
         (unsigned long long)st.packets_lost, (unsigned long long)st.concealed_samples,
         st.jitter_delay_ms);
  if (video) {
    ParlaVideoStats vs = {.size = sizeof vs};
    TRY(parla_call_get_video_stats(b, &vs));
    printf("video: A sent %u pictures, B showed %u (decoded %llu, freezes %llu)\n", pictures_sent,
           pictures_shown, (unsigned long long)vs.frames_decoded, (unsigned long long)vs.freezes);
  }
  parla_call_free(a);
  parla_call_free(b);

  if (wav_write(argv[2], heard, frames * FRAME, RATE) != 0) {
    fprintf(stderr, "cannot write %s\n", argv[2]);
    return 1;
  }
  printf("wrote %s (%.2f s)\n", argv[2], frames / 100.0);
  free(heard);
  free(in);
  return 0;
}
