//! Asks the linker for a 96 MiB initial linear memory (no data: the file stays small).
fn main() {
    println!("cargo:rustc-link-arg-cdylib=--initial-memory=100663296");
}
