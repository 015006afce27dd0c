# Multi-stage build: a cached dependency layer, then a small non-root runtime image.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY vendor vendor
# Build the dependencies once, keyed on the manifests only.
RUN mkdir src examples bench && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > examples/mock_backend.rs && echo 'fn main() {}' > bench/main.rs \
    && cargo build --release --bin llmgate && rm -rf src examples bench
COPY src src
COPY examples examples
COPY bench bench
COPY tests tests
RUN touch src/main.rs src/lib.rs && cargo build --release --bin llmgate --example mock_backend

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 llmgate
COPY --from=build /src/target/release/llmgate /usr/local/bin/llmgate
COPY --from=build /src/target/release/examples/mock_backend /usr/local/bin/llmgate-mock-backend
COPY conf /etc/llmgate
USER llmgate
EXPOSE 8000
# Shell form, so API_PORT (environment mode, docker-compose.yml) is honoured.
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS "http://127.0.0.1:${API_PORT:-8000}/livez" || exit 1
ENTRYPOINT ["/usr/local/bin/llmgate"]
CMD ["-c", "/etc/llmgate/llmgate.yaml", "--host", "0.0.0.0"]
