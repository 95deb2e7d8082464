//! Bakes the libtorch library folder into the binary's rpath, so that
//! `target/release/hypersweep` runs with no environment variables set.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    // sqlx::migrate! embeds these files; a new one must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = Path::new(&dir).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
