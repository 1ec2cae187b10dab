# SPDX-License-Identifier: Apache-2.0
# sluice from Debian 12 packages only (docs/database.md, "Container image").
#   docker build -t sluice .
#   docker run -p 8080:8080 -v sluice-data:/var/lib/sluice sluice \
#       --public-url https://registry.example.org
# The build stage builds and runs the unit tests; the runtime stage holds the
# binary and the shared libraries it loads, and runs as an unprivileged user.

FROM debian:12 AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       build-essential cmake pkg-config python3 libssl-dev libjansson-dev \
       libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libpq-dev \
       libcriterion-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=OFF \
    && cmake --build /build -j"$(nproc)" \
    && (cd /build && ctest -L unit -LE postgres --output-on-failure) \
    && cmake --install /build --prefix /usr/local

FROM debian:12-slim
# libmicrohttpd12 and libcurl4 are loaded at run time (dlopen); curl is for
# the health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       ca-certificates libssl3 libjansson4 libsqlite3-0 libpq5 libmicrohttpd12 \
       libcurl4 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
    && install -d -o sluice -g sluice -m 0700 /var/lib/sluice
COPY --from=build /usr/local/bin/sluice /usr/local/bin/sluice
USER 10001:10001
VOLUME ["/var/lib/sluice"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/api/v1/health"]
ENTRYPOINT ["/usr/local/bin/sluice", "serve", "--data", "/var/lib/sluice", "--listen", "0.0.0.0:8080"]
