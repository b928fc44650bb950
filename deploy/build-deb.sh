#!/usr/bin/env bash
# Builds the Debian package target/debian/cspguard_<version>-1_<arch>.deb:
#   1. the release binary;
#   2. its man pages and shell completions, generated from the binary's own clap definitions
#      into target/assets/ (the package's assets name them there);
#   3. `cargo deb --no-build` (needs cargo-deb: `cargo install cargo-deb --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/cspguard
rm -rf target/assets
"$bin" man --out target/assets/man >/dev/null
mkdir -p target/assets/completions
"$bin" completions bash >target/assets/completions/cspguard
"$bin" completions zsh >target/assets/completions/_cspguard
"$bin" completions fish >target/assets/completions/cspguard.fish
rm -f target/debian/cspguard_*.deb
cargo deb --no-build --locked --strip
ls target/debian/cspguard_*.deb
