//! The bench binary links gpu-worker and so CTranslate2's shared library: the same rpath
//! as gpu-worker's own binaries (gpu-worker/build.rs, whose build script fails with a
//! message when `CT2_LIB_DIR` is unset or holds no library, so none is repeated here).

fn main() {
    println!("cargo:rerun-if-env-changed=CT2_LIB_DIR");
    if let Some(dir) = std::env::var_os("CT2_LIB_DIR").filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", std::path::Path::new(&dir).display());
    }
}
