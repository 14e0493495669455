#!/usr/bin/env bash
# Installs what the interop tests need beyond Erlang: Debian's python3-thrift
# (an independent Thrift peer, run with /usr/bin/python3) and thrift-compiler
# (generates that peer's Python code), and openssl (certificates for the TLS
# distribution tests), and chromium (the browser tests of the chat page,
# driven by playwright-core). Idempotent; as root it installs with
# apt-get, otherwise it says what to install.
set -euo pipefail
missing=()
command -v thrift >/dev/null 2>&1 || missing+=(thrift-compiler)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import thrift' 2>/dev/null || missing+=(python3-thrift)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-test-deps: missing ${missing[*]}; on Debian: sudo apt-get install ${missing[*]}" >&2
exit 1
