//! Puts CTranslate2's shared library directory (`CT2_LIB_DIR`, set by scripts/env.sh; the
//! image sets its own) in the rpath of the bench binary, which links gpu-worker and so
//! ct2rs: it finds `libctranslate2-*.so` without `LD_LIBRARY_PATH`. The library is linked by ct2rs's
//! `system` mode, found on `LIBRARY_PATH`; scripts/ctranslate2.sh installs it. An rpath
//! through RUSTFLAGS would rebuild the whole shared target dir whenever it changed.

fn main() {
    println!("cargo:rerun-if-env-changed=CT2_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = std::env::var_os("CT2_LIB_DIR").filter(|d| !d.is_empty()) else {
        panic!(
            "CT2_LIB_DIR is not set: gpu-worker links CTranslate2's shared library from it. \
             Run `source scripts/env.sh` and `scripts/ctranslate2.sh` (part of `make setup`)."
        );
    };
    let dir = std::path::PathBuf::from(dir);
    if !dir.join("libctranslate2.so").exists() {
        panic!("{} has no libctranslate2.so: run scripts/ctranslate2.sh (part of `make setup`) to install it there.", dir.display());
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}
