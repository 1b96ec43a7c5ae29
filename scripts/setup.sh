#!/usr/bin/env bash
# Set up everything agentkit needs on a fresh Debian machine, as root (idempotent).
#   scripts/setup.sh            Python venv with agentkit and its dev extras
#   scripts/setup.sh --docker   ... plus a running Docker engine and the sandbox image
set -euo pipefail
cd "$(dirname "$0")/.."
want_docker=0
[ "${1:-}" = "--docker" ] && want_docker=1

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# 1. Python: a venv with agentkit installed editable (re-installed when pyproject changes).
PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_install python3-venv; fi
[ -x .venv/bin/python ] || { log "creating .venv"; "$PY" -m venv .venv; }
stamp=.venv/.agentkit-installed
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  log "installing agentkit[dev] into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  echo "$digest" > "$stamp"
fi

# 1b. Node.js for pyright (the typing test in scripts/test.sh); Debian's package, so pyright
# never downloads a Node.js of its own.
command -v node >/dev/null 2>&1 || apt_install nodejs
# 1b. Third-party MCP servers the MCP tests start the way their users do (pinned versions):
#     @modelcontextprotocol/server-everything and server-filesystem (npm, Node from Debian),
#     mcp-server-time (PyPI, in its own venv: it brings its own mcp SDK version).
mcp_dir=.cache/mcp-servers
mcp_pins="server-everything@2026.8.31 server-filesystem@2026.8.31 mcp-server-time==2026.10.19"
if [ "$(cat "$mcp_dir/.installed" 2>/dev/null)" != "$mcp_pins" ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  log "installing the MCP test servers into $mcp_dir"
  mkdir -p "$mcp_dir"
  npm install --prefix "$mcp_dir/node" --no-audit --no-fund --loglevel=error \
    @modelcontextprotocol/server-everything@2026.8.31 \
    @modelcontextprotocol/server-filesystem@2026.8.31 >&2
  [ -x "$mcp_dir/time-venv/bin/python" ] || "$PY" -m venv "$mcp_dir/time-venv"
  "$mcp_dir/time-venv/bin/pip" install -q mcp-server-time==2026.10.19 >&2
  echo "$mcp_pins" > "$mcp_dir/.installed"
fi
# browser: a headless Chromium for the tests that check HTML pages in a real browser (the tau2
# report). Debian's package; Playwright for Python (dev extra) drives it through
# executable_path=/usr/bin/chromium. Never `playwright install` (it downloads its own build).
apt_install chromium

[ $want_docker = 1 ] || exit 0

# 2. Docker engine: install docker.io and start dockerd when no daemon answers.
daemon_up() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }
if ! daemon_up; then
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if ! daemon_up; then
    log "starting dockerd"
    (as_root nohup dockerd >/tmp/agentkit-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do daemon_up && break; sleep 1; done
  fi
  daemon_up || { log "dockerd did not start; see /tmp/agentkit-dockerd.log"; exit 1; }
fi

# 3. The sandbox image, built offline (debootstrap + docker import + PyPI wheels) if missing.
if ! .venv/bin/python -c 'import sys; from agentkit.sandbox.image import default_image, image_exists
sys.exit(0 if image_exists(default_image()) else 1)' 2>/dev/null; then
  apt_install debootstrap
  .venv/bin/python -m agentkit.sandbox build --offline --if-missing >&2
fi

# 4. Postgres server binaries for the session-store tests (they start a throw-away cluster on
#    a Unix socket in a temp dir themselves; no service is enabled or started here).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1
then
  apt_install postgresql
fi
