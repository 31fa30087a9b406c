# Multi-stage build of the stock switchboard binary (embedded NATS, gateway,
# chat demo worker, CLI). The same image runs every role:
#   docker run image start --roles gateway
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/switchboard ./cmd/switchboard

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY configs/ /etc/switchboard/
EXPOSE 8282
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["start", "-c", "/etc/switchboard/switchboard.yaml"]
