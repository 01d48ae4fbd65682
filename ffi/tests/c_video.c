/* A video call through the C ABI: two engines in one process, app-owned audio, end-to-end
 * encrypted; both push a moving test pattern (I420 with padded strides) and pull the peer's
 * pictures; one side stops and starts again and the video resumes. Checks picture counts,
 * sizes, content (the picture matches one of the sent ones), a too-small buffer keeping its
 * picture, and the video counters. Usage: c_video [SECONDS] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "parla.h"
#include "test_util.h"

#define FRAME 480 /* 10 ms at 48 kHz */
#define W 320
#define H 180
#define STRIDE (W + 32) /* padded rows, as cameras deliver them */
#define CSTRIDE (W / 2 + 16)
#define FPS 30

static uint8_t g_y[STRIDE * H], g_u[CSTRIDE * H / 2], g_v[CSTRIDE * H / 2];

/* Picture i of the pattern: a diagonal gradient that scrolls and a bright box that travels. */
static void pattern(unsigned i) {
  unsigned bx = (i * 4) % (W - W / 5), by = (i * 2) % (H - H / 5);
  for (unsigned r = 0; r < H; r++)
    for (unsigned c = 0; c < W; c++) {
      int in_box = c >= bx && c < bx + W / 5 && r >= by && r < by + H / 5;
      g_y[r * STRIDE + c] = in_box ? 235 : (uint8_t)(40 + (c + r + i * 2) % 160);
    }
  for (unsigned r = 0; r < H / 2; r++)
    for (unsigned c = 0; c < W / 2; c++) {
      g_u[r * CSTRIDE + c] = (uint8_t)(96 + (c + i) % 64);
      g_v[r * CSTRIDE + c] = (uint8_t)(96 + (r + i) % 64);
    }
}

/* Y PSNR of a pulled picture (tight rows) against pattern i. */
static double psnr(const uint8_t *y, unsigned i) {
  pattern(i);
  double se = 0;
  for (unsigned r = 0; r < H; r++)
    for (unsigned c = 0; c < W; c++) {
      double d = (double)y[r * W + c] - g_y[r * STRIDE + c];
      se += d * d;
    }
  double mse = se / (W * H);
  return mse < 1e-9 ? 99.0 : 10 * log10(255.0 * 255.0 / mse);
}

static void move_packets(ParlaCall *from, ParlaCall *to) {
  uint8_t pkt[PARLA_MAX_PACKET];
  size_t len = 0;
  int32_t s;
  while ((s = parla_call_poll_packet(from, pkt, sizeof pkt, &len)) == PARLA_OK)
    CHECK_STATUS(parla_call_receive_packet(to, pkt, len), PARLA_OK);
  CHECK_STATUS(s, PARLA_NO_PACKET);
}

struct side {
  ParlaCall *call;
  uint64_t pulled;
  uint8_t y[W * H], u[W * H / 4], v[W * H / 4]; /* the last picture, tight rows */
};

/* Runs both calls for `ticks` x 10 ms from pattern picture `first`. */
static void run(struct side *a, struct side *b, unsigned ticks, unsigned first) {
  int16_t silence[FRAME] = {0}, spk[FRAME];
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  unsigned next = 0;
  for (unsigned k = 0; k < ticks; k++) {
    if (k * 10 * FPS >= next * 1000) {
      pattern(first + next);
      struct side *both[2] = {a, b};
      for (int s = 0; s < 2; s++)
        CHECK_STATUS(parla_call_push_video_frame(both[s]->call, PARLA_PIXEL_I420, W, H, g_y, STRIDE,
                                                 g_u, CSTRIDE, g_v, CSTRIDE),
                     PARLA_OK);
      next++;
    }
    CHECK_STATUS(parla_call_push_capture_i16(a->call, silence, FRAME), PARLA_OK);
    CHECK_STATUS(parla_call_push_capture_i16(b->call, silence, FRAME), PARLA_OK);
    move_packets(a->call, b->call);
    move_packets(b->call, a->call);
    struct side *both[2] = {a, b};
    for (int s = 0; s < 2; s++) {
      int32_t st = parla_call_pull_playout_i16(both[s]->call, spk, FRAME);
      CHECK(st == PARLA_OK || st == PARLA_PARTIAL);
      ParlaVideoFrameInfo info;
      while ((st = parla_call_pull_video_frame(both[s]->call, both[s]->y, W, both[s]->u,
                                               both[s]->v, W / 2, W, H, &info)) == PARLA_OK) {
        CHECK(info.width == W && info.height == H);
        both[s]->pulled++;
      }
      CHECK_STATUS(st, PARLA_NO_FRAME);
    }
    pace(&t, 10000000L);
  }
}

/* Best PSNR of the side's last picture against pattern pictures [lo, hi). */
static double best(const struct side *s, unsigned lo, unsigned hi) {
  double b = 0;
  for (unsigned i = lo; i < hi; i++) {
    double p = psnr(s->y, i);
    if (p > b) b = p;
  }
  return b;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 3.0;
  unsigned ticks = (unsigned)(seconds * 100);
  ParlaCallConfig cfg = {.size = sizeof cfg};
  ParlaVideoConfig vcfg = {.size = sizeof vcfg};
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  CHECK_STATUS(parla_video_config_default(&vcfg), PARLA_OK);
  cfg.aec_mode = PARLA_AEC_OFF;
  cfg.noise_suppression = false;
  vcfg.width = W;
  vcfg.height = H;
  vcfg.max_bitrate_bps = 600000;
  static struct side a, b;
  CHECK_STATUS(parla_call_new_video(&cfg, &vcfg, &a.call), PARLA_OK);
  CHECK_STATUS(parla_call_new_video(&cfg, &vcfg, &b.call), PARLA_OK);
  if (!a.call || !b.call) return finish("c_video");
  exchange_keys_as(a.call, b.call, "c-video-test");
  CHECK_STATUS(parla_call_start(a.call, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(b.call, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run(&a, &b, ticks, 0);
  unsigned sent = ticks * FPS / 100;
  ParlaVideoStats va = {.size = sizeof va}, vb = {.size = sizeof vb};
  CHECK_STATUS(parla_call_get_video_stats(a.call, &va), PARLA_OK);
  CHECK_STATUS(parla_call_get_video_stats(b.call, &vb), PARLA_OK);
  double qa = best(&a, 0, sent + 2), qb = best(&b, 0, sent + 2);
  printf("A pulled %llu, B pulled %llu of %u; A: encoded %llu, sent %llu, decoded %llu, freezes %llu; "
         "B: decoded %llu, auth failures %llu; last pictures %.1f / %.1f dB\n",
         (unsigned long long)a.pulled, (unsigned long long)b.pulled, sent,
         (unsigned long long)va.frames_encoded, (unsigned long long)va.frames_sent,
         (unsigned long long)va.frames_decoded, (unsigned long long)va.freezes,
         (unsigned long long)vb.frames_decoded, (unsigned long long)vb.frames_auth_failed, qa, qb);
  CHECK(a.pulled >= sent / 2 && b.pulled >= sent / 2);
  CHECK(va.frames_encoded >= sent * 2 / 3 && vb.frames_decoded >= sent / 2);
  CHECK(va.frames_auth_failed == 0 && vb.frames_auth_failed == 0 && vb.decode_errors == 0);
  CHECK(va.width == W && va.height == H);
  CHECK(qa > 30.0 && qb > 30.0);

  /* A buffer too small: the picture is kept and comes with the next, large enough pull. */
  uint8_t small[80 * 45 * 2];
  ParlaVideoFrameInfo info;
  int32_t st = PARLA_NO_FRAME;
  for (int tries = 0; tries < 100 && st == PARLA_NO_FRAME; tries++) {
    pattern(sent + tries);
    parla_call_push_video_frame(a.call, PARLA_PIXEL_I420, W, H, g_y, STRIDE, g_u, CSTRIDE, g_v,
                                CSTRIDE);
    int16_t silence[FRAME] = {0};
    parla_call_push_capture_i16(a.call, silence, FRAME);
    parla_call_push_capture_i16(b.call, silence, FRAME);
    move_packets(a.call, b.call);
    move_packets(b.call, a.call);
    st = parla_call_pull_video_frame(b.call, small, 80, small, small, 40, 80, 45, &info);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    pace(&t, 20000000L);
  }
  CHECK_STATUS(st, PARLA_ERR_BUFFER_TOO_SMALL);
  CHECK(info.width == W && info.height == H);
  CHECK_STATUS(parla_call_pull_video_frame(b.call, b.y, W, b.u, b.v, W / 2, W, H, &info), PARLA_OK);

  /* A stops and starts again: B's picture follows A's new frames. */
  CHECK_STATUS(parla_call_stop(a.call), PARLA_OK);
  CHECK_STATUS(parla_call_push_video_frame(a.call, PARLA_PIXEL_I420, W, H, g_y, STRIDE, g_u,
                                           CSTRIDE, g_v, CSTRIDE),
               PARLA_ERR_NOT_RUNNING);
  CHECK_STATUS(parla_call_start(a.call, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  uint64_t before = b.pulled;
  run(&a, &b, 200, 1000);
  double q2 = best(&b, 1000, 1062);
  printf("after A's restart: B pulled %llu more; last picture %.1f dB\n",
         (unsigned long long)(b.pulled - before), q2);
  CHECK(b.pulled - before >= 25);
  CHECK(q2 > 30.0);
  CHECK_STATUS(parla_call_stop(a.call), PARLA_OK);
  CHECK_STATUS(parla_call_stop(b.call), PARLA_OK);
  parla_call_free(a.call);
  parla_call_free(b.call);
  return finish("c_video");
}
