#!/usr/bin/env bash
# Builds the two peer controllers `npm run bench:peer` compares ModelRollout with, from the Go module proxy,
# once per machine; cached outside the repo, keyed by version, never rebuilt when present. CI never runs this.
#   MODELROLLOUT_BIN_DIR (default ~/.cache/modelrollout/bin)
# Each versioned dir holds the binary and the peer's CRDs from the same module version (copied first, so a
# present binary means both are there).
#   - Argo Rollouts: its go.mod needs Go >= 1.26.10, so GOTOOLCHAIN=go1.27.3 for this build only (the go command
#     takes that toolchain from the module proxy); its go.mod carries replace directives, so `go install` refuses
#     it and the build runs in a writable copy of the downloaded module.
#   - Flagger: `go install` works (go 1.21, no replace).
# Keep the versions in step with scripts/bench-peer/tools.ts.
set -euo pipefail

ARGO_ROLLOUTS_VERSION=v1.10.2
ARGO_GOTOOLCHAIN=go1.27.3
FLAGGER_VERSION=v1.36.1

bin_root=${MODELROLLOUT_BIN_DIR:-$HOME/.cache/modelrollout/bin}
argo_dir=$bin_root/argo-rollouts-$ARGO_ROLLOUTS_VERSION
flagger_dir=$bin_root/flagger-$FLAGGER_VERSION
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { printf '[build-peers] %s\n' "$*" >&2; }
elapsed() { echo $(($(date +%s) - $1))s; }
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

build_argo_rollouts() {
  [ -x "$argo_dir/rollouts-controller" ] && { log "argo-rollouts $ARGO_ROLLOUTS_VERSION cached"; return; }
  local t src work
  t=$(date +%s)
  log "building argo-rollouts $ARGO_ROLLOUTS_VERSION with $ARGO_GOTOOLCHAIN (cold: about 5 min on 2 cores)"
  src=$(GOTOOLCHAIN=$ARGO_GOTOOLCHAIN module_dir "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION") || return 1
  [ -d "$src" ] || { log "go mod download gave no module directory for argo-rollouts"; return 1; }
  work=$(mktemp -d)
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  mkdir -p "$argo_dir/crds"
  # install -m 644: module cache files are read-only, and a rerun after an interrupted build must overwrite them.
  install -m 644 "$src"/manifests/crds/*-crd.yaml "$argo_dir/crds/"
  (cd "$work/src" && GOTOOLCHAIN=$ARGO_GOTOOLCHAIN nice go build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${ARGO_ROLLOUTS_VERSION#v}" \
    -o "$argo_dir/rollouts-controller.tmp" ./cmd/rollouts-controller)
  rm -rf "$work"
  mv "$argo_dir/rollouts-controller.tmp" "$argo_dir/rollouts-controller"
  log "argo-rollouts built in $(elapsed "$t")"
}

build_flagger() {
  [ -x "$flagger_dir/flagger" ] && { log "flagger $FLAGGER_VERSION cached"; return; }
  local t src
  t=$(date +%s)
  log "building flagger $FLAGGER_VERSION (cold: a few minutes on 2 cores)"
  src=$(module_dir "github.com/fluxcd/flagger@$FLAGGER_VERSION") || return 1
  [ -d "$src" ] || { log "go mod download gave no module directory for flagger"; return 1; }
  mkdir -p "$flagger_dir"
  install -m 644 "$src/artifacts/flagger/crd.yaml" "$flagger_dir/crd.yaml"
  GOBIN="$flagger_dir/.tmp" nice go install -trimpath -ldflags "-s -w" "github.com/fluxcd/flagger/cmd/flagger@$FLAGGER_VERSION"
  mv "$flagger_dir/.tmp/flagger" "$flagger_dir/flagger"
  rmdir "$flagger_dir/.tmp"
  log "flagger built in $(elapsed "$t")"
}

status=0
build_flagger || status=1
build_argo_rollouts || status=1
exit $status
