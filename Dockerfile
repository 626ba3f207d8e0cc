# Multi-stage build: a static jevons binary in a small non-root image.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jevons ./cmd/jevons

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jevons /usr/local/bin/jevons
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/jevons"]
