# Codecs (parla-codec): FFmpeg 5.1 development files and libclang for ffmpeg-next's bindings,
# cmake for the opus crate's bundled libopus build, and the ffmpeg/ffprobe command-line tools
# that the interop tests use as independent decoders and encoders.
apt_install libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
  libavfilter-dev libavdevice-dev clang libclang-dev pkg-config cmake ffmpeg
