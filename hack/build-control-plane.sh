#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, once per machine.
# Binaries are cached outside the repo, keyed by version; an existing binary is never rebuilt.
#   MODELROLLOUT_BIN_DIR (default ~/.cache/modelrollout/bin)
set -euo pipefail

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4

here=$(cd "$(dirname "$0")" && pwd)
bin_root=${MODELROLLOUT_BIN_DIR:-$HOME/.cache/modelrollout/bin}
k8s_dir=$bin_root/k8s-$K8S_VERSION
etcd_dir=$bin_root/etcd-$ETCD_VERSION
kwok_dir=$bin_root/kwok-$KWOK_VERSION
helm_dir=$bin_root/helm-$HELM_VERSION

export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { printf '[build-control-plane] %s\n' "$*" >&2; }
elapsed() { echo $(( $(date +%s) - $1 ))s; }

build_etcd() {
  [ -x "$etcd_dir/etcd" ] && { log "etcd $ETCD_VERSION cached"; return; }
  local t=$(date +%s)
  log "building etcd $ETCD_VERSION"
  (cd "$here/etcd-bin" && go build -trimpath -ldflags "-s -w" -o "$etcd_dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$etcd_dir/etcd.tmp" "$etcd_dir/etcd"
  log "etcd built in $(elapsed "$t")"
}

# kwok ships no stages inside the binary; the "fast" set (node initialise + lease heartbeat, pod
# ready/complete/delete) comes from the same module version, concatenated into one --config file.
write_kwok_stages() {
  [ -s "$kwok_dir/stages.yaml" ] && return
  local src
  src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  [ -d "$src" ] || (cd "$here/etcd-bin" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
  local f out="$kwok_dir/stages.yaml.tmp"
  : > "$out"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n' >> "$out"
    cat "$src/$f" >> "$out"
  done
  mv "$out" "$kwok_dir/stages.yaml"
}

build_kwok() {
  [ -x "$kwok_dir/kwok" ] && { log "kwok $KWOK_VERSION cached"; write_kwok_stages; return; }
  local t=$(date +%s)
  log "building kwok $KWOK_VERSION"
  mkdir -p "$kwok_dir"
  GOBIN="$kwok_dir/.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$kwok_dir/.tmp/kwok" "$kwok_dir/kwok" && rmdir "$kwok_dir/.tmp"
  write_kwok_stages
  log "kwok built in $(elapsed "$t")"
}

# Helm for the chart tests (helm lint / template / install), from the Go module proxy like the rest.
build_helm() {
  [ -x "$helm_dir/helm" ] && { log "helm $HELM_VERSION cached"; return; }
  local t=$(date +%s)
  log "building helm $HELM_VERSION"
  mkdir -p "$helm_dir"
  GOBIN="$helm_dir/.tmp" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$helm_dir/.tmp/helm" "$helm_dir/helm" && rmdir "$helm_dir/.tmp"
  log "helm built in $(elapsed "$t")"
}

build_k8s() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler) missing=0 b
  for b in "${want[@]}"; do [ -x "$k8s_dir/$b" ] || missing=1; done
  [ $missing = 0 ] && { log "kubernetes $K8S_VERSION cached"; return; }
  local t=$(date +%s) minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  log "building kubernetes $K8S_VERSION (cold: 10-25 min on 2 cores)"
  # Without these ldflags every binary reports v0.0.0-master and /version is useless.
  local pkg=k8s.io/component-base/version
  local ldf="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldf+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=unknown -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  mkdir -p "$k8s_dir/.tmp"
  (cd "$here/k8s-bins" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$k8s_dir/.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
  for b in "${want[@]}"; do mv "$k8s_dir/.tmp/$b" "$k8s_dir/$b"; done
  rmdir "$k8s_dir/.tmp"
  log "kubernetes built in $(elapsed "$t")"
}

mkdir -p "$etcd_dir" "$k8s_dir"
build_etcd
build_kwok
build_k8s
build_helm
"$k8s_dir/kube-apiserver" --version >&2
