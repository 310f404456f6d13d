# One image, two static binaries: auth0-worker (the default entrypoint) and
# auth0-emulator (the local Auth0 tenant used by docker-compose.yml).
#   docker build -t auth0-worker .
#   docker run --rm auth0-worker version
# The go build lines are the release build: static (CGO_ENABLED=0), no local
# paths (-trimpath), no symbol tables (-s -w).

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# (No BuildKit cache mounts: the file builds with the classic builder too.)
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/auth0-worker ./cmd/auth0-worker && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/auth0-emulator ./cmd/auth0-emulator

# Alpine rather than distroless: its busybox wget is what the compose
# healthchecks call (distroless has no shell and no HTTP client), for ~8 MB.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata && \
    addgroup -S -g 10001 app && adduser -S -D -u 10001 -G app app
COPY --from=build /out/auth0-worker /out/auth0-emulator /usr/local/bin/
# Non-root; a numeric id so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /home/app
# 8080: worker /healthz /readyz /metrics (HTTP_ADDR). 8081: emulator.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/auth0-worker"]
CMD ["run"]
