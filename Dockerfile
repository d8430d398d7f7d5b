# Multi-stage build: a static journey binary (CGO off) on a distroless base
# with no shell: the image holds the binary, CA certificates and tzdata.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/journey ./cmd/journey
# The state directory, owned by the nonroot user: a named volume mounted
# there starts with this ownership, so journey can write its Pebble state.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/journey /usr/local/bin/journey
COPY --from=build --chown=nonroot:nonroot /out/state /var/lib/journey
USER nonroot:nonroot
ENV JOURNEY_STATE_DIR=/var/lib/journey
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/journey"]
CMD ["version"]
