/* A full call between two engines in one process, app-owned audio, end-to-end encrypted: speech
 * from a WAV file is pushed into A, the test moves packets A->B and B->A, and B's playout must
 * carry A's signal (energy and correlation). Usage: c_call SPEECH.wav [SECONDS] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "parla.h"
#include "test_util.h"

#define FRAME 480 /* 10 ms at 48 kHz */

static void move_packets(ParlaCall *from, ParlaCall *to, uint64_t *count) {
  uint8_t pkt[PARLA_MAX_PACKET];
  size_t len = 0;
  int32_t s;
  while ((s = parla_call_poll_packet(from, pkt, sizeof pkt, &len)) == PARLA_OK) {
    CHECK_STATUS(parla_call_receive_packet(to, pkt, len), PARLA_OK);
    (*count)++;
  }
  CHECK_STATUS(s, PARLA_NO_PACKET);
}

/* Mean of each block of 4 samples (a crude low-pass and decimation to 12 kHz). */
static void decimate4(const float *in, size_t n, float *out) {
  for (size_t i = 0; i + 4 <= n; i += 4) out[i / 4] = (in[i] + in[i + 1] + in[i + 2] + in[i + 3]) * 0.25f;
}

/* The RMS of each 10 ms frame (the speech envelope). */
static void envelope(const float *in, size_t frames, float *out) {
  for (size_t f = 0; f < frames; f++) {
    double e = 0;
    for (size_t i = 0; i < FRAME; i++) e += (double)in[f * FRAME + i] * in[f * FRAME + i];
    out[f] = (float)sqrt(e / FRAME);
  }
}

/* Best normalized cross-correlation of y against x delayed by 0..max_lag samples. */
static double best_correlation(const float *x, const float *y, size_t n, size_t max_lag, size_t *lag) {
  double best = -1.0;
  for (size_t d = 0; d <= max_lag && d < n; d++) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i + d < n; i++) {
      xy += (double)x[i] * y[i + d];
      xx += (double)x[i] * x[i];
      yy += (double)y[i + d] * y[i + d];
    }
    double c = (xx > 0 && yy > 0) ? xy / sqrt(xx * yy) : 0.0;
    if (c > best) {
      best = c;
      *lag = d;
    }
  }
  return best;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: c_call SPEECH.wav [SECONDS]\n");
    return 2;
  }
  double seconds = argc > 2 ? atof(argv[2]) : 4.0;
  size_t n_in = 0;
  uint32_t rate = 0;
  int16_t *speech = read_wav_mono16(argv[1], &n_in, &rate);
  if (!speech || rate != 48000) {
    fprintf(stderr, "cannot read a 48 kHz mono 16-bit WAV from %s\n", argv[1]);
    return 2;
  }
  size_t frames = (size_t)(seconds * 100.0);
  if (frames * FRAME > n_in) frames = n_in / FRAME;
  size_t n = frames * FRAME;

  ParlaCallConfig cfg = {.size = sizeof cfg};
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  ParlaCall *a = NULL, *b = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &a), PARLA_OK);
  CHECK_STATUS(parla_call_new(&cfg, &b), PARLA_OK);
  if (!a || !b) return finish("c_call");

  exchange_keys_as(a, b, "c-call-test");

  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);

  float *sent = calloc(n, sizeof(float));
  float *heard = calloc(n, sizeof(float));
  if (!sent || !heard) return 2;
  int16_t silence[FRAME] = {0};
  int16_t spk_a[FRAME];
  uint64_t a_to_b = 0, b_to_a = 0;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (size_t f = 0; f < frames; f++) {
    const int16_t *mic = speech + f * FRAME;
    for (size_t i = 0; i < FRAME; i++) sent[f * FRAME + i] = mic[i] / 32768.0f;
    int32_t s = parla_call_push_capture_i16(a, mic, FRAME);
    CHECK(s == PARLA_OK);
    CHECK_STATUS(parla_call_push_capture_i16(b, silence, FRAME), PARLA_OK);
    move_packets(a, b, &a_to_b);
    move_packets(b, a, &b_to_a);
    s = parla_call_pull_playout_f32(b, heard + f * FRAME, FRAME);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    s = parla_call_pull_playout_i16(a, spk_a, FRAME);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    pace(&t, 10000000L);
  }
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_stop(b), PARLA_OK);

  ParlaCallStats sa = {.size = sizeof sa}, sb = {.size = sizeof sb};
  CHECK_STATUS(parla_call_get_stats(a, &sa), PARLA_OK);
  CHECK_STATUS(parla_call_get_stats(b, &sb), PARLA_OK);
  printf("packets A->B %llu, B->A %llu; B: received %llu, e2ee accepted %llu, auth failures %llu, "
         "lost %llu, concealed samples %llu, jitter delay %.1f ms; A tick cpu median %.1f us p99 %.1f us\n",
         (unsigned long long)a_to_b, (unsigned long long)b_to_a, (unsigned long long)sb.packets_received,
         (unsigned long long)sb.e2ee_accepted, (unsigned long long)sb.e2ee_auth_failures,
         (unsigned long long)sb.packets_lost, (unsigned long long)sb.concealed_samples,
         sb.jitter_delay_ms, sa.cpu_tick.median_us, sa.cpu_tick.p99_us);
  CHECK(a_to_b >= frames / 2 - 5 && b_to_a >= frames / 2 - 5); /* 20 ms packets */
  CHECK(sb.e2ee_accepted >= a_to_b * 9 / 10);
  CHECK(sb.e2ee_auth_failures == 0 && sa.e2ee_auth_failures == 0);

  double e_in = 0, e_out = 0;
  for (size_t i = 0; i < n; i++) {
    e_in += (double)sent[i] * sent[i];
    e_out += (double)heard[i] * heard[i];
  }
  double db_in = 10 * log10(e_in / n + 1e-20), db_out = 10 * log10(e_out / n + 1e-20);
  float *xs = calloc(n / 4, sizeof(float)), *ys = calloc(n / 4, sizeof(float));
  if (!xs || !ys) return 2;
  decimate4(sent, n, xs);
  decimate4(heard, n, ys);
  size_t lag = 0;
  double corr = best_correlation(xs, ys, n / 4, 12000 / 2 /* 500 ms */, &lag);
  printf("A's input %.1f dBFS, B's playout %.1f dBFS; best correlation %.3f at a delay of %.1f ms "
         "(%.1f s of audio)\n",
         db_in, db_out, corr, lag / 12.0, n / 48000.0);
  /* The 10 ms envelopes, mean removed: A's syllables must reappear in B's playout. */
  float *ex = calloc(frames, sizeof(float)), *ey = calloc(frames, sizeof(float));
  if (!ex || !ey) return 2;
  envelope(sent, frames, ex);
  envelope(heard, frames, ey);
  double mx = 0, my = 0;
  for (size_t f = 0; f < frames; f++) { mx += ex[f]; my += ey[f]; }
  for (size_t f = 0; f < frames; f++) { ex[f] -= (float)(mx / frames); ey[f] -= (float)(my / frames); }
  size_t env_lag = 0;
  double env_corr = best_correlation(ex, ey, frames, 50 /* 500 ms */, &env_lag);
  printf("envelope correlation %.3f at a delay of %zu0 ms\n", env_corr, env_lag);
  CHECK(db_out > db_in - 12.0); /* the speech arrives at about its level */
  CHECK(env_corr > 0.7);        /* and it is A's speech, delayed */
  CHECK(env_lag > 0);
  free(ex);
  free(ey);

  free(xs);
  free(ys);
  free(sent);
  free(heard);
  free(speech);
  parla_call_free(a);
  parla_call_free(b);
  return finish("c_call");
}
