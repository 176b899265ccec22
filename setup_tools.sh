#!/usr/bin/env bash
# Debian packages the tests and benchmarks need. Always: PostgreSQL (the store's tests), wrk (the
# API benchmark), poppler-utils (pdftoppm, to look at the PDF report). On request, by name:
#   java        Java 17 for the Spark engine (openjdk-17-jre-headless)
#   pango       Pango for the PDF report (WeasyPrint); without it the report is HTML only
#   prometheus  Prometheus with promtool (the alert rules' tests) and prometheus-node-exporter
#               (the automation's textfile)
#   chromium    headless Chromium (the dashboard's test)
#   all         every one of them (what CI asks for)
# Installs only what is missing; needs root or sudo the first time.
set -euo pipefail
wanted=" $* "
[[ "$wanted" == *" all "* ]] && wanted=" java pango prometheus chromium "
for kind in $wanted; do
  case "$kind" in
    java | pango | prometheus | chromium) ;;
    *) echo "setup_tools.sh: unknown kind '$kind' (java, pango, prometheus, chromium or all)" >&2; exit 2 ;;
  esac
done
missing=()
asked() { [[ "$wanted" == *" $1 "* ]]; }
if asked java; then
  java -version 2>&1 | grep -q 'version "17' || missing+=(openjdk-17-jre-headless)
fi
if asked pango; then
  ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0' || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
fi
if asked prometheus; then
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
fi
if asked chromium; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
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
# No recommends: Debian's prometheus would pull in a web UI's and a mail server's worth of them.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
