# shellcheck shell=bash
# Debian roots made with debootstrap, for the tests that need another system than the host
# (sourced by scripts/wine-root and scripts/test, not run):
# - the Wine root: Debian 13 with Wine 10 and its pcsc-lite backend, where the cross-built
#   Windows bridge runs against the host's pcscd (Debian 12's Wine 8 has only stubs in winscard
#   and lacks ProcessPrng, which Rust's standard library needs on Windows);
# - the Debian 12 root: a minimal clean system where the .deb is installed and removed.
#
# They are cached outside the repository, in VSC_CACHE_DIR (default /var/cache/vsc), each
# built once into a temporary directory that is renamed when complete, so an interrupted build
# leaves no half root. A root whose recipe changed (VSC_ROOT_RECIPE) is rebuilt. Measured on
# 2026-12-01 on the 2-core machine, from nothing: the Wine root (1.9 GB) 1 to 3 minutes, the
# Debian 12 root (180 MB) 1 to 1.5 minutes, the spread being the machine's other load.

VSC_CACHE_DIR="${VSC_CACHE_DIR:-/var/cache/vsc}"
VSC_DEBIAN_MIRROR="${VSC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
VSC_WINE_ROOT="$VSC_CACHE_DIR/wine-debian13"
VSC_DEB_ROOT="$VSC_CACHE_DIR/debian12"
# Bumped whenever what a root holds changes.
VSC_ROOT_RECIPE=1
# Inside the Wine root: the host's libpcsclite, which Debian 13's libpcsclite delegates to
# (LIBPCSCLITE_DELEGATE), because the host's pcscd speaks an older protocol than Debian 13's
# client library.
VSC_WINE_HOST_PCSCLITE=/opt/vsc-host-pcsclite/libpcsclite.so.1
# The one host directory Windows programs see (at the same path): the files a test hands them.
# Always the same one, because the wineserver of the prefix outlives the program that started
# it by a few seconds and opens files for later programs too, from the mount namespace of the
# first: a directory mounted only for a later program would not exist for it.
VSC_WINE_SHARE="${VSC_WINE_SHARE:-/tmp/vsc-wine}"

# root_ready ROOT: whether ROOT is complete and of the current recipe.
root_ready() {
    [ "$(cat "$1/.vsc-root-recipe" 2>/dev/null)" = "$VSC_ROOT_RECIPE" ]
}

# build_root ROOT SUITE PACKAGES...: debootstraps SUITE (minbase) and installs PACKAGES.
build_root() {
    local root="$1" suite="$2"
    shift 2
    local partial="$root.partial"
    command -v debootstrap >/dev/null 2>&1 || {
        echo "debootstrap is not installed (scripts/test installs it)" >&2
        return 1
    }
    [ "$(id -u)" -eq 0 ] || {
        echo "building a Debian root needs root (debootstrap, chroot)" >&2
        return 1
    }
    rm -rf "$partial"
    mkdir -p "$VSC_CACHE_DIR"
    debootstrap --variant=minbase "$suite" "$partial" "$VSC_DEBIAN_MIRROR" >"$partial.log" 2>&1 || {
        tail -20 "$partial.log" >&2
        echo "debootstrap of Debian $suite failed (log: $partial.log)" >&2
        return 1
    }
    if [ $# -gt 0 ]; then
        chroot "$partial" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "$@" >>"$partial.log" 2>&1 || {
            tail -20 "$partial.log" >&2
            echo "installing $* in the Debian $suite root failed (log: $partial.log)" >&2
            return 1
        }
    fi
    chroot "$partial" apt-get clean
    rm -f "$partial.log"
}

# ensure_wine_root: builds the Wine root unless it is ready (under a lock, so two runs do not
# build it at once).
ensure_wine_root() {
    mkdir -p "$VSC_CACHE_DIR"
    (
        flock 8
        root_ready "$VSC_WINE_ROOT" && exit 0
        local partial="$VSC_WINE_ROOT.partial"
        build_root "$VSC_WINE_ROOT" trixie wine64 libpcsclite1 || exit 1
        local host_lib
        host_lib="$(readlink -f /usr/lib/x86_64-linux-gnu/libpcsclite.so.1)" || exit 1
        mkdir -p "$partial$(dirname "$VSC_WINE_HOST_PCSCLITE")"
        cp "$host_lib" "$partial$VSC_WINE_HOST_PCSCLITE"
        # The Wine prefix (C: drive, registry), made once: about 15 s.
        (VSC_WINE_ROOT="$partial" wine_root_run wineboot --init) >/dev/null 2>&1 || true
        chroot "$partial" env WINEPREFIX=/root/.wine /usr/lib/wine/wineserver -w
        [ -f "$partial/root/.wine/system.reg" ] || {
            echo "wineboot did not create the Wine prefix in $partial/root/.wine" >&2
            exit 1
        }
        echo "$VSC_ROOT_RECIPE" >"$partial/.vsc-root-recipe"
        rm -rf "$VSC_WINE_ROOT"
        mv "$partial" "$VSC_WINE_ROOT"
    ) 8>"$VSC_CACHE_DIR/wine-debian13.lock"
}

# ensure_deb_root: builds the clean Debian 12 root unless it is ready. It holds what the .deb
# depends on (libpcsclite1), so that dpkg -i needs no network.
ensure_deb_root() {
    mkdir -p "$VSC_CACHE_DIR"
    (
        flock 8
        root_ready "$VSC_DEB_ROOT" && exit 0
        build_root "$VSC_DEB_ROOT" bookworm libpcsclite1 || exit 1
        echo "$VSC_ROOT_RECIPE" >"$VSC_DEB_ROOT.partial/.vsc-root-recipe"
        rm -rf "$VSC_DEB_ROOT"
        mv "$VSC_DEB_ROOT.partial" "$VSC_DEB_ROOT"
    ) 8>"$VSC_CACHE_DIR/debian12.lock"
}

# wine_root_run PROGRAM ARGS...: runs a Windows PROGRAM under the Wine root's Wine, in a mount
# namespace of its own (gone with the last process in it): /proc, the host's /run/pcscd and
# VSC_WINE_SHARE (at the same path) are mounted into the root. Unix paths in ARGS work as they
# are (the current drive is Z:, the root's /). Replaces the shell (exec): the Windows
# program's process is this process.
wine_root_run() {
    mkdir -p /run/pcscd "$VSC_WINE_SHARE"
    chmod 1777 "$VSC_WINE_SHARE"
    # shellcheck disable=SC2016  # expanded by the inner shell
    exec unshare --mount --propagation private sh -c '
        root="$1" delegate="$2" share="$3"
        shift 3
        mount -t proc proc "$root/proc"
        mkdir -p "$root/run/pcscd" "$root$share"
        mount --bind /run/pcscd "$root/run/pcscd"
        mount --bind "$share" "$root$share"
        exec chroot "$root" env HOME=/root XDG_RUNTIME_DIR=/tmp WINEPREFIX=/root/.wine \
            WINEDEBUG=-all LIBPCSCLITE_DELEGATE="$delegate" /usr/lib/wine/wine64 "$@"
    ' sh "$VSC_WINE_ROOT" "$VSC_WINE_HOST_PCSCLITE" "$VSC_WINE_SHARE" "$@"
}

# wine_root_stop: stops the Wine root's wineserver and the Wine services it keeps (they would
# end by themselves a few seconds after the last program), and waits until they are gone.
wine_root_stop() {
    chroot "$VSC_WINE_ROOT" env WINEPREFIX=/root/.wine /usr/lib/wine/wineserver -k 2>/dev/null || true
    chroot "$VSC_WINE_ROOT" env WINEPREFIX=/root/.wine /usr/lib/wine/wineserver -w 2>/dev/null || true
}
