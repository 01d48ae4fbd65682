# GStreamer 1.22 command-line tools and plugins: an independent RTP peer for the `parla rtp`
# interop tests. Audio: audiotestsrc/wavparse, opusenc, rtpopuspay, udpsink/udpsrc (base, good).
# Video (`parla rtp send/recv --video`): rtph264pay/depay, rtpvp8pay/depay, vp8enc/vp8dec (good),
# openh264enc/openh264dec, h264parse and y4mdec (bad). Where a distribution's plugins-bad lacks
# openh264, the tests fall back to avdec_h264 (gstreamer1.0-libav) and x264enc
# (gstreamer1.0-plugins-ugly); Debian 12 needs neither.
apt_install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad
