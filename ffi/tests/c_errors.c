/* Error paths of every entry point: NULL for each pointer argument (table-driven), invalid
 * lengths, modes and configurations. Every row must return an error status, not crash.
 * The Rust runner (c_tests.rs) checks that every function of parla.h is named in this file. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "parla.h"
#include "test_util.h"

static ParlaCall *g_call;      /* a valid, stopped call (e2ee on, no peer key) */
static ParlaCallConfig g_cfg;  /* valid defaults */
static uint8_t g_buf[PARLA_MAX_PACKET];
static float g_f32[480];
static int16_t g_i16[480];
static size_t g_len;
static uint32_t g_u32;
static ParlaCallStats g_stats;
static ParlaCall *g_out;
static int g_destroyed;

static void on_send(void *ud, const uint8_t *data, size_t len) { (void)ud; (void)data; (void)len; }
static void on_destroy(void *ud) { (void)ud; g_destroyed++; }

/* One row per NULL pointer argument of each entry point. */
static int32_t n_version_major(void) { return parla_version_numbers(NULL, &g_u32, &g_u32); }
static int32_t n_version_minor(void) { return parla_version_numbers(&g_u32, NULL, &g_u32); }
static int32_t n_version_patch(void) { return parla_version_numbers(&g_u32, &g_u32, NULL); }
static int32_t n_config_default(void) { return parla_call_config_default(NULL); }
static int32_t n_new_cfg(void) { return parla_call_new(NULL, &g_out); }
static int32_t n_new_out(void) { return parla_call_new(&g_cfg, NULL); }
static int32_t n_err_copy_call(void) { return parla_call_last_error_copy(NULL, (char *)g_buf, 8); }
static int32_t n_err_copy_buf(void) { return parla_call_last_error_copy(g_call, NULL, 8); }
static int32_t n_pubkey_call(void) { return parla_call_local_public_key(NULL, g_buf, 64); }
static int32_t n_pubkey_buf(void) { return parla_call_local_public_key(g_call, NULL, 64); }
static int32_t n_peer_call(void) { return parla_call_set_peer_key(NULL, g_buf, 33, g_buf, 4); }
static int32_t n_peer_key(void) { return parla_call_set_peer_key(g_call, NULL, 33, g_buf, 4); }
static int32_t n_peer_id(void) { return parla_call_set_peer_key(g_call, g_buf, 33, NULL, 4); }
static int32_t n_commit_call(void) { return parla_call_local_commitment(NULL, g_buf, 64); }
static int32_t n_commit_buf(void) { return parla_call_local_commitment(g_call, NULL, 64); }
static int32_t n_peer_commit_call(void) {
  return parla_call_set_peer_commitment(NULL, g_buf, PARLA_COMMITMENT_LEN);
}
static int32_t n_peer_commit_data(void) {
  return parla_call_set_peer_commitment(g_call, NULL, PARLA_COMMITMENT_LEN);
}
static uint32_t g_sas;
static int32_t n_sas_call(void) { return parla_call_short_auth_string(NULL, 6, &g_sas); }
static int32_t n_sas_out(void) { return parla_call_short_auth_string(g_call, 6, NULL); }
static ParlaCallEvent g_event;
static int32_t n_event_call(void) { return parla_call_poll_event(NULL, &g_event); }
static int32_t n_event_out(void) { return parla_call_poll_event(g_call, NULL); }
static int32_t n_safety_call(void) { return parla_call_safety_code(NULL, (char *)g_buf, 128); }
static int32_t n_safety_buf(void) { return parla_call_safety_code(g_call, NULL, 128); }
static int32_t n_start_call(void) { return parla_call_start(NULL, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL); }
static int32_t n_stop_call(void) { return parla_call_stop(NULL); }
static int32_t n_push_f32_call(void) { return parla_call_push_capture_f32(NULL, g_f32, 480); }
static int32_t n_push_f32_buf(void) { return parla_call_push_capture_f32(g_call, NULL, 480); }
static int32_t n_push_i16_call(void) { return parla_call_push_capture_i16(NULL, g_i16, 480); }
static int32_t n_push_i16_buf(void) { return parla_call_push_capture_i16(g_call, NULL, 480); }
static int32_t n_pull_f32_call(void) { return parla_call_pull_playout_f32(NULL, g_f32, 480); }
static int32_t n_pull_f32_buf(void) { return parla_call_pull_playout_f32(g_call, NULL, 480); }
static int32_t n_pull_i16_call(void) { return parla_call_pull_playout_i16(NULL, g_i16, 480); }
static int32_t n_pull_i16_buf(void) { return parla_call_pull_playout_i16(g_call, NULL, 480); }
static int32_t n_recv_call(void) { return parla_call_receive_packet(NULL, g_buf, 100); }
static int32_t n_recv_data(void) { return parla_call_receive_packet(g_call, NULL, 100); }
static int32_t n_poll_call(void) { return parla_call_poll_packet(NULL, g_buf, sizeof g_buf, &g_len); }
static int32_t n_poll_buf(void) { return parla_call_poll_packet(g_call, NULL, sizeof g_buf, &g_len); }
static int32_t n_poll_len(void) { return parla_call_poll_packet(g_call, g_buf, sizeof g_buf, NULL); }
static int32_t n_send_cb_call(void) { return parla_call_set_send_callback(NULL, on_send, NULL, on_destroy); }
static int32_t n_muted_call(void) { return parla_call_set_muted(NULL, 1); }
static int32_t n_bitrate_call(void) { return parla_call_set_bitrate(NULL, 24000); }
static int32_t n_rotate_call(void) { return parla_call_rotate_key(NULL); }
static int32_t n_stats_call(void) { return parla_call_get_stats(NULL, &g_stats); }
static int32_t n_stats_out(void) { return parla_call_get_stats(g_call, NULL); }

static ParlaVideoConfig g_vcfg;
static ParlaVideoFrameInfo g_vinfo;
static ParlaVideoStats g_vstats;
static uint8_t g_pix[64 * 64 * 4];
static int32_t n_vconfig_default(void) { return parla_video_config_default(NULL); }
static int32_t n_new_video_cfg(void) { return parla_call_new_video(NULL, &g_vcfg, &g_out); }
static int32_t n_new_video_vcfg(void) { return parla_call_new_video(&g_cfg, NULL, &g_out); }
static int32_t n_new_video_out(void) { return parla_call_new_video(&g_cfg, &g_vcfg, NULL); }
static int32_t n_vpush_call(void) {
  return parla_call_push_video_frame(NULL, PARLA_PIXEL_I420, 16, 16, g_pix, 16, g_pix, 8, g_pix, 8);
}
static int32_t n_vpush_plane(void) {
  return parla_call_push_video_frame(g_call, PARLA_PIXEL_I420, 16, 16, g_pix, 16, NULL, 8, g_pix,
                                     8);
}
static int32_t n_vpull_call(void) {
  return parla_call_pull_video_frame(NULL, g_pix, 16, g_pix, g_pix, 8, 16, 16, &g_vinfo);
}
static int32_t n_vpull_y(void) {
  return parla_call_pull_video_frame(g_call, NULL, 16, g_pix, g_pix, 8, 16, 16, &g_vinfo);
}
static int32_t n_vpull_info(void) {
  return parla_call_pull_video_frame(g_call, g_pix, 16, g_pix, g_pix, 8, 16, 16, NULL);
}
static int32_t n_vstats_call(void) { return parla_call_get_video_stats(NULL, &g_vstats); }
static int32_t n_vstats_out(void) { return parla_call_get_video_stats(g_call, NULL); }

struct row {
  const char *name;
  int32_t (*fn)(void);
};

static const struct row NULL_ROWS[] = {
    {"parla_version_numbers(major=NULL)", n_version_major},
    {"parla_version_numbers(minor=NULL)", n_version_minor},
    {"parla_version_numbers(patch=NULL)", n_version_patch},
    {"parla_call_config_default(cfg=NULL)", n_config_default},
    {"parla_call_new(cfg=NULL)", n_new_cfg},
    {"parla_call_new(out_call=NULL)", n_new_out},
    {"parla_call_last_error_copy(call=NULL)", n_err_copy_call},
    {"parla_call_last_error_copy(buf=NULL)", n_err_copy_buf},
    {"parla_call_local_public_key(call=NULL)", n_pubkey_call},
    {"parla_call_local_public_key(buf=NULL)", n_pubkey_buf},
    {"parla_call_set_peer_key(call=NULL)", n_peer_call},
    {"parla_call_set_peer_key(peer_key=NULL)", n_peer_key},
    {"parla_call_set_peer_key(call_id=NULL)", n_peer_id},
    {"parla_call_local_commitment(call=NULL)", n_commit_call},
    {"parla_call_local_commitment(buf=NULL)", n_commit_buf},
    {"parla_call_set_peer_commitment(call=NULL)", n_peer_commit_call},
    {"parla_call_set_peer_commitment(commitment=NULL)", n_peer_commit_data},
    {"parla_call_short_auth_string(call=NULL)", n_sas_call},
    {"parla_call_short_auth_string(out=NULL)", n_sas_out},
    {"parla_call_poll_event(call=NULL)", n_event_call},
    {"parla_call_poll_event(out=NULL)", n_event_out},
    {"parla_call_safety_code(call=NULL)", n_safety_call},
    {"parla_call_safety_code(buf=NULL)", n_safety_buf},
    {"parla_call_start(call=NULL)", n_start_call},
    {"parla_call_stop(call=NULL)", n_stop_call},
    {"parla_call_push_capture_f32(call=NULL)", n_push_f32_call},
    {"parla_call_push_capture_f32(samples=NULL)", n_push_f32_buf},
    {"parla_call_push_capture_i16(call=NULL)", n_push_i16_call},
    {"parla_call_push_capture_i16(samples=NULL)", n_push_i16_buf},
    {"parla_call_pull_playout_f32(call=NULL)", n_pull_f32_call},
    {"parla_call_pull_playout_f32(out=NULL)", n_pull_f32_buf},
    {"parla_call_pull_playout_i16(call=NULL)", n_pull_i16_call},
    {"parla_call_pull_playout_i16(out=NULL)", n_pull_i16_buf},
    {"parla_call_receive_packet(call=NULL)", n_recv_call},
    {"parla_call_receive_packet(data=NULL)", n_recv_data},
    {"parla_call_poll_packet(call=NULL)", n_poll_call},
    {"parla_call_poll_packet(buf=NULL)", n_poll_buf},
    {"parla_call_poll_packet(out_len=NULL)", n_poll_len},
    {"parla_call_set_send_callback(call=NULL)", n_send_cb_call},
    {"parla_call_set_muted(call=NULL)", n_muted_call},
    {"parla_call_set_bitrate(call=NULL)", n_bitrate_call},
    {"parla_call_rotate_key(call=NULL)", n_rotate_call},
    {"parla_call_get_stats(call=NULL)", n_stats_call},
    {"parla_call_get_stats(out=NULL)", n_stats_out},
    {"parla_video_config_default(cfg=NULL)", n_vconfig_default},
    {"parla_call_new_video(cfg=NULL)", n_new_video_cfg},
    {"parla_call_new_video(video=NULL)", n_new_video_vcfg},
    {"parla_call_new_video(out_call=NULL)", n_new_video_out},
    {"parla_call_push_video_frame(call=NULL)", n_vpush_call},
    {"parla_call_push_video_frame(plane1=NULL)", n_vpush_plane},
    {"parla_call_pull_video_frame(call=NULL)", n_vpull_call},
    {"parla_call_pull_video_frame(y=NULL)", n_vpull_y},
    {"parla_call_pull_video_frame(info=NULL)", n_vpull_info},
    {"parla_call_get_video_stats(call=NULL)", n_vstats_call},
    {"parla_call_get_video_stats(out=NULL)", n_vstats_out},
};

static void null_arguments(void) {
  size_t rows = sizeof NULL_ROWS / sizeof NULL_ROWS[0];
  for (size_t i = 0; i < rows; i++) {
    int32_t s = NULL_ROWS[i].fn();
    if (s != PARLA_ERR_NULL_ARG) {
      fprintf(stderr, "%s returned %d (%s), expected PARLA_ERR_NULL_ARG\n", NULL_ROWS[i].name, s,
              parla_status_str(s));
      g_failures++;
    }
  }
  printf("null arguments: %zu rows\n", rows);
  /* The functions without a status: NULL is harmless and documented. */
  CHECK(parla_call_last_error(NULL) == NULL);
  parla_call_free(NULL);
  /* A NULL call in set_send_callback must not take ownership of user_data. */
  CHECK(g_destroyed == 0);
  /* Functions without pointer arguments still return valid strings. */
  CHECK(parla_version() != NULL && strlen(parla_version()) > 0);
  CHECK(parla_last_error() != NULL);
  CHECK(strcmp(parla_status_str(123456), "unknown status") == 0);
  for (int32_t s = -15; s <= 3; s++) CHECK(strncmp(parla_status_str(s), "PARLA_", 6) == 0);
}

static void bad_config(const char *field, const char *want, ParlaCallConfig cfg) {
  ParlaCall *call = (ParlaCall *)&g_cfg; /* must be overwritten with NULL */
  int32_t s = parla_call_new(&cfg, &call);
  if (s != PARLA_ERR_INVALID_CONFIG || call != NULL) {
    fprintf(stderr, "bad %s: status %d (%s), call %p\n", field, s, parla_status_str(s), (void *)call);
    g_failures++;
    parla_call_free(call == (ParlaCall *)&g_cfg ? NULL : call);
    return;
  }
  const char *msg = parla_last_error();
  if (!strstr(msg, want)) {
    fprintf(stderr, "bad %s: message \"%s\" does not contain \"%s\"\n", field, msg, want);
    g_failures++;
  }
}

/* The message names the field (or, for the engine's own checks, the bad value). */
#define BAD_MSG(field, value, want)    \
  do {                                 \
    ParlaCallConfig c_ = g_cfg;        \
    c_.field = value;                  \
    bad_config(#field, want, c_);      \
  } while (0)
#define BAD(field, value) BAD_MSG(field, value, #field)

static void invalid_configs(void) {
  BAD(capture_rate, 12345);
  BAD(capture_rate, 24000);
  BAD(capture_rate, 22050);
  BAD(playout_rate, 0);
  BAD(channels, 3);
  BAD(channels, 70000);
  BAD(bitrate_bps, 100);
  BAD_MSG(frame_ms, 25, "frame duration: 25");
  BAD(complexity, 11);
  BAD(expected_loss_percent, 101);
  BAD(aec_mode, 9);
  BAD(aec_delay_hint_ms, -5);
  BAD(aec_tuning, 7);
  {
    /* The near-end tuning is AEC3's: refused with the mobile canceller, naming the field. */
    ParlaCallConfig c_ = g_cfg;
    c_.aec_mode = PARLA_AEC_MOBILE;
    c_.aec_tuning = PARLA_AEC_TUNING_NEAR_END;
    bad_config("aec_tuning with aec_mode mobile", "aec_tuning", c_);
  }
  BAD(ns_strength, 2.0f);
  BAD(ns_strength, NAN);
  BAD(jitter_start_delay_ms, 5000);
  BAD(cipher_suite, -1);
  BAD(payload_type, 200);
  BAD(packet_queue, 0);
  BAD(ring_ms, 10);
  BAD(playout_headroom_ms, 150);
  ParlaCall *ok = NULL;
  CHECK_STATUS(parla_call_new(&g_cfg, &ok), PARLA_OK);
  CHECK(ok != NULL);
  parla_call_free(ok);
}

static void invalid_arguments(void) {
  char text[128];
  /* Buffers too small, empty ids, keys of the wrong length. */
  CHECK_STATUS(parla_call_local_public_key(g_call, g_buf, PARLA_KEY_BLOB_LEN - 1), PARLA_ERR_BUFFER_TOO_SMALL);
  CHECK(strstr(parla_call_last_error(g_call), "33") != NULL);
  CHECK_STATUS(parla_call_safety_code(g_call, text, sizeof text), PARLA_ERR_NO_PEER_KEY);
  CHECK_STATUS(parla_call_safety_code(g_call, text, PARLA_SAFETY_CODE_LEN - 1), PARLA_ERR_BUFFER_TOO_SMALL);
  CHECK_STATUS(parla_call_set_peer_key(g_call, g_buf, 32, (const uint8_t *)"id", 2), PARLA_ERR_KEY_AGREEMENT);
  CHECK_STATUS(parla_call_set_peer_key(g_call, g_buf, 33, (const uint8_t *)"id", 0), PARLA_ERR_INVALID_ARG);
  uint8_t own[PARLA_KEY_BLOB_LEN];
  CHECK_STATUS(parla_call_local_public_key(g_call, own, sizeof own), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_key(g_call, own, sizeof own, (const uint8_t *)"id", 2), PARLA_ERR_KEY_AGREEMENT);
  CHECK_STATUS(parla_call_last_error_copy(g_call, text, 0), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_last_error_copy(g_call, text, 5), PARLA_OK);
  CHECK(strlen(text) == 4);
  /* Starting: unknown mode, device names in app-owned mode, e2ee without a peer key. */
  CHECK_STATUS(parla_call_start(g_call, 7, NULL, NULL), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_start(g_call, PARLA_AUDIO_MODE_APP_OWNED, "default", NULL), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_start(g_call, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_ERR_NO_PEER_KEY);
  CHECK(strlen(parla_call_last_error(g_call)) > 0);
  /* Everything that needs a running call. */
  CHECK_STATUS(parla_call_stop(g_call), PARLA_ERR_NOT_RUNNING);
  CHECK_STATUS(parla_call_push_capture_f32(g_call, g_f32, 480), PARLA_ERR_NOT_RUNNING);
  CHECK_STATUS(parla_call_push_capture_i16(g_call, g_i16, 480), PARLA_ERR_NOT_RUNNING);
  g_f32[0] = 1.0f;
  CHECK_STATUS(parla_call_pull_playout_f32(g_call, g_f32, 480), PARLA_ERR_NOT_RUNNING);
  CHECK(g_f32[0] == 0.0f); /* silence on error */
  CHECK_STATUS(parla_call_pull_playout_i16(g_call, g_i16, 480), PARLA_ERR_NOT_RUNNING);
  CHECK_STATUS(parla_call_receive_packet(g_call, g_buf, 100), PARLA_ERR_NOT_RUNNING);
  CHECK_STATUS(parla_call_receive_packet(g_call, g_buf, 0), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_receive_packet(g_call, g_buf, PARLA_MAX_PACKET + 1), PARLA_ERR_INVALID_ARG);
  g_len = 99;
  CHECK_STATUS(parla_call_poll_packet(g_call, g_buf, sizeof g_buf, &g_len), PARLA_NO_PACKET);
  CHECK(g_len == 0);
  /* Mute and bitrate work in any state (applied from the next start). */
  CHECK_STATUS(parla_call_set_muted(g_call, 1), PARLA_OK);
  CHECK_STATUS(parla_call_set_muted(g_call, 0), PARLA_OK);
  CHECK_STATUS(parla_call_set_bitrate(g_call, 24000), PARLA_OK);
  CHECK_STATUS(parla_call_set_bitrate(g_call, 100), PARLA_ERR_INVALID_CONFIG);
  CHECK_STATUS(parla_call_set_bitrate(g_call, 600000), PARLA_ERR_INVALID_CONFIG);
  CHECK_STATUS(parla_call_rotate_key(g_call), PARLA_ERR_NO_PEER_KEY);
  /* Lengths that cannot be a buffer (would overflow isize). */
  CHECK_STATUS(parla_call_push_capture_f32(g_call, g_f32, SIZE_MAX), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_pull_playout_i16(g_call, g_i16, SIZE_MAX / 2), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_receive_packet(g_call, g_buf, SIZE_MAX), PARLA_ERR_INVALID_ARG);

  /* A running stereo call without encryption: lengths that are not whole frames. */
  ParlaCallConfig cfg = g_cfg;
  cfg.e2ee = false;
  cfg.channels = 2;
  ParlaCall *st = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &st), PARLA_OK);
  CHECK_STATUS(parla_call_rotate_key(st), PARLA_ERR_WRONG_MODE);
  CHECK_STATUS(parla_call_start(st, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(st, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_ERR_ALREADY_RUNNING);
  CHECK_STATUS(parla_call_push_capture_f32(st, g_f32, 481), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_push_capture_i16(st, g_i16, 3), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_pull_playout_f32(st, g_f32, 479), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_pull_playout_i16(st, g_i16, 1), PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_push_capture_f32(st, g_f32, 480), PARLA_OK);
  CHECK_STATUS(parla_call_set_bitrate(st, 100), PARLA_ERR_INVALID_CONFIG);
  CHECK_STATUS(parla_call_set_muted(st, 1), PARLA_OK);
  /* Garbage packets are taken and counted as invalid, never played. */
  for (size_t i = 0; i < sizeof g_buf; i++) g_buf[i] = (uint8_t)(i * 37 + 11);
  CHECK_STATUS(parla_call_receive_packet(st, g_buf, 200), PARLA_OK);
  uint8_t tiny[4];
  g_len = 0;
  int32_t s = parla_call_poll_packet(st, tiny, sizeof tiny, &g_len);
  CHECK(s == PARLA_NO_PACKET || s == PARLA_ERR_BUFFER_TOO_SMALL);
  CHECK_STATUS(parla_call_stop(st), PARLA_OK);
  parla_call_free(st);
}

/* Sized structs: the size must be one of a layout's; a newer app's struct is accepted when the
 * fields this library does not know are zero; a NULL call still silences the speaker buffer. */
static void sized_structs(void) {
  ParlaCallConfig c = {.size = 0};
  CHECK_STATUS(parla_call_config_default(&c), PARLA_ERR_INVALID_ARG);
  CHECK(strstr(parla_last_error(), "size") != NULL);
  c.size = 7;
  CHECK_STATUS(parla_call_config_default(&c), PARLA_ERR_INVALID_ARG);
  ParlaCall *call = NULL;
  CHECK_STATUS(parla_call_new(&c, &call), PARLA_ERR_INVALID_ARG);
  CHECK(call == NULL);
  ParlaCallStats st = {.size = 0};
  CHECK_STATUS(parla_call_get_stats(g_call, &st), PARLA_ERR_INVALID_ARG);
  CHECK(strstr(parla_call_last_error(g_call), "ParlaCallStats.size") != NULL);
  /* A newer app: its struct is 16 bytes longer. */
  struct {
    ParlaCallConfig cfg;
    uint32_t newer[4];
  } big;
  memset(&big, 0, sizeof big);
  big.cfg.size = sizeof big;
  CHECK_STATUS(parla_call_config_default(&big.cfg), PARLA_OK);
  CHECK(big.cfg.size == sizeof big && big.cfg.capture_rate == 48000 && big.newer[3] == 0);
  CHECK_STATUS(parla_call_new(&big.cfg, &call), PARLA_OK);
  struct {
    ParlaCallStats st;
    uint64_t newer[2];
  } bigst;
  memset(&bigst, 0xAB, sizeof bigst);
  bigst.st.size = sizeof bigst;
  CHECK_STATUS(parla_call_get_stats(call, &bigst.st), PARLA_OK);
  CHECK(bigst.st.size == sizeof bigst && bigst.newer[0] == 0 && bigst.newer[1] == 0);
  CHECK(bigst.st.ticks == 0 && bigst.st.media_failed == 0);
  parla_call_free(call);
  call = NULL;
  big.newer[1] = 1; /* an option this library does not know: refused */
  CHECK_STATUS(parla_call_new(&big.cfg, &call), PARLA_ERR_INVALID_CONFIG);
  CHECK(strstr(parla_last_error(), "does not know") != NULL);
  CHECK(call == NULL);
  /* Pull with a NULL call: silence in the buffer. */
  float f[4] = {1, 1, 1, 1};
  int16_t i[4] = {1, 1, 1, 1};
  CHECK_STATUS(parla_call_pull_playout_f32(NULL, f, 4), PARLA_ERR_NULL_ARG);
  CHECK_STATUS(parla_call_pull_playout_i16(NULL, i, 4), PARLA_ERR_NULL_ARG);
  CHECK(f[0] == 0.0f && f[3] == 0.0f && i[0] == 0 && i[3] == 0);
}

/* Video: bad video configs, frames and buffers, and video calls on a call without video. */
static void video_errors(void) {
  ParlaVideoConfig v = g_vcfg;
  ParlaCall *c = NULL;
  v.codec = 7;
  CHECK_STATUS(parla_call_new_video(&g_cfg, &v, &c), PARLA_ERR_INVALID_CONFIG);
  CHECK(c == NULL);
  v = g_vcfg;
  v.width = 641; /* odd */
  CHECK_STATUS(parla_call_new_video(&g_cfg, &v, &c), PARLA_ERR_INVALID_CONFIG);
  v = g_vcfg;
  v.payload_type = g_cfg.payload_type; /* the audio's */
  CHECK_STATUS(parla_call_new_video(&g_cfg, &v, &c), PARLA_ERR_INVALID_CONFIG);
  v = g_vcfg;
  v.size = 3;
  CHECK_STATUS(parla_call_new_video(&g_cfg, &v, &c), PARLA_ERR_INVALID_ARG);
  ParlaCallConfig nocc = g_cfg;
  nocc.congestion_control_off = true; /* video needs the bandwidth estimate */
  CHECK_STATUS(parla_call_new_video(&nocc, &g_vcfg, &c), PARLA_ERR_INVALID_CONFIG);
  CHECK(c == NULL);
  /* Frames: bad format, odd size, short stride; then a good frame on a call without video. */
  CHECK_STATUS(parla_call_push_video_frame(g_call, 9, 16, 16, g_pix, 16, g_pix, 8, g_pix, 8),
               PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_push_video_frame(g_call, PARLA_PIXEL_I420, 15, 16, g_pix, 16, g_pix, 8,
                                           g_pix, 8),
               PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_push_video_frame(g_call, PARLA_PIXEL_I420, 16, 16, g_pix, 15, g_pix, 8,
                                           g_pix, 8),
               PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_push_video_frame(g_call, PARLA_PIXEL_I420, 16, 16, g_pix, 16, g_pix, 8,
                                           g_pix, 8),
               PARLA_ERR_WRONG_MODE);
  CHECK_STATUS(parla_call_push_video_frame(g_call, PARLA_PIXEL_RGBA, 16, 16, g_pix, 64, NULL, 0,
                                           NULL, 0),
               PARLA_ERR_WRONG_MODE);
  CHECK_STATUS(parla_call_pull_video_frame(g_call, g_pix, 8, g_pix, g_pix, 8, 16, 16, &g_vinfo),
               PARLA_ERR_INVALID_ARG);
  CHECK_STATUS(parla_call_pull_video_frame(g_call, g_pix, 16, g_pix, g_pix, 8, 16, 16, &g_vinfo),
               PARLA_ERR_WRONG_MODE);
  g_vstats.size = 5;
  CHECK_STATUS(parla_call_get_video_stats(g_call, &g_vstats), PARLA_ERR_INVALID_ARG);
  g_vstats.size = sizeof g_vstats;
  CHECK_STATUS(parla_call_get_video_stats(g_call, &g_vstats), PARLA_OK);
  CHECK(g_vstats.frames_decoded == 0 && g_vstats.size == sizeof g_vstats);
  /* A stopped call with video: not running. */
  CHECK_STATUS(parla_call_new_video(&g_cfg, &g_vcfg, &c), PARLA_OK);
  CHECK_STATUS(parla_call_push_video_frame(c, PARLA_PIXEL_I420, 16, 16, g_pix, 16, g_pix, 8, g_pix,
                                           8),
               PARLA_ERR_NOT_RUNNING);
  parla_call_free(c);
  printf("video errors: ok\n");
}

int main(void) {
  g_cfg.size = sizeof g_cfg;
  g_stats.size = sizeof g_stats;
  g_vcfg.size = sizeof g_vcfg;
  g_vstats.size = sizeof g_vstats;
  CHECK_STATUS(parla_call_config_default(&g_cfg), PARLA_OK);
  CHECK_STATUS(parla_video_config_default(&g_vcfg), PARLA_OK);
  CHECK_STATUS(parla_call_new(&g_cfg, &g_call), PARLA_OK);
  if (!g_call) return finish("c_errors");
  null_arguments();
  invalid_configs();
  invalid_arguments();
  sized_structs();
  video_errors();
  parla_call_free(g_call);
  return finish("c_errors");
}
