#!/usr/bin/env bash
# Debian packages the tests and benchmarks need: PostgreSQL (the store's tests), wrk (the API
# benchmark), poppler-utils (pdftoppm, to look at the PDF report); with the argument `java`, also
# Java 17 for the Spark engine (openjdk-17-jre-headless). Installs only what is missing; needs
# root or sudo the first time.
set -euo pipefail
missing=()
if [ "${1:-}" = java ]; then
  java -version 2>&1 | grep -q 'version "17' || missing+=(openjdk-17-jre-headless)
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_tools.sh: no apt-get here; install ${missing[*]} with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
echo "setup_tools.sh: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
