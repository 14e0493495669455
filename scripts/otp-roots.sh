#!/usr/bin/env bash
# Prepares extra Erlang/OTP installations for the interop tests: Debian roots
# made with debootstrap, run with `chroot ROOT erl ...` (src/procs/erl.ts
# erlCommand, src/testing/erl.ts otpVariants()).
#
#   /opt/otp-trixie   Debian trixie  (OTP 27)
#   /opt/otp-sid      Debian sid     (OTP 29 at the time of writing)
#
# Usage: bash scripts/otp-roots.sh [trixie|sid ...]     (default: both)
#
# Idempotent: a root that already has usr/bin/erl is skipped. A root is built in
# ROOT.partial and renamed into place only when erl runs in it, so an interrupted
# run never leaves a half-made root that looks finished. Needs root (debootstrap
# and chroot); installs debootstrap with apt-get if it is missing. The mirror is
# the first non-security Debian URI of this machine's own apt sources
# (OTP_ROOTS_MIRROR overrides it). Prints what it does; exits non-zero with a
# message on failure.
set -euo pipefail

log() { echo "otp-roots: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(trixie sid)

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it); try: sudo bash $0 ${suites[*]}"

root_of() {
  case "$1" in
    trixie) echo /opt/otp-trixie ;;
    sid) echo /opt/otp-sid ;;
    *) die "unknown suite '$1' (known: trixie, sid)" ;;
  esac
}

# OTP release inside a root, e.g. "27".
otp_release() {
  chroot "$1" erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null
}

# Unmounts anything debootstrap left mounted under $1 (deepest first), so that
# removing a failed attempt never touches the host's /proc, /sys or /dev.
unmount_under() {
  local dir mnts
  dir=$(realpath -m "$1")
  mnts=$(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r)
  [ -z "$mnts" ] && return 0
  while IFS= read -r m; do
    log "unmounting leftover $m"
    umount "$m" 2>/dev/null || umount -l "$m" || die "cannot unmount $m; remove $dir by hand"
  done <<<"$mnts"
}

todo=()
for s in "${suites[@]}"; do
  r=$(root_of "$s")
  if [ -x "$r/usr/bin/erl" ]; then
    log "$r already has usr/bin/erl (OTP $(otp_release "$r" || echo '?')): skipping $s"
  else
    todo+=("$s")
  fi
done
if [ ${#todo[@]} -eq 0 ]; then
  log "nothing to do"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and apt-get is not available to install it"
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed"
fi

mirror=${OTP_ROOTS_MIRROR:-}
if [ -z "$mirror" ]; then
  srcs=()
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$f" ] && srcs+=("$f")
  done
  if [ ${#srcs[@]} -gt 0 ]; then
    mirror=$(grep -hE '^(URIs:|deb )' "${srcs[@]}" | grep -o 'http[^ ]*' | grep -v security | grep -i debian | head -1 || true)
  fi
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*; set OTP_ROOTS_MIRROR=http://.../debian"
log "mirror: $mirror"

for s in "${todo[@]}"; do
  r=$(root_of "$s")
  partial="$r.partial"
  if [ -e "$partial" ]; then
    log "removing an unfinished earlier attempt at $partial"
    unmount_under "$partial"
    rm -rf --one-file-system "$partial"
  fi
  if [ -e "$r" ]; then
    # Exists but has no erl: not ours to keep (an old failed layout); rebuild it.
    log "$r exists without usr/bin/erl; moving it aside to $r.broken.$$"
    unmount_under "$r"
    mv "$r" "$r.broken.$$"
  fi
  mkdir -p "$(dirname "$r")"
  log "debootstrap $s into $partial (erlang-base, erlang-ssl); this takes a few minutes"
  logfile=$(mktemp "/tmp/otp-roots-$s.XXXXXX.log")
  if ! debootstrap --variant=minbase --include=erlang-base,erlang-ssl "$s" "$partial" "$mirror" >"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2 || true
    unmount_under "$partial"
    die "debootstrap $s failed (full log: $logfile)"
  fi
  unmount_under "$partial"
  # Downloaded .debs are not needed once installed (about 100 MB per root).
  rm -f "$partial"/var/cache/apt/archives/*.deb
  rel=$(otp_release "$partial" || true)
  [ -n "$rel" ] || die "erl does not run inside $partial (see $logfile)"
  mv "$partial" "$r"
  rm -f "$logfile"
  log "ready: $r runs OTP $rel"
done

for s in "${suites[@]}"; do
  r=$(root_of "$s")
  log "$s: $r OTP $(otp_release "$r" || echo '?')"
done
