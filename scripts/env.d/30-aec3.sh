# Build environment for the bundled WebRTC audio processing library (see setup.d/30-aec3.sh):
# meson from the cache's venv on PATH, the cached abseil on PKG_CONFIG_PATH, and the flags that
# make the bundled C++ build fastest (meson appends CXXFLAGS/CFLAGS to its debugoptimized
# defaults: -O3 instead of -O2, no debug info, no libstdc++ assertions; docs/AEC.md has the
# per-frame cost with and without them). Sourcing this twice changes nothing.
_aec3_cache="${PARLA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parla}"
_aec3_flags="-O3 -DNDEBUG -U_GLIBCXX_ASSERTIONS -g0"
case ":${PATH}:" in *":$_aec3_cache/meson-venv/bin:"*) ;; *)
  export PATH="$_aec3_cache/meson-venv/bin${PATH:+:$PATH}" ;; esac
case ":${PKG_CONFIG_PATH:-}:" in *":$_aec3_cache/abseil-20240722/lib/pkgconfig:"*) ;; *)
  export PKG_CONFIG_PATH="$_aec3_cache/abseil-20240722/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" ;; esac
case " ${CXXFLAGS:-} " in *" $_aec3_flags "*) ;; *)
  export CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }$_aec3_flags" ;; esac
case " ${CFLAGS:-} " in *" $_aec3_flags "*) ;; *)
  export CFLAGS="${CFLAGS:+$CFLAGS }$_aec3_flags" ;; esac
unset _aec3_cache _aec3_flags
