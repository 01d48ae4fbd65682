/* End-to-end encryption over a call's life through the C ABI, paced like an audio callback
 * (10 ms): commitments before keys and equal short authentication strings; stop/start of one
 * side and of both with audio back in both directions within 1 s; ROTATIONS key rotations per
 * side SPACING seconds apart with audio flowing after the last; and no (key id, counter) pair
 * ever twice on the wire (every packet's SFrame header is read).
 * Usage: c_e2ee SPEECH.wav [ROTATIONS [SPACING_SECONDS]] */
#define _POSIX_C_SOURCE 200809L

#include "parla.h"
#include "test_util.h"

#define FRAME 480 /* 10 ms at 48 kHz */
#define MAX_WIRE 200000

struct pair {
  uint64_t kid, ctr;
};

static struct pair g_wire[MAX_WIRE];
static size_t g_wire_n = 0;
static size_t g_unparsed = 0;
static size_t g_rtcp = 0;

/* Record the SFrame key id and counter of an RTP packet's payload (RFC 3550 header, RFC 9605
 * section 4.3 SFrame header: config byte X KKK Y CCC, extended fields big-endian). */
static void record(const uint8_t *p, size_t len) {
  /* RTCP (RFC 5761: packet type 192..223 in the second byte) carries no SFrame header. */
  if (len >= 2 && p[1] >= 192 && p[1] <= 223) { g_rtcp++; return; }
  if (len < 12) { g_unparsed++; return; }
  size_t off = 12 + 4 * (size_t)(p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (len < off + 4) { g_unparsed++; return; }
    off += 4 + 4 * (size_t)((p[off + 2] << 8) | p[off + 3]);
  }
  if (len <= off) { g_unparsed++; return; }
  uint8_t cfg = p[off++];
  uint64_t v[2];
  int ext[2] = {cfg & 0x80, cfg & 0x08};
  uint8_t small[2] = {(uint8_t)((cfg >> 4) & 7), (uint8_t)(cfg & 7)};
  for (int k = 0; k < 2; k++) {
    if (!ext[k]) { v[k] = small[k]; continue; }
    size_t n = (size_t)small[k] + 1;
    if (len < off + n) { g_unparsed++; return; }
    v[k] = 0;
    for (size_t i = 0; i < n; i++) v[k] = (v[k] << 8) | p[off + i];
    off += n;
  }
  if (g_wire_n < MAX_WIRE) g_wire[g_wire_n++] = (struct pair){v[0], v[1]};
}

static int cmp_pair(const void *x, const void *y) {
  const struct pair *a = x, *b = y;
  if (a->kid != b->kid) return a->kid < b->kid ? -1 : 1;
  if (a->ctr != b->ctr) return a->ctr < b->ctr ? -1 : 1;
  return 0;
}

/* Move every packet `from` has to `to`, which must answer `want` (PARLA_OK, or
 * PARLA_ERR_NOT_RUNNING for a stopped call). */
static void move_packets(ParlaCall *from, ParlaCall *to, int32_t want) {
  uint8_t pkt[PARLA_MAX_PACKET];
  size_t len = 0;
  int32_t s;
  while ((s = parla_call_poll_packet(from, pkt, sizeof pkt, &len)) == PARLA_OK) {
    record(pkt, len);
    CHECK_STATUS(parla_call_receive_packet(to, pkt, len), want);
  }
  CHECK_STATUS(s, PARLA_NO_PACKET);
}

static const int16_t *g_speech;
static size_t g_speech_frames;
static size_t g_pos;
static struct timespec g_clock;

/* Run both calls for `frames` paced 10 ms ticks (A talks, B is silent; packets both ways). With
 * `a_stopped`, A's audio calls must report that it is not running. */
static void run_with(ParlaCall *a, ParlaCall *b, size_t frames, int a_stopped) {
  static const int16_t silence[FRAME];
  int16_t spk[FRAME];
  for (size_t f = 0; f < frames; f++) {
    const int16_t *mic = g_speech + (g_pos++ % g_speech_frames) * FRAME;
    CHECK_STATUS(parla_call_push_capture_i16(a, mic, FRAME),
                 a_stopped ? PARLA_ERR_NOT_RUNNING : PARLA_OK);
    CHECK_STATUS(parla_call_push_capture_i16(b, silence, FRAME), PARLA_OK);
    move_packets(a, b, PARLA_OK);
    move_packets(b, a, a_stopped ? PARLA_ERR_NOT_RUNNING : PARLA_OK);
    int32_t s = parla_call_pull_playout_i16(b, spk, FRAME);
    CHECK(s == PARLA_OK || s == PARLA_PARTIAL);
    s = parla_call_pull_playout_i16(a, spk, FRAME);
    CHECK(a_stopped ? s == PARLA_ERR_NOT_RUNNING : (s == PARLA_OK || s == PARLA_PARTIAL));
    pace(&g_clock, 10000000L);
  }
}

static void run(ParlaCall *a, ParlaCall *b, size_t frames) { run_with(a, b, frames, 0); }

static uint64_t accepted(ParlaCall *c) {
  ParlaCallStats s = {.size = sizeof s};
  CHECK_STATUS(parla_call_get_stats(c, &s), PARLA_OK);
  return s.e2ee_accepted;
}

/* Run 1 s and check that both sides accepted at least half of the other's 50 packets. */
static void audio_within_a_second(ParlaCall *a, ParlaCall *b, const char *what) {
  uint64_t a0 = accepted(a), b0 = accepted(b);
  run(a, b, 100);
  uint64_t da = accepted(a) - a0, db = accepted(b) - b0;
  printf("%s: accepted in the next second A %llu, B %llu\n", what, (unsigned long long)da,
         (unsigned long long)db);
  CHECK(da >= 25 && db >= 25);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: c_e2ee SPEECH.wav [ROTATIONS [SPACING_SECONDS]]\n");
    return 2;
  }
  int rotations = argc > 2 ? atoi(argv[2]) : 30;
  double spacing = argc > 3 ? atof(argv[3]) : 2.5;
  size_t n_in = 0;
  uint32_t rate = 0;
  int16_t *speech = read_wav_mono16(argv[1], &n_in, &rate);
  if (!speech || rate != 48000 || n_in < FRAME) {
    fprintf(stderr, "cannot read a 48 kHz mono 16-bit WAV from %s\n", argv[1]);
    return 2;
  }
  g_speech = speech;
  g_speech_frames = n_in / FRAME;

  ParlaCallConfig cfg = {.size = sizeof cfg};
  CHECK_STATUS(parla_call_config_default(&cfg), PARLA_OK);
  cfg.aec_mode = PARLA_AEC_OFF;
  ParlaCall *a = NULL, *b = NULL;
  CHECK_STATUS(parla_call_new(&cfg, &a), PARLA_OK);
  CHECK_STATUS(parla_call_new(&cfg, &b), PARLA_OK);
  if (!a || !b) return finish("c_e2ee");

  /* Commitments first, keys only after the peer's commitment arrived. */
  uint8_t ca[PARLA_COMMITMENT_LEN], cb[PARLA_COMMITMENT_LEN];
  CHECK_STATUS(parla_call_local_commitment(a, ca, sizeof ca), PARLA_OK);
  CHECK_STATUS(parla_call_local_commitment(b, cb, sizeof cb), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_commitment(a, cb, sizeof cb), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_commitment(b, ca, sizeof ca), PARLA_OK);
  uint8_t ka[PARLA_KEY_BLOB_LEN], kb[PARLA_KEY_BLOB_LEN];
  const uint8_t id[] = "c-e2ee-test";
  CHECK_STATUS(parla_call_local_public_key(a, ka, sizeof ka), PARLA_OK);
  CHECK_STATUS(parla_call_local_public_key(b, kb, sizeof kb), PARLA_OK);
  uint32_t sas = 0;
  CHECK_STATUS(parla_call_short_auth_string(a, 6, &sas), PARLA_ERR_NO_PEER_KEY);
  /* A key that does not match the commitment (a man in the middle) is refused, and the key
   * pair stays usable. */
  uint8_t forged[PARLA_KEY_BLOB_LEN];
  memcpy(forged, kb, sizeof forged);
  forged[5] ^= 1;
  CHECK_STATUS(parla_call_set_peer_key(a, forged, sizeof forged, id, sizeof id - 1),
               PARLA_ERR_KEY_AGREEMENT);
  CHECK_STATUS(parla_call_set_peer_key(a, kb, sizeof kb, id, sizeof id - 1), PARLA_OK);
  CHECK_STATUS(parla_call_set_peer_key(b, ka, sizeof ka, id, sizeof id - 1), PARLA_OK);
  uint32_t sas_a = 0, sas_b = 1;
  CHECK_STATUS(parla_call_short_auth_string(a, 6, &sas_a), PARLA_OK);
  CHECK_STATUS(parla_call_short_auth_string(b, 6, &sas_b), PARLA_OK);
  CHECK(sas_a == sas_b && sas_a < 1000000);
  CHECK_STATUS(parla_call_short_auth_string(a, 0, &sas_a), PARLA_ERR_KEY_AGREEMENT);
  CHECK_STATUS(parla_call_short_auth_string(a, 10, &sas_a), PARLA_ERR_KEY_AGREEMENT);
  printf("short authentication strings: A %06u, B %06u\n", sas_a, sas_b);

  clock_gettime(CLOCK_MONOTONIC, &g_clock);
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  run(a, b, 100);

  /* Stop/start one side, then both. */
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  run_with(a, b, 20, 1); /* B alone for 200 ms */
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  audio_within_a_second(a, b, "A restarted");
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_stop(b), PARLA_OK);
  CHECK_STATUS(parla_call_start(b, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  CHECK_STATUS(parla_call_start(a, PARLA_AUDIO_MODE_APP_OWNED, NULL, NULL), PARLA_OK);
  audio_within_a_second(a, b, "both restarted");

  /* Rotations on both sides, `spacing` apart. */
  size_t between = (size_t)(spacing * 100.0);
  int failures = 0;
  for (int r = 0; r < rotations; r++) {
    if (parla_call_rotate_key(a) != PARLA_OK) failures++;
    if (parla_call_rotate_key(b) != PARLA_OK) failures++;
    run(a, b, between);
  }
  audio_within_a_second(a, b, "after the last rotation");
  ParlaCallStats sa = {.size = sizeof sa}, sb = {.size = sizeof sb};
  CHECK_STATUS(parla_call_get_stats(a, &sa), PARLA_OK);
  CHECK_STATUS(parla_call_get_stats(b, &sb), PARLA_OK);
  printf("%d rotations per side %.2f s apart: %d failed; epochs A %u/%u B %u/%u (own/peer); "
         "keys expired A %llu B %llu; auth failures A %llu B %llu, replays %llu/%llu\n",
         rotations, spacing, failures, sa.key_epoch, sa.peer_key_epoch, sb.key_epoch,
         sb.peer_key_epoch, (unsigned long long)sa.keys_expired,
         (unsigned long long)sb.keys_expired, (unsigned long long)sa.e2ee_auth_failures,
         (unsigned long long)sb.e2ee_auth_failures, (unsigned long long)sa.e2ee_replays,
         (unsigned long long)sb.e2ee_replays);
  CHECK(failures == 0);
  CHECK(sa.key_epoch == (uint32_t)rotations && sb.key_epoch == (uint32_t)rotations);
  CHECK(sa.peer_key_epoch == (uint32_t)rotations && sb.peer_key_epoch == (uint32_t)rotations);
  CHECK(sa.e2ee_auth_failures == 0 && sb.e2ee_auth_failures == 0);
  CHECK(sa.e2ee_replays == 0 && sb.e2ee_replays == 0);
  /* Congestion control's RTCP kept authenticating through the restarts and rotations (its keys
   * and replay window outlive a run; they do not rotate with the media keys). */
  printf("RTCP: A %llu received / %llu rejected, B %llu / %llu; feedback used A %llu B %llu\n",
         (unsigned long long)sa.rtcp_received, (unsigned long long)sa.rtcp_rejected,
         (unsigned long long)sb.rtcp_received, (unsigned long long)sb.rtcp_rejected,
         (unsigned long long)sa.feedback_received, (unsigned long long)sb.feedback_received);
  CHECK(sa.rtcp_rejected == 0 && sb.rtcp_rejected == 0);
  CHECK(sa.feedback_received > 0 && sb.feedback_received > 0);
  /* B was told of A's rotations; the last event names A's current epoch. */
  ParlaCallEvent ev;
  uint64_t last_rotation = 0;
  int rotation_events = 0, other_events = 0;
  while (parla_call_poll_event(b, &ev) == PARLA_OK) {
    if (ev.kind == PARLA_EVENT_PEER_ROTATED) {
      CHECK(ev.value > last_rotation);
      last_rotation = ev.value;
      rotation_events++;
    } else if (ev.kind != PARLA_EVENT_BANDWIDTH && ev.kind != PARLA_EVENT_AUDIO_ADAPTED) {
      other_events++;
    }
  }
  CHECK_STATUS(parla_call_poll_event(b, &ev), PARLA_NO_EVENT);
  printf("events at B: %d peer rotations (last epoch %llu), %d others\n", rotation_events,
         (unsigned long long)last_rotation, other_events);
  CHECK(last_rotation == (uint64_t)rotations && other_events == 0);
  CHECK_STATUS(parla_call_stop(a), PARLA_OK);
  CHECK_STATUS(parla_call_stop(b), PARLA_OK);

  /* No (key id, counter) pair twice on the wire. */
  qsort(g_wire, g_wire_n, sizeof g_wire[0], cmp_pair);
  size_t repeats = 0;
  for (size_t i = 1; i < g_wire_n; i++) repeats += cmp_pair(&g_wire[i - 1], &g_wire[i]) == 0;
  printf("wire: %zu packets read, %zu unparsed, %zu repeated (key id, counter) pairs, %zu RTCP\n",
         g_wire_n, g_unparsed, repeats, g_rtcp);
  CHECK(g_wire_n > 0 && g_wire_n < MAX_WIRE && g_unparsed == 0 && g_rtcp > 0);
  CHECK(repeats == 0);

  free(speech);
  parla_call_free(a);
  parla_call_free(b);
  return finish("c_e2ee");
}
