/* The app's threads, as AAudio, ALSA and many desktop APIs call back: a capture thread and a
 * playout thread per call, both paced at 10 ms and aligned to the same deadlines (the worst
 * case for a shared guard), a network thread moving packets between two calls with lock-free
 * receive/poll, and a control thread muting, changing the bitrate, rotating keys and reading
 * stats meanwhile. Expected: not one PARLA_ERR_BUSY on any audio callback, audio flows both
 * ways, and a send callback can remove itself from inside (PARLA_OK at once, destroy after).
 *
 * Usage: c_threads [CALLBACKS_PER_THREAD]   (default 750: 4 audio threads x 750 = 3,000) */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>

#include "parla.h"
#include "test_util.h"

static int g_frames = 750;
static struct timespec g_t0;
static atomic_int g_done;
static atomic_long g_busy;
static atomic_long g_other_errors;
static atomic_long g_callbacks;

typedef struct {
  ParlaCall *call;
  int capture; /* 1: the capture thread; 0: the playout thread */
} AudioArgs;

static void *audio_thread(void *p) {
  AudioArgs *a = p;
  float buf[480];
  for (int i = 0; i < 480; i++) buf[i] = 0.25f * (float)((i % 48) - 24) / 24.0f;
  struct timespec t = g_t0;
  for (int f = 0; f < g_frames; f++) {
    pace(&t, 10000000L);
    int32_t s = a->capture ? parla_call_push_capture_f32(a->call, buf, 480)
                           : parla_call_pull_playout_f32(a->call, buf, 480);
    atomic_fetch_add(&g_callbacks, 1);
    if (s == PARLA_ERR_BUSY) {
      atomic_fetch_add(&g_busy, 1);
    } else if (s != PARLA_OK && s != PARLA_PARTIAL) {
      atomic_fetch_add(&g_other_errors, 1);
      fprintf(stderr, "%s callback %d: %s\n", a->capture ? "capture" : "playout", f,
              parla_status_str(s));
    }
  }
  return NULL;
}

typedef struct {
  ParlaCall *a;
  ParlaCall *b;
} Pair;

static void *network_thread(void *p) {
  Pair *pair = p;
  uint8_t buf[PARLA_MAX_PACKET];
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  while (!atomic_load(&g_done)) {
    size_t n = 0;
    while (parla_call_poll_packet(pair->a, buf, sizeof buf, &n) == PARLA_OK)
      CHECK_STATUS(parla_call_receive_packet(pair->b, buf, n), PARLA_OK);
    while (parla_call_poll_packet(pair->b, buf, sizeof buf, &n) == PARLA_OK)
      CHECK_STATUS(parla_call_receive_packet(pair->a, buf, n), PARLA_OK);
    pace(&t, 2000000L);
  }
  return NULL;
}

static void *control_thread(void *p) {
  Pair *pair = p;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (int i = 0; !atomic_load(&g_done); i++) {
    ParlaCallStats st = {.size = sizeof st};
    CHECK_STATUS(parla_call_get_stats(pair->a, &st), PARLA_OK);
    CHECK_STATUS(parla_call_set_bitrate(pair->b, (i % 2) ? 24000 : 32000), PARLA_OK);
    if (i % 10 == 5) CHECK_STATUS(parla_call_rotate_key(pair->a), PARLA_OK);
    pace(&t, 50000000L);
  }
  return NULL;
}

/* A send callback that removes itself from inside on its 5th packet. */
static atomic_int g_cb_packets;
static atomic_int g_cb_destroyed;
static atomic_int g_cb_remove_status = 99;

static void self_removing_send(void *ud, const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  if (atomic_fetch_add(&g_cb_packets, 1) + 1 == 5) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int32_t s = parla_call_set_send_callback((ParlaCall *)ud, NULL, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000L;
    printf("removing the send callback from inside it: %s in %ld us\n", parla_status_str(s), us);
    atomic_store(&g_cb_remove_status, s);
    /* Not destroyed yet: we are still inside the callback. */
    CHECK(atomic_load(&g_cb_destroyed) == 0);
  }
}

static void on_destroy(void *ud) {
  (void)ud;
  atomic_fetch_add(&g_cb_destroyed, 1);
}

int main(int argc, char **argv) {
  if (argc > 1) g_frames = atoi(argv[1]);
  CHECK(g_frames > 0);
  ParlaCallConfig cfg = {.size = sizeof cfg};
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  ParlaCall *a = NULL, *b = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &a), PARLA_OK);
  CHECK_STATUS(parla_call_new(&cfg, &b), PARLA_OK);
  exchange_keys_as(a, b, "threads-call");
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);

  /* Every audio thread starts at the same deadline and keeps the same 10 ms grid. */
  clock_gettime(CLOCK_MONOTONIC, &g_t0);
  g_t0.tv_sec += 1;
  AudioArgs args[4] = {{a, 1}, {a, 0}, {b, 1}, {b, 0}};
  Pair pair = {a, b};
  pthread_t audio[4], net, ctl;
  for (int i = 0; i < 4; i++) CHECK(pthread_create(&audio[i], NULL, audio_thread, &args[i]) == 0);
  CHECK(pthread_create(&net, NULL, network_thread, &pair) == 0);
  CHECK(pthread_create(&ctl, NULL, control_thread, &pair) == 0);
  for (int i = 0; i < 4; i++) pthread_join(audio[i], NULL);
  atomic_store(&g_done, 1);
  pthread_join(net, NULL);
  pthread_join(ctl, NULL);

  ParlaCallStats sa = {.size = sizeof sa}, sb = {.size = sizeof sb};
  CHECK_STATUS(parla_call_get_stats(a, &sa), PARLA_OK);
  CHECK_STATUS(parla_call_get_stats(b, &sb), PARLA_OK);
  long busy = atomic_load(&g_busy);
  printf("audio callbacks: %ld, BUSY: %ld, other errors: %ld\n", atomic_load(&g_callbacks), busy,
         atomic_load(&g_other_errors));
  printf("A: sent %llu, received %llu, accepted %llu, key epoch %u; B: sent %llu, received %llu, "
         "accepted %llu, peer epoch %u\n",
         (unsigned long long)sa.packets_sent, (unsigned long long)sa.packets_received,
         (unsigned long long)sa.e2ee_accepted, sa.key_epoch, (unsigned long long)sb.packets_sent,
         (unsigned long long)sb.packets_received, (unsigned long long)sb.e2ee_accepted,
         sb.peer_key_epoch);
  CHECK(atomic_load(&g_callbacks) == 4L * g_frames);
  CHECK(busy == 0);
  CHECK(atomic_load(&g_other_errors) == 0);
  /* 20 ms packets: about g_frames / 2 each way; allow for start-up and the pool's warm-up. */
  CHECK(sb.e2ee_accepted > (uint64_t)(g_frames / 2) * 8 / 10);
  CHECK(sa.e2ee_accepted > (uint64_t)(g_frames / 2) * 8 / 10);
  CHECK(sb.e2ee_auth_failures == 0 && sa.e2ee_auth_failures == 0);
  /* B follows A's rotations (a rotation in the last moments may not have reached B yet). */
  CHECK(sa.key_epoch >= 10 && sb.peer_key_epoch + 1 >= sa.key_epoch);

  /* A send callback that removes itself from inside. */
  CHECK_STATUS(parla_call_set_send_callback(a, self_removing_send, a, on_destroy), PARLA_OK);
  float mic[480] = {0}, spk[480];
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (int f = 0; f < 100 && atomic_load(&g_cb_destroyed) == 0; f++) {
    int32_t s = parla_call_push_capture_f32(a, mic, 480);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    s = parla_call_pull_playout_f32(a, spk, 480);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    pace(&t, 10000000L);
  }
  CHECK_STATUS(atomic_load(&g_cb_remove_status), PARLA_OK);
  CHECK(atomic_load(&g_cb_destroyed) == 1);
  int after = atomic_load(&g_cb_packets);
  for (int f = 0; f < 10; f++) {
    parla_call_push_capture_f32(a, mic, 480);
    pace(&t, 10000000L);
  }
  CHECK(atomic_load(&g_cb_packets) == after); /* no longer called */
  size_t n = 0;
  uint8_t pkt[PARLA_MAX_PACKET];
  CHECK_STATUS(parla_call_poll_packet(a, pkt, sizeof pkt, &n), PARLA_OK); /* polled again */

  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_stop(b), PARLA_OK);
  parla_call_free(a);
  parla_call_free(b);
  return finish("c_threads");
}
