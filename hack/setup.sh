#!/usr/bin/env bash
# Everything a fresh Debian machine needs before `npm test` or `npm run demo`; safe to run again
# (each step skips what is already there).
#   1. Debian packages: prometheus (analysis tests scrape with it), ffmpeg (the inference runtime encodes MP4),
#      lua5.1 + lua-cjson (the Argo CD health check is tested with the Lua it runs in), chromium (the dashboard's
#      browser test drives it through playwright-core, which downloads no browser of its own).
#   2. The control plane's binaries and the Gateway API proxy (Traefik), built from the Go module proxy and
#      cached in ~/.cache/modelrollout/bin.
#   3. npm dependencies from package-lock.json, and the inference runtime's ffmpeg zygote (gcc).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
# Progress on long work: each part says it starts, what remains after it, and how long it took (a cold
# machine spends minutes in parts 2 and 3, printing mostly Go's download lines).
parts=("Debian packages" "control plane binaries (cold: ~7 min)" "Gateway API proxy (cold: ~4-7 min)" "npm dependencies")
part_started=0
part() { # part <index>
  part_started=$(date +%s)
  local rest=("${parts[@]:$(($1 + 1))}")
  log "part $(($1 + 1))/${#parts[@]}: ${parts[$1]}${rest[*]:+ — then: $(IFS=,; echo "${rest[*]}" | sed 's/,/, /g')}"
}
done_part() { log "  done in $(($(date +%s) - part_started)) s"; }
setup_started=$(date +%s)

part 0
# redis-server: the shared job store's tests start their own on a free loopback port (Debian's service autostart is not used).
# chromium: /usr/bin/chromium, the headless browser of test/integration/dashboard.test.ts.
# gcc + libc6-dev: the inference runtime's ffmpeg zygote (inference-image/native/ffmpeg-zygote.c), built in part 4.
apt_packages=(prometheus ffmpeg lua5.1 lua-cjson redis-server chromium gcc libc6-dev)
missing=()
for p in "${apt_packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

done_part
part 1
bash hack/build-control-plane.sh
done_part
part 2
bash hack/build-gateway-proxy.sh
done_part
part 3

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.modelrollout-lock 2>/dev/null)" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.modelrollout-lock
else
  log "node_modules matches package-lock.json"
fi
# The ffmpeg zygote's library (under 1 s): the runtime forks each clip's ffmpeg from one linked once.
npm run --silent build:native --workspace @modelrollout/inference
done_part
log "ready in $(($(date +%s) - setup_started)) s"
