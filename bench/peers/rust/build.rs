//! Embeds the toolchain and crate versions into the binaries' JSON context:
//! `rustc --version` of the compiler that builds them, and the tokio and
//! async-std versions Cargo.lock resolved.
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "rustc (unknown)".into());
    println!("cargo:rustc-env=WEFT_PEER_RUSTC={}", v);

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (krate, var) in [("tokio", "WEFT_PEER_TOKIO"), ("async-std", "WEFT_PEER_ASYNC_STD")] {
        println!("cargo:rustc-env={}={}", var, locked_version(&lock, krate));
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=RUSTC");
}

/// The `version = "..."` line after `name = "<krate>"` in Cargo.lock.
fn locked_version(lock: &str, krate: &str) -> String {
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("name = \"{}\"", krate) {
            if let Some(v) = lines.next() {
                return v.trim().trim_start_matches("version = ").trim_matches('"').to_string();
            }
        }
    }
    "unknown".into()
}
