#!/usr/bin/env bash
# Builds Hover's runtime image (hover/runtime:php8.2) and the example application's image
# (hover/example-app:latest) from this checkout. Safe to run again: each step is skipped when
# its result exists, and `docker build` reuses its layer cache (a second run takes seconds).
#
# With no registry to pull from (as on this machine), it first makes local equivalents of the
# images the Dockerfile names and passes them as build arguments:
#   hover-base/debian:bookworm-slim  Debian bookworm, made with debootstrap
#   hover-base/rust:<version>-bookworm  that plus gcc and the host's own Rust toolchain
# Set HOVER_DEBIAN_IMAGE / HOVER_RUST_IMAGE to use other images instead (say the official
# debian:bookworm-slim and rust:1.95-bookworm where they can be pulled).
#
# It starts the Docker engine first if none answers (installing docker.io and debootstrap
# with apt when missing; the engine logs to /var/log/dockerd.log). Run it as root.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_IMAGE=${HOVER_RUNTIME_IMAGE:-hover/runtime:php8.2}
APP_IMAGE=${HOVER_APP_IMAGE:-hover/example-app:latest}
WORK_DIR=${HOVER_DOCKER_WORK_DIR:-/var/tmp/hover-docker}

mkdir -p "$WORK_DIR"
# The legacy builder where the buildx plugin is missing (it is, with bookworm's docker.io).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
say() { echo "build: $*"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

install_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# --- the engine -------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || install_packages docker.io
    say "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >>/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "build: dockerd did not start, see /var/log/dockerd.log" >&2; exit 1; }
fi

# --- the Debian base image ----------------------------------------------------------------
DEBIAN_IMAGE=${HOVER_DEBIAN_IMAGE:-}
if [ -z "$DEBIAN_IMAGE" ]; then
    DEBIAN_IMAGE=hover-base/debian:bookworm-slim
    if ! have_image "$DEBIAN_IMAGE"; then
        install_packages debootstrap
        rootfs="$WORK_DIR/rootfs"
        rm -rf "$rootfs"
        mkdir -p "$WORK_DIR"
        say "debootstrap bookworm (minbase) into $rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$WORK_DIR/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK_DIR/debootstrap.log" >&2; exit 1; }
        # What debian:bookworm-slim has on top of a minbase system: the updates and security
        # suites, no documentation or locales from later installs, no apt caches.
        rm -f "$rootfs/etc/apt/sources.list"
        cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
        cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
        echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
        find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
        rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian}/* "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
        say "importing $DEBIAN_IMAGE"
        tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
        rm -rf "$rootfs"
    fi
fi

# --- the Rust builder image ----------------------------------------------------------------
RUST_IMAGE=${HOVER_RUST_IMAGE:-}
if [ -z "$RUST_IMAGE" ]; then
    # The toolchain `cargo` runs here (rustup's, under ~/.rustup).
    export PATH="$PATH:$HOME/.cargo/bin"
    command -v rustc >/dev/null || { echo "build: no rustc here to copy into the builder image; set HOVER_RUST_IMAGE" >&2; exit 1; }
    sysroot=$(rustc --print sysroot)
    version=$(rustc --version | awk '{print $2}')
    RUST_IMAGE=hover-base/rust:$version-bookworm
    if ! have_image "$RUST_IMAGE"; then
        say "making $RUST_IMAGE from $DEBIAN_IMAGE and the toolchain at $sysroot"
        context="$WORK_DIR/rust-context"
        rm -rf "$context"
        mkdir -p "$context/toolchain"
        # bin/, lib/ (rustc's libraries and the x86_64 standard library), libexec/; not
        # share/ (documentation, 0.8 GB).
        for part in bin lib libexec; do
            [ -e "$sysroot/$part" ] && cp -a "$sysroot/$part" "$context/toolchain/"
        done
        mkdir -p "$context/extra-ca"
        cp /usr/local/share/ca-certificates/*.crt "$context/extra-ca/" 2>/dev/null || true
        docker build -q -f docker/rust.Dockerfile --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
            -t "$RUST_IMAGE" "$context" >/dev/null
        rm -rf "$context"
    fi
fi

# --- the runtime image and the example application's -----------------------------------------
say "building $RUNTIME_IMAGE (base $DEBIAN_IMAGE, builder $RUST_IMAGE)"
start=$SECONDS
docker build -f docker/Dockerfile \
    --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "RUST_IMAGE=$RUST_IMAGE" \
    -t "$RUNTIME_IMAGE" . >"$WORK_DIR/runtime-build.log" 2>&1 \
    || { tail -40 "$WORK_DIR/runtime-build.log" >&2; exit 1; }
say "building $APP_IMAGE"
docker build -f docker/example-app.Dockerfile --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
    -t "$APP_IMAGE" . >"$WORK_DIR/app-build.log" 2>&1 \
    || { tail -40 "$WORK_DIR/app-build.log" >&2; exit 1; }
say "done in $((SECONDS - start)) s (logs: $WORK_DIR/*-build.log)"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
    | grep -E "^(${RUNTIME_IMAGE%%:*}|${APP_IMAGE%%:*}|hover-base/)" | sed 's/^/  /' || true
