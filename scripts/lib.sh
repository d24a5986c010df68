# shellcheck shell=bash
# shellcheck disable=SC2034  # variables used by the scripts that source this file
# Shared by scripts/run, scripts/test and scripts/fuzz (sourced, not run): printing steps,
# installing what is missing on Debian 12, building the page's wasm, building and running the
# fuzz targets, and stopping every process a run started.
#
# Processes are tracked by an environment marker: the sourcing script appends its run id to
# VSC_RUN_IDS, every process it starts (and everything those start: cargo, test binaries,
# pcscd, softcards, vsc-bridge, chromedriver, chromium) inherits it, and stop_run_processes
# kills whatever still carries the id, even processes whose parent already exited. A run
# started by another (scripts/test runs scripts/run) adds its own id, so both can clean up.

VSC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where cargo puts what it builds (CARGO_TARGET_DIR is honoured, like cargo does).
VSC_TARGET_DIR="${CARGO_TARGET_DIR:-$VSC_ROOT/target}"
VSC_START_SECONDS=$SECONDS
VSC_STEP=""
VSC_APT_UPDATED=0
# The apt packages both commands need. gcc and libc6-dev: the linker rustc uses;
# fonts-wqy-microhei: CJK glyphs, so holder names like 田中 render in the screenshots;
# nodejs: runs the page's wasm outside the browser (web/tests/same_verdict.rs); libssl-dev: the
# TLS `vsc --server` talks to the issuer service with on Linux (native-tls, cli/Cargo.toml).
VSC_APT_PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools chromium
    chromium-driver pkg-config gcc libc6-dev gzip fonts-wqy-microhei nodejs libssl-dev)
VSC_WASM_TARGET=wasm32-unknown-unknown
VSC_WASM_BUDGET_KB=300
# What scripts/test needs besides (scripts/run does not): the Windows cross-linker and mingw's
# winscard (gcc-mingw-w64-x86-64), debootstrap for the Wine root and the clean Debian 12 root
# (scripts/roots.sh), help2man for the man page and zip/unzip for the Windows package; g++:
# libFuzzer, which the fuzz targets link, is C++; postgresql: the issuer service's tests run
# against a real cluster (tests/src/postgres.rs); clang and libclang-dev: bindgen for the C file
# system of the opcard peer card (tests/opcard-vpcd); gnupg and scdaemon: `gpg --card-status`
# and signing, which read that card back over pcscd; faketime: an issuer instance whose clock
# is off, for the test that leases follow the database's clock.
VSC_APT_PACKAGES_TEST=(gcc-mingw-w64-x86-64 debootstrap help2man zip unzip g++ postgresql clang
    libclang-dev gnupg scdaemon faketime)
# The targets scripts/test cross-builds (Windows) or checks (macOS).
VSC_WINDOWS_TARGET=x86_64-pc-windows-gnu
VSC_MACOS_TARGETS=(aarch64-apple-darwin x86_64-apple-darwin)

# step NAME: announce the next step (and remember it for the failure message).
step() {
    VSC_STEP="$1"
    local elapsed=$((SECONDS - VSC_START_SECONDS))
    printf '\n==> [%dm%02ds] %s\n' $((elapsed / 60)) $((elapsed % 60)) "$1"
}

ok() { printf 'ok: %s\n' "$*"; }
# die MESSAGE: prints "error: MESSAGE" and exits 1. When VSC_ERRORS_FILE is set (scripts/test
# sets it for everything it runs), the message is also appended there, so that the end of a
# failed run can repeat why it failed, whichever script or step said it.
die() {
    printf 'error: %s\n' "$*" >&2
    [ -z "${VSC_ERRORS_FILE:-}" ] || printf '%s: %s\n' "$(basename "$0")" "$*" >>"$VSC_ERRORS_FILE"
    exit 1
}

# as_root CMD...: run CMD as root (directly, or through sudo when not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "'$*' needs root: run this script as root (or install sudo)"
    fi
}

# install_apt_packages [PACKAGE...]: installs those of the PACKAGEs (default: VSC_APT_PACKAGES)
# that are not installed yet (apt-get update at most once per run).
install_apt_packages() {
    local wanted=("$@") missing=() pkg
    [ ${#wanted[@]} -gt 0 ] || wanted=("${VSC_APT_PACKAGES[@]}")
    for pkg in "${wanted[@]}"; do
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            :
        else
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "apt packages present (${wanted[*]})"
        return
    fi
    echo "installing apt packages: ${missing[*]}"
    if [ "$VSC_APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        VSC_APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}

# install_rust_parts: rustfmt, clippy and the wasm32 target through rustup.
install_rust_parts() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust with rustup (https://rustup.rs) and open a new shell"
    command -v rustup >/dev/null 2>&1 ||
        die "rustup not found: this project needs Rust installed by rustup (https://rustup.rs) for the wasm32 target"
    local installed component
    installed="$(rustup component list --installed)"
    for component in rustfmt clippy; do
        if grep -q "^$component" <<<"$installed"; then
            ok "rustup component $component present"
        else
            rustup component add "$component"
        fi
    done
    install_rust_targets "$VSC_WASM_TARGET"
}

# install_rust_targets TARGET...: adds the rustup targets not installed yet.
install_rust_targets() {
    local installed target
    installed="$(rustup target list --installed)"
    for target in "$@"; do
        if grep -qx "$target" <<<"$installed"; then
            ok "rust target $target present"
        else
            rustup target add "$target"
        fi
    done
}

# wasm_bindgen_version: the wasm-bindgen version pinned in Cargo.lock.
wasm_bindgen_version() {
    awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        "$VSC_ROOT/Cargo.lock"
}

# install_wasm_bindgen_cli: wasm-bindgen-cli at exactly the version of wasm-bindgen in Cargo.lock
# (the CLI refuses to process a wasm made by another version).
install_wasm_bindgen_cli() {
    local want have
    want="$(wasm_bindgen_version)"
    [ -n "$want" ] || die "no wasm-bindgen package in Cargo.lock: cannot tell which wasm-bindgen-cli to install"
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
    if [ "$have" = "$want" ] && command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
        ok "wasm-bindgen-cli $want present"
        return
    fi
    echo "installing wasm-bindgen-cli $want (found: ${have:-none}); this takes a few minutes"
    local started=$SECONDS
    # Optimized at level 1, not cargo install's default 3: it runs for a second or two per
    # wasm file, and compiles in much less time.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install wasm-bindgen-cli --version "$want" --locked --force
    ok "wasm-bindgen-cli installed in $((SECONDS - started)) s"
}

# install_all: everything scripts/run and scripts/test need.
install_all() {
    install_apt_packages
    install_rust_parts
    install_wasm_bindgen_cli
}

# install_test_extras: what scripts/test needs besides (cross-builds, Debian roots, packages).
install_test_extras() {
    install_apt_packages "${VSC_APT_PACKAGES_TEST[@]}"
    install_rust_targets "$VSC_WINDOWS_TARGET" "${VSC_MACOS_TARGETS[@]}"
}

# build_web: the page's wasm module and its JS glue in web/pkg (what index.html imports).
# The wasm is built for size: the workspace's release profile keeps debug info and favours
# speed for the native binaries, so the profile is overridden here for this build only
# (optimize for size, whole-program LTO, one codegen unit, no debug info; 356 KB -> 278 KB
# gzipped when measured), and wasm-bindgen drops the function-name section.
build_web() {
    [ -f "$VSC_ROOT/web/Cargo.toml" ] || die "web/Cargo.toml missing: is this a complete checkout?"
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
        cargo build -p vsc-web --target "$VSC_WASM_TARGET" --release
    wasm-bindgen --target web --remove-name-section --remove-producers-section \
        --out-dir "$VSC_ROOT/web/pkg" "$VSC_TARGET_DIR/$VSC_WASM_TARGET/release/vsc_web.wasm"
}

# run_processes: pids of live processes carrying this run's id, except this shell.
run_processes() {
    local dir pid
    for dir in /proc/[0-9]*; do
        pid="${dir#/proc/}"
        [ "$pid" = "$$" ] && continue
        [ "$pid" = "$BASHPID" ] && continue
        if grep -qzE "^VSC_RUN_IDS=(.* )?$VSC_RUN_ID( .*)?\$" "$dir/environ" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

# alive PID: whether process PID exists and has not exited (a zombie, exited but not yet
# reaped by its parent, holds no socket or file any more).
alive() {
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# terminate SECONDS PID...: SIGTERM to each PID, SIGKILL to those still alive SECONDS later,
# then waits (up to 5 s) until they are gone, so that their ports and files are free when it
# returns.
terminate() {
    local seconds="$1" pid tick
    shift
    local left=("$@")
    kill -TERM "${left[@]}" 2>/dev/null || true
    for tick in $(seq $((seconds * 10 + 50))); do
        [ "$tick" -ne $((seconds * 10 + 1)) ] || kill -KILL "${left[@]}" 2>/dev/null || true
        local still=()
        for pid in "${left[@]}"; do
            if alive "$pid"; then still+=("$pid"); fi
        done
        [ ${#still[@]} -gt 0 ] || return 0
        left=("${still[@]}")
        sleep 0.1
    done
}

# stop_run_processes: stops every process this run started that is still alive (terminate,
# 3 s), then any a dying one started meanwhile. Prints what it stopped.
stop_run_processes() {
    local pids=() pid name round
    for round in 1 2; do
        mapfile -t pids < <(run_processes)
        [ ${#pids[@]} -gt 0 ] || return 0
        for pid in "${pids[@]}"; do
            name="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
            if [ -n "$name" ]; then echo "stopping leftover process $pid ($name)"; fi
        done
        terminate $((round == 1 ? 3 : 1)) "${pids[@]}"
    done
}

# pcscd_running: whether a pcscd process is alive (its socket alone may be a leftover).
pcscd_running() {
    local comm
    for comm in /proc/[0-9]*/comm; do
        [ "$(cat "$comm" 2>/dev/null)" = "pcscd" ] && return 0
    done
    return 1
}

# start_pcscd LOG: starts `pcscd -f` logging to LOG (after removing the socket and pid file
# a killed pcscd left behind), waits until its socket exists, prints its pid.
start_pcscd() {
    local log="$1" pid i
    mkdir -p /run/pcscd
    rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid
    pcscd -f >"$log" 2>&1 </dev/null &
    pid=$!
    for i in $(seq 150); do
        [ -S /run/pcscd/pcscd.comm ] && { echo "$pid"; return 0; }
        kill -0 "$pid" 2>/dev/null || die "pcscd exited at start; its log ($log): $(cat "$log")"
        sleep 0.1
    done
    die "pcscd made no socket in 15 s; its log ($log): $(cat "$log")"
}

# stop_pcscd PID: stops the pcscd start_pcscd started (SIGTERM, then SIGKILL after 5 s).
stop_pcscd() {
    terminate 5 "$1"
}

# http_get HOST PORT PATH: prints the raw HTTP/1.1 response (status line, headers, body), with
# bash's /dev/tcp so that no HTTP client needs to be installed.
http_get() {
    local host="$1" port="$2" path="$3"
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
    cat <&3
    exec 3<&-
}

# start_run: add this run's id to the exported marker, go to the repository root.
start_run() {
    VSC_RUN_ID="$(basename "$0")-$$-$(date +%s)"
    VSC_RUN_IDS="${VSC_RUN_IDS:+$VSC_RUN_IDS }$VSC_RUN_ID"
    export VSC_RUN_IDS
    cd "$VSC_ROOT" || die "cannot enter $VSC_ROOT"
}

# ---- Fuzzing (fuzz/, cargo-fuzz + libFuzzer): shared by scripts/test and scripts/fuzz. ----

# The cargo-fuzz version installed (pinned: its flags and output are what these helpers read).
VSC_CARGO_FUZZ_VERSION=0.13.2
# Where fuzzing keeps what it builds and finds (never in the working tree).
VSC_FUZZ_DIR="$VSC_TARGET_DIR/fuzz"
# libFuzzer's limits for every run: a target may use at most this much memory in all, allocate
# at most this much at once, and take at most this many seconds on one input.
VSC_FUZZ_RSS_MB=2048
VSC_FUZZ_MALLOC_MB=512
VSC_FUZZ_TIMEOUT_S=10

# fuzz_targets: the targets' names, one a line, from the [[bin]] entries of fuzz/Cargo.toml.
fuzz_targets() {
    awk '/^\[\[bin\]\]/ { bin = 1; next } bin && /^name = / { gsub(/name = |"/, ""); print; bin = 0 }' \
        "$VSC_ROOT/fuzz/Cargo.toml"
}

# fuzz_unavailable: prints why fuzzing cannot run here (nothing, and status 1, when it can).
# The targets need rustc's -Z flags (sanitizer, coverage): a nightly toolchain, or the stable
# one with RUSTC_BOOTSTRAP=1, which the helpers below set; and the sanitizer's runtime.
fuzz_unavailable() {
    if ! RUSTC_BOOTSTRAP=1 rustc -Z unstable-options --print sysroot >/dev/null 2>&1; then
        echo "rustc refuses -Z flags even with RUSTC_BOOTSTRAP=1"
        return 0
    fi
    local rt_dir
    rt_dir="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ { print $2 }')/lib"
    if ! compgen -G "$rt_dir/librustc-*_rt.asan.a" >/dev/null; then
        echo "the toolchain has no AddressSanitizer runtime in $rt_dir"
        return 0
    fi
    if ! command -v c++ >/dev/null 2>&1; then
        echo "no C++ compiler (libFuzzer is C++): install g++"
        return 0
    fi
    return 1
}

# install_cargo_fuzz: cargo-fuzz at VSC_CARGO_FUZZ_VERSION, unless it is there already.
install_cargo_fuzz() {
    local have
    have="$(cargo fuzz --version 2>/dev/null | awk 'NR == 1 { print $2 }' || true)"
    if [ "$have" = "$VSC_CARGO_FUZZ_VERSION" ]; then
        ok "cargo-fuzz $have present"
        return
    fi
    echo "installing cargo-fuzz $VSC_CARGO_FUZZ_VERSION (found: ${have:-none}); this takes a few minutes"
    local started=$SECONDS
    # Unoptimized (--debug): it only starts cargo and libFuzzer, and compiles in less time.
    cargo install cargo-fuzz --version "$VSC_CARGO_FUZZ_VERSION" --locked --force --debug
    ok "cargo-fuzz installed in $((SECONDS - started)) s"
}

# fuzz_build [CODEGEN_UNITS]: every target, optimized, with AddressSanitizer, debug assertions
# and overflow checks (cargo-fuzz's defaults), into VSC_FUZZ_DIR. CODEGEN_UNITS (cargo-fuzz's
# default: 1) trades run speed for build time: scripts/test's seconds-long runs build with 16.
fuzz_build() {
    (cd "$VSC_ROOT" && RUSTC_BOOTSTRAP=1 cargo fuzz build --codegen-units "${1:-1}" --target-dir "$VSC_FUZZ_DIR")
}

# fuzz_run TARGET SECONDS LOG: runs TARGET for SECONDS from its seeds (fuzz/seeds/TARGET) and
# its working corpus (VSC_FUZZ_DIR/corpus/TARGET, where new inputs go), under the limits
# above. Prints "TARGET: N executions in S s" or, on a crash, where the input is and how to
# replay it; the status is libFuzzer's.
fuzz_run() {
    local target="$1" seconds="$2" log="$3"
    local corpus="$VSC_FUZZ_DIR/corpus/$target" artifacts="$VSC_FUZZ_DIR/artifacts/$target/"
    local binary="$VSC_FUZZ_DIR/x86_64-unknown-linux-gnu/release/$target"
    mkdir -p "$corpus" "$artifacts"
    local status=0
    "$binary" "$corpus" "$VSC_ROOT/fuzz/seeds/$target" \
        -max_total_time="$seconds" -rss_limit_mb="$VSC_FUZZ_RSS_MB" \
        -malloc_limit_mb="$VSC_FUZZ_MALLOC_MB" -timeout="$VSC_FUZZ_TIMEOUT_S" \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1 || status=$?
    local runs
    runs="$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")"
    if [ "$status" -eq 0 ]; then
        echo "$target: ${runs:-0} executions in $seconds s"
    else
        local found
        found="$(grep -aoE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')"
        grep -aE '^(thread .* panicked|==[0-9]+==ERROR|SUMMARY)|panicked at|out-of-memory|timeout' "$log" | head -5 || true
        echo "$target: FAILED (libFuzzer status $status) after ${runs:-?} executions; input: ${found:-see $log}"
        echo "  replay: RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir $VSC_FUZZ_DIR $target ${found:-<input>}"
    fi
    return "$status"
}
