# A local stand-in for the official `rust:<version>-bookworm` image, for machines that cannot
# pull it: Debian bookworm, the C toolchain the official image has (buildpack-deps), and a Rust
# toolchain copied from the host (bookworm's own rustc 1.63 is too old for the AWS SDK).
# docker/build.sh builds it with a context holding `toolchain/` (a rustup toolchain's bin/,
# lib/ and libexec/) and `extra-ca/`: the certificate authorities the host trusts beyond
# Debian's (/usr/local/share/ca-certificates: here, the egress proxy's), so that cargo reaches
# crates.io from the builder as it does from the host. Only this local builder trusts them;
# the runtime image does not. Not used where the official image can be pulled.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates gcc g++ libc6-dev make pkg-config git \
    && rm -rf /var/lib/apt/lists/*
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
COPY toolchain /usr/local/rust
ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo
RUN rustc --version && cargo --version
