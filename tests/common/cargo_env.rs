//! A cargo build started from inside a test or a bench.

use std::process::Command;

/// `command` (a cargo build) without the package variables cargo gives the
/// running test or bench: they would reach build scripts that watch them
/// (ring's watches `CARGO_MANIFEST_DIR`) and rebuild everything above
/// them there, and again at the next build from a shell.
pub fn without_package_vars(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_MANIFEST_") {
            command.env_remove(&*key);
        }
    }
    command
}
