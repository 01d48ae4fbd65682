# Echo cancellation (parla-dsp feature `webrtc`): webrtc-audio-processing 2.x with its `bundled`
# C++ library (AEC3, AECM). Its build needs what Debian 12 lacks (see docs/AEC.md):
#  - meson >= 1.1 (Debian has 1.0.1, which fails): installed from PyPI into a venv in the cache;
#  - abseil-cpp >= 20240722 (bookworm has 20220623): the source package of Debian trixie,
#    fetched through a private apt configuration that reuses this machine's Debian mirror, built
#    with cmake as static PIC libraries into the cache. A second run finds the stamp and skips it.
# scripts/env.d/30-aec3.sh puts both on the build's paths and sets the optimization flags.
# Sourced by scripts/setup.sh (uses log, as_root, apt_install, parla_cache_dir from lib.sh).

apt_install cmake ninja-build clang libclang-dev python3 python3-venv dpkg-dev

aec3_cache="$(parla_cache_dir)"

# meson from PyPI (the bundled build runs `meson` and `ninja` from PATH).
aec3_venv="$aec3_cache/meson-venv"
if ! "$aec3_venv/bin/meson" --version 2>/dev/null | grep -Eq '^(1\.([1-9]|[1-9][0-9])|[2-9])\.'; then
  log "aec3: installing meson >= 1.1 into $aec3_venv"
  aec3_py=/usr/bin/python3
  [ -x "$aec3_py" ] || aec3_py="$(command -v python3)"
  rm -rf "$aec3_venv"
  "$aec3_py" -m venv "$aec3_venv"
  "$aec3_venv/bin/python" -m pip install -q 'meson>=1.1'
fi

# abseil-cpp 20240722 from Debian trixie's source package.
aec3_absl_version=20240722
aec3_absl_prefix="$aec3_cache/abseil-$aec3_absl_version"
aec3_absl_stamp="$aec3_absl_prefix/.parla-built"
# The stamp names the recipe, so a changed recipe rebuilds once.
aec3_absl_recipe="upstream-options-v1"
if grep -qs " $aec3_absl_recipe\$" "$aec3_absl_stamp" \
    && [ -f "$aec3_absl_prefix/lib/pkgconfig/absl_base.pc" ]; then
  log "aec3: abseil $(cut -d' ' -f1 "$aec3_absl_stamp") already built in $aec3_absl_prefix (skipping)"
else
  log "aec3: building abseil >= $aec3_absl_version into $aec3_absl_prefix (a few minutes)"
  aec3_apt="$aec3_cache/apt-trixie"
  mkdir -p "$aec3_apt/lists/partial" "$aec3_apt/cache/archives/partial" "$aec3_apt/src"
  # The Debian mirror this machine already uses (first http(s) URI of a non-security source).
  aec3_mirror="$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
      /etc/apt/sources.list.d/*.list 2>/dev/null || true; } | grep -E '^(URIs:|deb )' \
      | grep -v security | grep -oE 'https?://[^ ]*debian[^ ]*' | head -n1 || true)"
  aec3_mirror="${aec3_mirror:-http://deb.debian.org/debian}"
  printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
    "$aec3_mirror" >"$aec3_apt/sources.list"
  aec3_apt_opts=(-o "Dir::Etc::SourceList=$aec3_apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$aec3_apt/lists" -o "Dir::Cache=$aec3_apt/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
  apt-get -qq "${aec3_apt_opts[@]}" update
  rm -rf "$aec3_apt/src" && mkdir -p "$aec3_apt/src"
  # Only the upstream tarball of the source package is used: Debian's patches pin abseil's
  # options to its own string_view/optional types in an inline namespace, which the bundled
  # WebRTC build (linking only absl_strings) cannot link against. Upstream options select the
  # C++17 standard types.
  (cd "$aec3_apt/src" && apt-get -qq "${aec3_apt_opts[@]}" source --download-only abseil >/dev/null)
  aec3_absl_tar="$(find "$aec3_apt/src" -maxdepth 1 -name 'abseil_*.orig.tar.*' | head -n1)"
  [ -n "$aec3_absl_tar" ] && tar -xf "$aec3_absl_tar" -C "$aec3_apt/src"
  aec3_absl_src="$(find "$aec3_apt/src" -mindepth 1 -maxdepth 1 -type d -name 'abseil*' | head -n1)"
  aec3_absl_got="$(basename "${aec3_absl_tar:-none}" | sed -E 's/^abseil_//; s/\.orig\.tar\..*$//')"
  if [ -z "$aec3_absl_src" ] || ! [ "${aec3_absl_got%%.*}" -ge "$aec3_absl_version" ] 2>/dev/null; then
    log "aec3: trixie's abseil source ($aec3_absl_got) is missing or older than $aec3_absl_version"
    exit 1
  fi
  rm -rf "$aec3_absl_prefix" "$aec3_apt/build"
  cmake -S "$aec3_absl_src" -B "$aec3_apt/build" -G Ninja -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$aec3_absl_prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON -DBUILD_TESTING=OFF \
    -DABSL_BUILD_TESTING=OFF >/dev/null
  cmake --build "$aec3_apt/build" >/dev/null
  cmake --install "$aec3_apt/build" >/dev/null
  printf '%s %s\n' "$aec3_absl_got" "$aec3_absl_recipe" >"$aec3_absl_stamp"
  rm -rf "$aec3_apt/build" "$aec3_apt/src"
  log "aec3: abseil $aec3_absl_got installed"
fi
unset aec3_cache aec3_venv aec3_py aec3_absl_version aec3_absl_prefix aec3_absl_stamp aec3_apt \
  aec3_mirror aec3_apt_opts aec3_absl_src aec3_absl_got aec3_absl_tar aec3_absl_recipe
