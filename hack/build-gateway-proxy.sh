#!/usr/bin/env bash
# Builds the Gateway API proxy of the test environment (Traefik, Kubernetes Gateway provider) from the Go
# module proxy, once per machine; cached outside the repo, keyed by version, never rebuilt when present.
#   MODELROLLOUT_BIN_DIR (default ~/.cache/modelrollout/bin)
# Why v3.7: it is the first line whose Gateway provider applies filters on a backendRef (RequestHeaderModifier,
# ResponseHeaderModifier per weighted backend), which sticky A/B arms and adapter routing need. v3.6 ignores them.
# `go install traefik@v3` refuses the module (its go.mod has replace directives), so the build runs inside a
# writable copy of the downloaded module, where the versioned replaces resolve normally. Three things the module
# proxy does not give this version, each replaced by the nearest real thing, none on the Gateway path:
#   - ./pkg/config/dynamic/ext (a nested module, left out of the module zip): an empty package, the extension
#     hook it declares carries no configuration in open-source Traefik;
#   - the containous/go-http-auth fork at the pinned 2026 pseudo-version (not served): the 2020 fork v3.6 uses;
#   - 13 of lego's ~220 ACME DNS-challenge providers whose SDKs are not served: left out of lego's provider
#     table (Traefik then names them unknown, as for a misspelt provider). The tests use no ACME at all.
# Keep TRAEFIK_VERSION in step with test/env/binaries.ts.
set -euo pipefail

TRAEFIK_VERSION=v3.7.13
LEGO_VERSION=v5.4.1
HTTP_AUTH_FORK=v0.4.1-0.20200324110947-a37a7636d23e
UNSERVED_DNS_PROVIDERS="alidns aliesa azion dnsimple edgedns edgeone huaweicloud oraclecloud regfish sakuracloud tencentcloud ucloud yandexcloud"

bin_root=${MODELROLLOUT_BIN_DIR:-$HOME/.cache/modelrollout/bin}
out_dir=$bin_root/traefik-$TRAEFIK_VERSION
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { printf '[build-gateway-proxy] %s\n' "$*" >&2; }
# The module's directory in the module cache; on failure Go's reason (in its JSON on stdout) goes to stderr.
module_dir() {
  local out
  if ! out=$(go mod download -json "$1" 2>&1); then
    log "go mod download $1 failed:"
    printf '%s\n' "$out" >&2
    return 1
  fi
  printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

[ -x "$out_dir/traefik" ] && { log "traefik $TRAEFIK_VERSION cached"; exit 0; }
t=$(date +%s)
log "building traefik $TRAEFIK_VERSION (cold: about 7 min on 2 cores; Go prints the modules it downloads)"
traefik_src=$(module_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION") || exit 1
lego_src=$(module_dir "github.com/go-acme/lego/v5@$LEGO_VERSION") || exit 1
[ -d "$traefik_src" ] && [ -d "$lego_src" ] || { log "go mod download gave no module directory"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$traefik_src" "$work/src" && cp -r "$lego_src" "$work/lego" && chmod -R u+w "$work/src" "$work/lego"

mkdir -p "$work/src/pkg/config/dynamic/ext"
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.22\n' >"$work/src/pkg/config/dynamic/ext/go.mod"
cat >"$work/src/pkg/config/dynamic/ext/ext.go" <<'GO'
// Package ext: Traefik's extension hook, empty as in its open-source builds.
package ext

// HTTP holds no extra HTTP configuration.
type HTTP struct{}

// Router holds no extra router configuration.
type Router struct{}
GO

table="$work/lego/providers/dns/zz_gen_dns_providers.go"
for p in $UNSERVED_DNS_PROVIDERS; do
  rm -rf "$work/lego/providers/dns/$p"
  sed -i -e "\#\"github.com/go-acme/lego/v5/providers/dns/$p\"#d" \
    -e "s#return $p\.NewDNSProvider()#return nil, fmt.Errorf(\"DNS provider %q is not built into this test proxy\", name)#" "$table"
done

(cd "$work/src" &&
  go mod edit -replace "github.com/abbot/go-http-auth=github.com/containous/go-http-auth@$HTTP_AUTH_FORK" \
    -replace "github.com/go-acme/lego/v5=../lego" &&
  log "modules ready in $(($(date +%s) - t))s; compiling" &&
  mkdir -p "$out_dir" &&
  nice go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
    -o "$out_dir/traefik.tmp" ./cmd/traefik)
# Traefik's own CRDs of this version (TraefikService for the traefik router), beside the binary; copied first,
# so a present binary means both are there.
# (install -m 644: module cache files are read-only, and a rerun after an interrupted build must overwrite them.)
install -m 644 "$traefik_src/docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml" "$out_dir/traefik-crds.yaml"
# The Gateway API kinds its informers list beyond what the tests install (GRPCRoute, BackendTLSPolicy, and TLSRoute
# at v1), from the gateway-api module version it was built against: without them it never syncs.
gwapi_version=$(cd "$work/src" && go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)
gwapi_src=$(module_dir "sigs.k8s.io/gateway-api@$gwapi_version") || exit 1
mkdir -p "$out_dir/gateway-api-crds"
for kind in grpcroutes backendtlspolicies tlsroutes; do
  install -m 644 "$gwapi_src/config/crd/standard/gateway.networking.k8s.io_$kind.yaml" "$out_dir/gateway-api-crds/"
done
mv "$out_dir/traefik.tmp" "$out_dir/traefik"
log "traefik $TRAEFIK_VERSION built in $(($(date +%s) - t))s"
