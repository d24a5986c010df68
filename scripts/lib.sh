# shellcheck shell=bash
# shellcheck disable=SC2034  # variables used by the scripts that source this file
# Shared by scripts/run and scripts/test (sourced, not run): printing steps, installing what is
# missing on Debian 12, building the page's wasm, and stopping every process a run started.
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
# nodejs: runs the page's wasm outside the browser (web/tests/same_verdict.rs);
# postgresql: the issuer service's tests run against a real cluster (tests/src/postgres.rs);
# clang and libclang-dev: bindgen for the C file system of the opcard peer card
# (tests/opcard-vpcd); gnupg and scdaemon: `gpg --card-status` and signing, which read that
# card back over pcscd.
VSC_APT_PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools chromium
    chromium-driver pkg-config gcc libc6-dev gzip fonts-wqy-microhei nodejs postgresql clang
    libclang-dev gnupg scdaemon)
VSC_WASM_TARGET=wasm32-unknown-unknown
VSC_WASM_BUDGET_KB=300

# step NAME: announce the next step (and remember it for the failure message).
step() {
    VSC_STEP="$1"
    local elapsed=$((SECONDS - VSC_START_SECONDS))
    printf '\n==> [%dm%02ds] %s\n' $((elapsed / 60)) $((elapsed % 60)) "$1"
}

ok() { printf 'ok: %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

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

# install_apt_packages: installs those of VSC_APT_PACKAGES that are not installed yet
# (apt-get update at most once per run).
install_apt_packages() {
    local missing=() pkg
    for pkg in "${VSC_APT_PACKAGES[@]}"; do
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            :
        else
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        ok "apt packages present (${VSC_APT_PACKAGES[*]})"
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
    if rustup target list --installed | grep -qx "$VSC_WASM_TARGET"; then
        ok "rust target $VSC_WASM_TARGET present"
    else
        rustup target add "$VSC_WASM_TARGET"
    fi
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
    cargo install wasm-bindgen-cli --version "$want" --locked --force
}

# install_all: everything scripts/run and scripts/test need.
install_all() {
    install_apt_packages
    install_rust_parts
    install_wasm_bindgen_cli
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

# stop_run_processes: SIGTERM to every process this run started that is still alive, SIGKILL
# to those still there 3 s later. Prints what it stopped.
stop_run_processes() {
    local pids=() pid name
    mapfile -t pids < <(run_processes)
    [ ${#pids[@]} -eq 0 ] && return 0
    for pid in "${pids[@]}"; do
        name="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        [ -n "$name" ] || continue
        echo "stopping leftover process $pid ($name)"
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 30); do
        mapfile -t pids < <(run_processes)
        [ ${#pids[@]} -eq 0 ] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
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
