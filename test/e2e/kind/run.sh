#!/usr/bin/env bash
# kind end-to-end: images, cluster, CRDs, chart, a ModelRollout serving the small model on CPU.
set -euo pipefail
cd "$(dirname "$0")/../../.."
CLUSTER=modelrollout
if [ "${1:-}" = "--delete" ]; then kind delete cluster --name "$CLUSTER"; exit 0; fi
for tool in docker kind kubectl helm; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

docker build -f operator/Dockerfile -t modelrollout/operator:dev .
docker build -f inference-image/Dockerfile -t modelrollout/t2v-inference:dev .
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER"
kind load docker-image --name "$CLUSTER" modelrollout/operator:dev modelrollout/t2v-inference:dev

kubectl apply -f ../shared/third-party-crds/gateway-api-v1.4.1/standard/
# Fake GPUs: extended resources are plain numbers to the scheduler.
for node in $(kubectl get nodes -o name); do
  kubectl patch "$node" --subresource=status --type=json -p '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"4"}]'
done
helm upgrade --install mro charts/modelrollout-operator -n modelrollout --create-namespace \
  --set image.repository=modelrollout/operator --set image.tag=dev --set image.pullPolicy=Never
kubectl -n modelrollout rollout status deployment/mro-modelrollout-operator --timeout=120s

kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
sed -e 's#ghcr.io/modelrollout/t2v-inference:0.1.0#modelrollout/t2v-inference:dev#' examples/minimal.yaml | kubectl -n demo apply -f -
kubectl -n demo wait --for=condition=Ready mro/t2v --timeout=300s
echo "ready: kubectl get mro -n demo -w"
