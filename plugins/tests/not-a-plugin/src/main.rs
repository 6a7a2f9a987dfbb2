//! A WASI command component, not a Gatehouse plugin: the host must refuse to load it.

fn main() {
    println!("not a plugin");
}
