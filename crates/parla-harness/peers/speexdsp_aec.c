/* The libspeexdsp peer of `parla bench`: echo canceller (MDF) + preprocessor (noise suppression
 * and residual echo suppression) over raw mono s16le files, one 10 ms frame at a time.
 *
 * usage: speexdsp_aec RATE TAIL_MS DENOISE(0|1) MIC.raw FAR.raw|- OUT.raw
 *   FAR "-" runs the preprocessor alone (no echo canceller).
 * Built by the harness with the system C compiler: cc -O2 speexdsp_aec.c -lspeexdsp.
 * Exit status 0 on success, 1 on bad arguments, 2 on I/O errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s RATE TAIL_MS DENOISE MIC.raw FAR.raw|- OUT.raw\n", argv[0]);
        return 1;
    }
    int rate = atoi(argv[1]);
    int tail_ms = atoi(argv[2]);
    int denoise = atoi(argv[3]);
    if (rate < 8000 || rate > 96000 || tail_ms < 10 || tail_ms > 2000) {
        fprintf(stderr, "bad rate or tail\n");
        return 1;
    }
    int frame = rate / 100;
    int use_far = strcmp(argv[5], "-") != 0;
    FILE *mic = fopen(argv[4], "rb");
    FILE *far = use_far ? fopen(argv[5], "rb") : NULL;
    FILE *out = fopen(argv[6], "wb");
    if (!mic || (use_far && !far) || !out) {
        fprintf(stderr, "cannot open files\n");
        return 2;
    }
    SpeexEchoState *echo = NULL;
    if (use_far) {
        echo = speex_echo_state_init(frame, tail_ms * rate / 1000);
        speex_echo_ctl(echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    }
    SpeexPreprocessState *pre = speex_preprocess_state_init(frame, rate);
    speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_DENOISE, &denoise);
    if (echo) {
        speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_ECHO_STATE, echo);
    }
    spx_int16_t *m = calloc(frame, sizeof *m);
    spx_int16_t *f = calloc(frame, sizeof *f);
    spx_int16_t *e = calloc(frame, sizeof *e);
    if (!m || !f || !e) {
        return 2;
    }
    for (;;) {
        size_t got = fread(m, sizeof *m, frame, mic);
        if (got == 0) {
            break;
        }
        if (got < (size_t)frame) {
            memset(m + got, 0, (frame - got) * sizeof *m);
        }
        if (echo) {
            size_t gf = fread(f, sizeof *f, frame, far);
            if (gf < (size_t)frame) {
                memset(f + gf, 0, (frame - gf) * sizeof *f);
            }
            speex_echo_cancellation(echo, m, f, e);
        } else {
            memcpy(e, m, frame * sizeof *e);
        }
        speex_preprocess_run(pre, e);
        if (fwrite(e, sizeof *e, got, out) != got) {
            return 2;
        }
    }
    speex_preprocess_state_destroy(pre);
    if (echo) {
        speex_echo_state_destroy(echo);
    }
    free(m);
    free(f);
    free(e);
    fclose(mic);
    if (far) {
        fclose(far);
    }
    return fclose(out) == 0 ? 0 : 2;
}
