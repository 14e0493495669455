#!/usr/bin/env bash
# Makes sure Erlang/OTP (erl, erlc, epmd, eunit) is installed.
# As root on Debian it installs erlang-nox (and erlang-dev) with apt-get when
# erl is missing; otherwise it stops with a message saying what to install.
# Idempotent: it does nothing when everything is already there.
set -euo pipefail

missing=()
command -v erl >/dev/null 2>&1 || missing+=(erlang-nox)
command -v erlc >/dev/null 2>&1 || missing+=(erlang-nox)
command -v epmd >/dev/null 2>&1 || missing+=(erlang-nox)
# EUnit ships in erlang-eunit (pulled in by erlang-nox); check for it too.
if command -v erl >/dev/null 2>&1 && ! ls /usr/lib/erlang/lib/eunit-* >/dev/null 2>&1; then missing+=(erlang-nox); fi
[ -d /usr/lib/erlang/usr/include ] || missing+=(erlang-dev)

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-erlang: installing $pkgs" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq $pkgs >/dev/null
  command -v erl >/dev/null 2>&1 || { echo "ensure-erlang: erl still missing after installing $pkgs" >&2; exit 1; }
  exit 0
fi

echo "ensure-erlang: Erlang/OTP is required (missing: $pkgs)." >&2
echo "  On Debian or Ubuntu: sudo apt-get install $pkgs" >&2
echo "  Elsewhere: install Erlang/OTP 25 or newer so that erl, erlc and epmd are on PATH." >&2
exit 1
