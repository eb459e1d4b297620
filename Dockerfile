# tracescan in a container: a build stage with the Rust toolchain, and a
# slim runtime stage with the binary, the bundled sample and the example
# settings.
#
#   docker build -t tracescan .
#   docker run --rm -p 8080:8080 tracescan                       # the bundled sample
#   docker run --rm -p 8080:8080 -v /srv/tracescan:/var/lib/tracescan tracescan \
#       --config /etc/tracescan/tracescan.toml                   # published indexes
#
# The runtime stage runs as an unprivileged user; /var/lib/tracescan (indexes
# and state) is the only path it writes, and is a volume.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tracescan

FROM debian:bookworm-slim
# CA certificates: `serve --follow https://…` or `s3://…` checks the store's
# TLS certificate against them.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/tracescan tracescan \
    && mkdir -p /var/lib/tracescan/indexes /var/lib/tracescan/state /usr/share/tracescan \
    && chown -R tracescan:tracescan /var/lib/tracescan
COPY --from=build /src/target/release/tracescan /usr/local/bin/tracescan
COPY --from=build /src/data/sample /usr/share/tracescan/data/sample
COPY packaging/tracescan.toml /etc/tracescan/tracescan.toml
USER tracescan
WORKDIR /usr/share/tracescan
VOLUME /var/lib/tracescan
EXPOSE 8080
ENV TRACESCAN_LISTEN=0.0.0.0:8080 \
    TRACESCAN_LOG_FORMAT=json
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tracescan", "serve"]
