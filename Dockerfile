# Static binary on distroless, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /kestra-guard ./cmd/kestra-guard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /kestra-guard /kestra-guard
USER 65532:65532
ENTRYPOINT ["/kestra-guard"]
CMD ["serve"]
