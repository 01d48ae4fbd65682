# Peers and material for `parla bench`: libspeexdsp (the harness compiles a small C echo
# canceller + preprocessor against it), alsa-utils (its human speech recordings under
# /usr/share/sounds/alsa), espeak-ng (synthetic voices for the corpus), sox (resampler peer),
# ffmpeg (afftdn, aresample, libopus peers). GStreamer's webrtcdsp/audioresample/opusenc come
# from 25-gstreamer.sh; the C compiler from 10-base.sh.
apt_install libspeexdsp-dev alsa-utils espeak-ng sox ffmpeg
