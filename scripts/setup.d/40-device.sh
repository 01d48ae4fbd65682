# parla-device: cpal's ALSA backend links libasound (headers and pkg-config file from
# libasound2-dev). The headless device tests need no sound card and no ALSA utilities: they
# point ALSA_CONFIG_PATH at a configuration of file/null/plug/asym PCMs that they write themselves.
apt_install libasound2-dev
