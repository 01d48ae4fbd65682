# GStreamer 1.22 command-line tools and plugins: an independent Opus RTP peer for the
# `parla rtp` interop tests (audiotestsrc/wavparse, opusenc, rtpopuspay, udpsink/udpsrc).
apt_install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad
