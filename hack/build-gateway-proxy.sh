#!/usr/bin/env bash
# Builds the Gateway API proxy of the test environment (Traefik, Kubernetes Gateway provider) from the Go
# module proxy, once per machine; cached outside the repo, keyed by version, never rebuilt when present.
#   MODELROLLOUT_BIN_DIR (default ~/.cache/modelrollout/bin)
# `go install traefik@v3` refuses the module (its go.mod has replace directives), so the build runs inside
# a writable copy of the downloaded module, where those replaces (all to versioned forks) resolve normally.
# Keep TRAEFIK_VERSION in step with test/env/binaries.ts.
set -euo pipefail

TRAEFIK_VERSION=v3.6.12

bin_root=${MODELROLLOUT_BIN_DIR:-$HOME/.cache/modelrollout/bin}
out_dir=$bin_root/traefik-$TRAEFIK_VERSION
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { printf '[build-gateway-proxy] %s\n' "$*" >&2; }

[ -x "$out_dir/traefik" ] && { log "traefik $TRAEFIK_VERSION cached"; exit 0; }
t=$(date +%s)
log "building traefik $TRAEFIK_VERSION (cold: about 6.5 min on 2 cores)"
mod_dir=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$mod_dir" ] || { log "go mod download gave no module directory"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$mod_dir" "$work/src" && chmod -R u+w "$work/src"
mkdir -p "$out_dir"
(cd "$work/src" && go build -trimpath \
  -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
  -o "$out_dir/traefik.tmp" ./cmd/traefik)
mv "$out_dir/traefik.tmp" "$out_dir/traefik"
log "traefik built in $(( $(date +%s) - t ))s"
