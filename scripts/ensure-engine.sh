#!/bin/sh
# Makes sure a Docker engine answers and that the test image exists.
#
#   sh scripts/ensure-engine.sh
#
# - DOCKER_HOST set: that engine is only checked (nothing is installed or
#   started); the test image is built there if missing.
# - Otherwise /var/run/docker.sock is checked. If nothing answers and we are
#   root on Debian, docker.io + busybox-static + curl are installed (only what
#   is missing) and dockerd is started in the background without networking
#   (log: /tmp/dockerd.log). Then the image is built if missing.
#
# Idempotent, and silent when everything is already in place. Exits non-zero
# with a how-to message when it cannot get there.
set -eu

IMAGE='dlr-busybox:latest'
# Bump when the image contents change: an existing image with another
# revision is rebuilt. The revision is kept in the image's Comment (set by
# `docker import --message`), not in a label: image labels would show up as
# labels of every test container.
IMAGE_REVISION='dlr-busybox revision 2'
APPLETS='sh seq sleep printf head tr cat echo yes date wc dd env true false kill awk ls tee'
DEFAULT_SOCK='/var/run/docker.sock'
DOCKERD_LOG='/tmp/dockerd.log'
DOCKERD_FLAGS='--bridge=none --iptables=false --ip-forward=false'
WAIT_SECONDS=60
HOWTO="run 'sh scripts/ensure-engine.sh' as root on Debian (it installs and starts everything), or by hand: apt-get install docker.io busybox-static curl && dockerd $DOCKERD_FLAGS >$DOCKERD_LOG 2>&1 &"
STARTED_DOCKERD=0

say() { printf 'ensure-engine: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  if [ "$STARTED_DOCKERD" = 1 ] && [ -f "$DOCKERD_LOG" ]; then
    say "last lines of $DOCKERD_LOG:"
    tail -n 20 "$DOCKERD_LOG" >&2 || true
  fi
  exit 1
}

# The Debian client (/usr/bin/docker) matches the Debian engine; a newer
# client in /usr/local/bin negotiates the API version down by itself.
docker_cli() {
  if [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  elif command -v docker >/dev/null 2>&1; then
    command -v docker
  else
    echo ''
  fi
}

find_dockerd() {
  if command -v dockerd >/dev/null 2>&1; then
    command -v dockerd
  elif [ -x /usr/sbin/dockerd ]; then
    echo /usr/sbin/dockerd
  elif [ -x /usr/bin/dockerd ]; then
    echo /usr/bin/dockerd
  else
    echo ''
  fi
}

# ping_engine: succeeds when the engine (DOCKER_HOST or the default socket)
# answers /_ping.
ping_engine() {
  if [ -n "${DOCKER_HOST:-}" ]; then
    case "$DOCKER_HOST" in
      unix://*)
        if command -v curl >/dev/null 2>&1; then
          curl -fsS --max-time 5 --unix-socket "${DOCKER_HOST#unix://}" http://localhost/_ping >/dev/null 2>&1 && return 0
        fi
        ;;
      tcp://*)
        if [ -z "${DOCKER_TLS_VERIFY:-}" ] && command -v curl >/dev/null 2>&1; then
          curl -fsS --max-time 5 "http://${DOCKER_HOST#tcp://}/_ping" >/dev/null 2>&1 && return 0
        fi
        ;;
    esac
  else
    if [ -S "$DEFAULT_SOCK" ] && command -v curl >/dev/null 2>&1; then
      curl -fsS --max-time 5 --unix-socket "$DEFAULT_SOCK" http://localhost/_ping >/dev/null 2>&1 && return 0
    fi
  fi
  # Fallback (no curl, TLS, ssh://, ...): the CLI follows DOCKER_HOST itself.
  cli=$(docker_cli)
  if [ -n "$cli" ]; then
    if [ -n "${DOCKER_HOST:-}" ] || [ -S "$DEFAULT_SOCK" ]; then
      "$cli" version >/dev/null 2>&1 && return 0
    fi
  fi
  return 1
}

is_static_busybox() {
  [ -x /bin/busybox ] || return 1
  if command -v dpkg-query >/dev/null 2>&1 &&
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
    return 0
  fi
  # glibc's ldd says "not a dynamic executable" for static binaries.
  if command -v ldd >/dev/null 2>&1; then
    ldd /bin/busybox 2>&1 | grep -q 'not a dynamic executable' && return 0
  fi
  return 1
}

# install_missing_packages: apt-get install what is missing among docker.io,
# busybox-static and curl (root on Debian only).
install_missing_packages() {
  missing=''
  if [ -z "$(find_dockerd)" ] || [ -z "$(docker_cli)" ]; then missing="$missing docker.io"; fi
  is_static_busybox || missing="$missing busybox-static"
  command -v curl >/dev/null 2>&1 || missing="$missing curl"
  [ -n "$missing" ] || return 0

  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
    die "missing:$missing, and this is not root on Debian with apt-get, so they cannot be installed here; $HOWTO"
  fi
  say "installing:$missing (apt-get; this takes a minute)"
  if ! apt-get update -qq >/tmp/ensure-engine-apt.log 2>&1; then
    tail -n 30 /tmp/ensure-engine-apt.log >&2 || true
    die "apt-get update failed (full log: /tmp/ensure-engine-apt.log); $HOWTO"
  fi
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >>/tmp/ensure-engine-apt.log 2>&1; then
    tail -n 30 /tmp/ensure-engine-apt.log >&2 || true
    die "apt-get install$missing failed (full log: /tmp/ensure-engine-apt.log); $HOWTO"
  fi
}

dockerd_running() {
  [ -f /var/run/docker.pid ] || return 1
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start_dockerd() {
  dockerd_bin=$(find_dockerd)
  [ -n "$dockerd_bin" ] || die "dockerd not found after installing docker.io; $HOWTO"
  STARTED_DOCKERD=1
  if dockerd_running; then
    say "dockerd is already running (pid $(cat /var/run/docker.pid)); waiting for it to answer"
  else
    say "starting $dockerd_bin $DOCKERD_FLAGS (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon must outlive this script, npm and the CI step.
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    if command -v setsid >/dev/null 2>&1; then
      setsid nohup "$dockerd_bin" $DOCKERD_FLAGS >"$DOCKERD_LOG" 2>&1 </dev/null &
    else
      nohup "$dockerd_bin" $DOCKERD_FLAGS >"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
  fi
  i=0
  while [ "$i" -lt "$WAIT_SECONDS" ]; do
    if ping_engine; then
      say "engine answers at $DEFAULT_SOCK"
      return 0
    fi
    i=$((i + 1))
    sleep 1
  done
  die "dockerd did not answer at $DEFAULT_SOCK within ${WAIT_SECONDS}s (see $DOCKERD_LOG); $HOWTO"
}

image_ok() {
  rev=$("$CLI" image inspect -f '{{.Comment}}' "$IMAGE" 2>/dev/null) || return 1
  [ "$rev" = "$IMAGE_REVISION" ]
}

build_image() {
  is_static_busybox || die "/bin/busybox is missing or not the static one, cannot build $IMAGE; install busybox-static (apt-get install busybox-static) and rerun sh scripts/ensure-engine.sh"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlr-image.XXXXXX")
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$tmp/bin" "$tmp/tmp"
  chmod 1777 "$tmp/tmp"
  cp /bin/busybox "$tmp/bin/busybox"
  chmod 0755 "$tmp/bin/busybox"
  for applet in $APPLETS; do
    ln -s busybox "$tmp/bin/$applet"
  done
  if ! tar -C "$tmp" -c . | "$CLI" import \
    --change 'ENV PATH=/bin' \
    --message "$IMAGE_REVISION" \
    - "$IMAGE" >/dev/null; then
    die "docker import of $IMAGE failed"
  fi
  rm -rf "$tmp"
  trap - EXIT INT TERM
  "$CLI" image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE still missing after docker import"
  say "built image $IMAGE"
}

# --- engine ------------------------------------------------------------------
if [ -n "${DOCKER_HOST:-}" ]; then
  ping_engine || die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST (with DOCKER_HOST set this script only checks, it does not install or start anything); start that engine, or unset DOCKER_HOST and $HOWTO"
elif ! ping_engine; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
    die "no Docker engine answers at $DEFAULT_SOCK, and this is not root on Debian, so none can be set up here; $HOWTO"
  fi
  install_missing_packages
  # The package may have started a daemon (no policy-rc.d): check again.
  if ! ping_engine; then
    start_dockerd
  fi
fi

# --- test image ----------------------------------------------------------------
CLI=$(docker_cli)
if [ -z "$CLI" ]; then
  if [ -z "${DOCKER_HOST:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    install_missing_packages
    CLI=$(docker_cli)
  fi
  [ -n "$CLI" ] || die "no docker CLI found (needed to build $IMAGE); install docker.io (apt-get install docker.io)"
fi

if ! image_ok; then
  old_id=$("$CLI" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  if [ -z "${DOCKER_HOST:-}" ] && ! is_static_busybox; then
    install_missing_packages
  fi
  build_image
  # Drop the replaced revision unless a container still uses it.
  if [ -n "$old_id" ]; then
    "$CLI" image rm "$old_id" >/dev/null 2>&1 || true
  fi
fi
exit 0
