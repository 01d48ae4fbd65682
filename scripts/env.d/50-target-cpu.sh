# Opt-in CPU baseline for the Rust code (docs/PERFORMANCE.md): `PARLA_TARGET_CPU=x86-64-v3`
# (AVX2 + FMA) makes RNNoise (nnnoiseless, pure Rust, no runtime dispatch) about 0.77x the CPU of
# the default x86-64 baseline; x86-64-v2 about 0.94x. Not the default: a v3 binary stops with an
# illegal instruction on CPUs without AVX2 (pre-2013 x86, and Atom/Celeron/Pentium Silver parts
# sold much later). The C/C++ libraries choose their SIMD paths at run time and need no flag.
# Changing it rebuilds every Rust crate. Sourcing this twice changes nothing.
if [ -n "${PARLA_TARGET_CPU:-}" ]; then
  case " ${RUSTFLAGS:-} " in *" -C target-cpu=$PARLA_TARGET_CPU "*) ;; *)
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-cpu=$PARLA_TARGET_CPU" ;; esac
fi
