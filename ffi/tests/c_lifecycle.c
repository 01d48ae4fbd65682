/* Life cycle: version, defaults, key agreement, new/start/stop/start/stop/free, freeing a running
 * call, repeated cycles, and the send callback with its destroy function. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>

#include "parla.h"
#include "test_util.h"

static atomic_int g_sent;
static atomic_int g_destroyed;

static void on_send(void *ud, const uint8_t *data, size_t len) {
  CHECK(ud == (void *)&g_sent);
  CHECK(data != NULL && len > 12 && len <= PARLA_MAX_PACKET);
  atomic_fetch_add(&g_sent, 1);
}

static void on_destroy(void *ud) {
  CHECK(ud == (void *)&g_sent);
  atomic_fetch_add(&g_destroyed, 1);
}

static void exchange_keys(ParlaCall *a, ParlaCall *b) {
  exchange_keys_as(a, b, "lifecycle-call");
  /* A second peer key is refused. */
  uint8_t kb[PARLA_KEY_BLOB_LEN];
  const uint8_t id[] = "lifecycle-call";
  CHECK_STATUS(parla_call_local_public_key(b, kb, sizeof kb), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_key(a, kb, sizeof kb, id, sizeof id - 1), PARLA_ERR_KEY_AGREEMENT);
}

/* Push `frames` 10 ms frames of a tone into `call` at real-time pace, pulling playout too. */
static void run_audio(ParlaCall *call, int frames) {
  float mic[480], spk[480];
  for (int i = 0; i < 480; i++) mic[i] = 0.3f * (float)((i % 48) - 24) / 24.0f;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (int f = 0; f < frames; f++) {
    int32_t s = parla_call_push_capture_f32(call, mic, 480);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    s = parla_call_pull_playout_f32(call, spk, 480);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    pace(&t, 10000000L);
  }
}

int main(void) {
  uint32_t major = 99, minor = 99, patch = 99;
  CHECK_STATUS(parla_version_numbers(&major, &minor, &patch), PARLA_OK);
  char expect[64];
  snprintf(expect, sizeof expect, "%u.%u.%u", major, minor, patch);
  CHECK(strcmp(parla_version(), expect) == 0);
  printf("parla %s\n", parla_version());

  ParlaCallConfig cfg;
  memset(&cfg, 0xAB, sizeof cfg);
  /* An uninitialised size is refused (and nothing is read past the struct). */
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_ERR_INVALID_ARG);
  cfg.size = sizeof cfg;
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  CHECK(cfg.capture_rate == 48000 && cfg.playout_rate == 48000 && cfg.channels == 1);
  CHECK(cfg.frame_ms == 20 && cfg.e2ee && cfg.aec_mode == PARLA_AEC_AEC3);
  CHECK(cfg.cipher_suite == PARLA_CIPHER_AES_GCM_128_SHA256 && cfg.aec_delay_hint_ms == -1);
  CHECK(cfg.aec_tuning == PARLA_AEC_TUNING_LIBRARY);

  ParlaCall *a = NULL, *b = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &a), PARLA_OK);
  /* b runs AEC3's full-duplex tuning. */
  cfg.aec_tuning = PARLA_AEC_TUNING_NEAR_END;
  CHECK_STATUS(parla_call_new(&cfg, &b), PARLA_OK);
  if (!a || !b) return finish("c_lifecycle");
  CHECK(strcmp(parla_call_last_error(a), "") == 0);
  exchange_keys(a, b);

  /* new -> start -> stop -> start -> stop -> free */
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run_audio(a, 10);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_stop(a), PARLA_ERR_NOT_RUNNING);
  ParlaCallStats st = {.size = sizeof st};
  CHECK_STATUS(parla_call_get_stats(a, &st), PARLA_OK);
  CHECK(st.ticks >= 5 && st.packets_sent >= 2);
  printf("after 100 ms: ticks %llu, packets sent %llu, tick cpu median %.1f us\n",
         (unsigned long long)st.ticks, (unsigned long long)st.packets_sent, st.cpu_tick.median_us);
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_set_muted(a, 1), PARLA_OK);
  CHECK_STATUS(parla_call_set_bitrate(a, 24000), PARLA_OK);
  run_audio(a, 10);
  CHECK_STATUS(parla_call_get_stats(a, &st), PARLA_OK);
  CHECK(st.muted);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);

  /* Repeated cycles. */
  for (int i = 0; i < 20; i++) {
    CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
    CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  }

  /* A rotation on a stopped call: the next start sends on the new epoch. */
  ParlaCallStats before = {.size = sizeof before};
  CHECK_STATUS(parla_call_get_stats(a, &before), PARLA_OK);
  CHECK_STATUS(parla_call_rotate_key(a), PARLA_OK);
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run_audio(a, 10);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_get_stats(a, &st), PARLA_OK);
  CHECK(st.key_epoch == before.key_epoch + 1);
  CHECK(st.packets_sent > before.packets_sent); /* counters continue across runs */
  printf("rotated while stopped: epoch %u -> %u\n", before.key_epoch, st.key_epoch);

  /* The send callback: packets arrive on its thread; destroy runs once on replace/free. */
  CHECK_STATUS(parla_call_set_send_callback(a, on_send, &g_sent, on_destroy), PARLA_OK);
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run_audio(a, 30);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK(atomic_load(&g_sent) >= 5);
  size_t len = 0;
  uint8_t pkt[PARLA_MAX_PACKET];
  CHECK_STATUS(parla_call_poll_packet(a, pkt, sizeof pkt, &len), PARLA_NO_PACKET);
  CHECK(atomic_load(&g_destroyed) == 0);
  CHECK_STATUS(parla_call_set_send_callback(a, NULL, NULL, NULL), PARLA_OK);
  CHECK(atomic_load(&g_destroyed) == 1);
  CHECK_STATUS(parla_call_set_send_callback(a, on_send, &g_sent, on_destroy), PARLA_OK);
  printf("send callback: %d packets\n", atomic_load(&g_sent));

  /* Key rotation on a running call; freeing a running call stops it; freeing with a callback
   * destroys its user data. */
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run_audio(b, 3);
  CHECK_STATUS(parla_call_rotate_key(b), PARLA_OK);
  run_audio(b, 10);
  CHECK_STATUS(parla_call_get_stats(b, &st), PARLA_OK);
  CHECK(st.key_epoch == 1);
  parla_call_free(b);
  parla_call_free(a);
  CHECK(atomic_load(&g_destroyed) == 2);
  return finish("c_lifecycle");
}
