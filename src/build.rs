// Intentionally empty: it exists so that the package has build-dependencies;
// see `[build-dependencies]` in Cargo.toml.
fn main() {
    println!("cargo::rerun-if-changed=src/build.rs");
}
