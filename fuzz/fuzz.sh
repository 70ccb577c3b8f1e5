#!/usr/bin/env bash
# Builds and runs vpcesim's fuzz targets with cargo-fuzz (libFuzzer), on the stable
# toolchain: cargo-fuzz passes nightly-only `-Z` flags, which RUSTC_BOOTSTRAP=1 lets a
# stable rustc accept (the route the Rust Fuzz Book documents for stable toolchains).
#
#   fuzz/fuzz.sh build                  build every target
#   fuzz/fuzz.sh run TARGET [SECS]      fuzz one target for SECS seconds (default 60)
#   fuzz/fuzz.sh all [SECS]             build, then fuzz every target for SECS each
#   fuzz/fuzz.sh seeds                  rewrite the committed seed corpus (fuzz/seeds/)
#   fuzz/fuzz.sh replay                 every seed and regression input through the
#                                       checks, without libFuzzer (cargo test)
#
# Targets: dns_wire, api_request, scenario_load (fuzz/src/*.rs say what each checks).
# Each run starts from fuzz/seeds/TARGET (committed) and fuzz/corpus/TARGET (what earlier
# runs found, not committed); scenario_load also reads scenarios/ and the test fixtures.
# A crash, a timeout (over TIMEOUT seconds for one input, default 10) or more than
# RSS_MB of memory (default 2048) stops the run with exit status 1 and leaves the input
# in fuzz/artifacts/TARGET/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Installing cargo-fuzz: `cargo install cargo-fuzz`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export RUSTC_BOOTSTRAP=1
TARGETS=(dns_wire api_request scenario_load)
TIMEOUT="${TIMEOUT:-10}"
RSS_MB="${RSS_MB:-2048}"
# Sanitizer: AddressSanitizer by default, as cargo-fuzz does; SANITIZER=none builds
# faster and runs about twice as fast (the fuzzed code has no `unsafe`).
SANITIZER="${SANITIZER:-address}"

build() {
    cargo fuzz build --sanitizer "$SANITIZER" "$@"
}

run_one() {
    local target="$1" secs="${2:-60}"
    local corpus=(fuzz/corpus/"$target" fuzz/seeds/"$target")
    local dict=""
    case "$target" in
        dns_wire) dict=fuzz/dicts/dns.dict ;;
        api_request) dict=fuzz/dicts/api.dict ;;
        scenario_load)
            dict=fuzz/dicts/scenario.dict
            corpus+=(scenarios tests/e2e/fixtures)
            ;;
        *) echo "unknown target $target (one of ${TARGETS[*]})" >&2; exit 2 ;;
    esac
    mkdir -p fuzz/corpus/"$target" fuzz/artifacts/"$target"
    echo "== fuzzing $target for ${secs}s"
    cargo fuzz run --sanitizer "$SANITIZER" "$target" "${corpus[@]}" -- \
        -max_total_time="$secs" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
        -dict="$dict" -print_final_stats=1
}

case "${1:-}" in
    build) shift; build "$@" ;;
    run) shift; run_one "$@" ;;
    all)
        secs="${2:-60}"
        build
        for t in "${TARGETS[@]}"; do run_one "$t" "$secs"; done
        ;;
    seeds) cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds ;;
    replay) cargo test --manifest-path fuzz/Cargo.toml ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
