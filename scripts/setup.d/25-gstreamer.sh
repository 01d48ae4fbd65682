# GStreamer 1.22 command-line tools and plugins: an independent RTP peer for the `parla rtp`
# interop tests. Audio: audiotestsrc/wavparse, opusenc, rtpopuspay, udpsink/udpsrc (base, good).
# Video (`parla rtp send/recv --video`): rtph264pay/depay, rtpvp8pay/depay, vp8enc/vp8dec (good),
# openh264enc/openh264dec and h264parse (bad); libav adds avdec_h264 and ugly adds x264enc, the
# H.264 decoder and encoder most GStreamer pipelines use (the tests take openh264 first and fall
# back to these).
apt_install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-libav gstreamer1.0-plugins-ugly
