# The gateway with the dashboard built in, for `docker compose up`.
# The build stage runs the same scripts as a developer and CI:
# scripts/setup.sh --build, then scripts/build.sh.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Tools first, so they stay cached while the source changes.
COPY Cargo.lock Trunk.toml ./
COPY scripts scripts
COPY tools tools
RUN scripts/setup.sh --build
COPY . .
RUN scripts/build.sh

FROM debian:bookworm-slim
# OpenSSL, for TLS to Kafka (librdkafka links it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 gateway
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
COPY --from=build /src/dist /srv/dashboard
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_STATIC_DIR=/srv/dashboard
EXPOSE 8080
USER gateway
ENTRYPOINT ["gateway"]
