# C ABI tests (ffi/tests/c_tests.rs): a C and C++ compiler, pkg-config for the generated
# parla.pc, and AddressSanitizer's runtime for the ASan builds of the C tests.
apt_install build-essential pkg-config libasan8
