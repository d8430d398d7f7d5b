# Multi-stage build: a static journey binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/journey ./cmd/journey

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/journey /usr/local/bin/journey
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/journey"]
CMD ["version"]
