/* An app built against an older header, run with this library: its ParlaCallStats is the first
 * sized layout (version 1, before `media_failed`), declared here as that header had it. The
 * library must write exactly the fields that layout has (never past it: a canary follows the
 * struct), keep its size field, and fill them with the same values a current app gets. Its
 * ParlaCallConfig is the current one (the first sized layout), read in full. */
#define _POSIX_C_SOURCE 200809L
#include <stdalign.h>
#include <stddef.h>

#include "parla.h"
#include "test_util.h"

/* ParlaCallStats as version 1 of the header declared it. */
typedef struct ParlaCallStatsV1 {
    uint32_t size;
    uint64_t ticks;
    uint64_t packets_sent;
    uint64_t bytes_sent;
    uint64_t packets_received;
    uint64_t bytes_received;
    uint64_t packets_invalid;
    uint64_t e2ee_accepted;
    uint64_t e2ee_auth_failures;
    uint64_t e2ee_replays;
    uint64_t e2ee_unknown_key;
    uint64_t e2ee_malformed;
    uint64_t queue_drops;
    uint64_t packets_lost;
    uint64_t packets_late;
    uint64_t packets_duplicate;
    uint64_t packets_reordered;
    uint64_t fec_recovered;
    uint64_t concealed_samples;
    uint64_t concealment_events;
    uint64_t interruptions;
    uint64_t output_samples;
    double jitter_delay_ms;
    double jitter_target_ms;
    double jitter_mean_wait_ms;
    double jitter_p95_wait_ms;
    float send_level_dbfs;
    float playout_level_dbfs;
    int32_t echo_delay_ms;
    bool echo_voice;
    uint64_t echo_render_underruns;
    uint64_t capture_overrun_samples;
    uint64_t playout_underrun_samples;
    uint64_t device_events;
    uint64_t device_recoveries;
    bool muted;
    uint32_t key_epoch;
    struct ParlaStageCpu cpu_resample_in;
    struct ParlaStageCpu cpu_echo;
    struct ParlaStageCpu cpu_noise;
    struct ParlaStageCpu cpu_encode;
    struct ParlaStageCpu cpu_encrypt;
    struct ParlaStageCpu cpu_decrypt;
    struct ParlaStageCpu cpu_playout;
    struct ParlaStageCpu cpu_tick;
    uint32_t peer_key_epoch;
    uint64_t keys_expired;
    uint64_t ssrc_changes;
    uint64_t send_failures;
    uint64_t capture_sanitized_samples;
    uint64_t playout_clamped_samples;
} ParlaCallStatsV1;

_Static_assert(sizeof(ParlaCallStatsV1) < sizeof(ParlaCallStats), "v1 is a prefix");
_Static_assert(offsetof(ParlaCallStatsV1, playout_clamped_samples) ==
                   offsetof(ParlaCallStats, playout_clamped_samples),
               "fields are only appended");

/* The old app's stats with what its memory holds after them. */
typedef struct {
  ParlaCallStatsV1 st;
  unsigned char canary[64];
} OldStats;

int main(void) {
  ParlaCallConfig cfg = {.size = sizeof cfg};
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  ParlaCall *a = NULL, *b = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &a), PARLA_OK);
  CHECK_STATUS(parla_call_new(&cfg, &b), PARLA_OK);
  if (!a || !b) return finish("c_old_layout");
  exchange_keys_as(a, b, "old-layout-call");
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  float mic[480], spk[480];
  for (int i = 0; i < 480; i++) mic[i] = 0.3f * (float)((i % 48) - 24) / 24.0f;
  uint8_t pkt[PARLA_MAX_PACKET];
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  for (int f = 0; f < 150; f++) {
    parla_call_push_capture_f32(a, mic, 480);
    parla_call_pull_playout_f32(a, spk, 480);
    parla_call_push_capture_f32(b, mic, 480);
    parla_call_pull_playout_f32(b, spk, 480);
    size_t n = 0;
    while (parla_call_poll_packet(a, pkt, sizeof pkt, &n) == PARLA_OK) parla_call_receive_packet(b, pkt, n);
    while (parla_call_poll_packet(b, pkt, sizeof pkt, &n) == PARLA_OK) parla_call_receive_packet(a, pkt, n);
    pace(&t, 10000000L);
  }
  CHECK_STATUS(parla_call_stop(b), PARLA_OK);

  OldStats old;
  memset(&old, 0x5A, sizeof old);
  old.st.size = sizeof old.st;
  CHECK_STATUS(parla_call_get_stats(b, (ParlaCallStats *)&old.st), PARLA_OK);
  ParlaCallStats now = {.size = sizeof now};
  CHECK_STATUS(parla_call_get_stats(b, &now), PARLA_OK);
  int canary_ok = 1;
  for (size_t i = 0; i < sizeof old.canary; i++) canary_ok &= old.canary[i] == 0x5A;
  printf("old layout: %zu bytes (current %zu); canary %s; ticks %llu, sent %llu, accepted %llu, "
         "clamped %llu\n",
         sizeof old.st, sizeof now, canary_ok ? "intact" : "OVERWRITTEN",
         (unsigned long long)old.st.ticks, (unsigned long long)old.st.packets_sent,
         (unsigned long long)old.st.e2ee_accepted,
         (unsigned long long)old.st.playout_clamped_samples);
  CHECK(canary_ok);
  CHECK(old.st.size == sizeof old.st);
  /* The call is stopped: both reads see the same final numbers. */
  CHECK(old.st.ticks == now.ticks && old.st.ticks >= 100);
  CHECK(old.st.packets_sent == now.packets_sent && old.st.packets_sent > 40);
  CHECK(old.st.e2ee_accepted == now.e2ee_accepted && old.st.e2ee_accepted > 40);
  CHECK(old.st.key_epoch == now.key_epoch);
  CHECK(old.st.cpu_tick.frames == now.cpu_tick.frames && old.st.cpu_tick.frames > 0);
  CHECK(old.st.playout_clamped_samples == now.playout_clamped_samples);
  /* A size that is no layout's is refused, and nothing is written. */
  memset(&old, 0x5A, sizeof old);
  old.st.size = sizeof old.st - 8;
  CHECK_STATUS(parla_call_get_stats(b, (ParlaCallStats *)&old.st), PARLA_ERR_INVALID_ARG);
  CHECK(old.st.ticks == 0x5A5A5A5A5A5A5A5AULL);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  parla_call_free(a);
  parla_call_free(b);
  return finish("c_old_layout");
}
