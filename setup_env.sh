#!/usr/bin/env bash
# Create or refresh the project's virtualenv (.venv) from the pinned requirements.
# Usage: ./setup_env.sh [runtime|dev]. A second call with unchanged pins does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kind="${1:-runtime}"
venv="$root/.venv"
case "$kind" in
  runtime) requirements="$root/requirements.txt" ;;
  dev) requirements="$root/requirements-dev.txt" ;;
  *) echo "setup_env.sh: unknown kind '$kind' (runtime or dev)" >&2; exit 2 ;;
esac

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup_env.sh: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

# The stamp records what the environment was built from; dev includes runtime. The root is part
# of it because the venv's .pth file names the root.
stamp_of() { { echo "$root"; cat "$root/constraints.txt" "$@"; } | sha256sum | cut -d' ' -f1; }
want_runtime="$(stamp_of "$root/requirements.txt")"
want_dev="$(stamp_of "$root/requirements.txt" "$root/requirements-dev.txt")"
want="$want_runtime"; [ "$kind" = dev ] && want="$want_dev"
have="$(cat "$venv/.installed-stamp" 2>/dev/null || true)"
if [ -x "$venv/bin/python" ] && { [ "$have" = "$want" ] || { [ "$kind" = runtime ] && [ "$have" = "$want_dev" ]; }; }; then
  exit 0
fi

started=$SECONDS
echo "setup_env.sh: building $venv ($kind requirements); the first time takes about a minute" >&2
[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
# uv installs the pins several times faster than pip and says what it does; pip only fetches
# uv itself (pinned in constraints.txt). uv reads UV_INDEX_URL, not pip's configuration.
uv_pin="$(grep -E '^uv==' "$root/constraints.txt")"
if ! "$venv/bin/python" -m uv --version >/dev/null 2>&1; then
  echo "setup_env.sh: [1/2] installing $uv_pin with pip" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$uv_pin"
fi
echo "setup_env.sh: [2/2] installing the pinned requirements with uv" >&2
"$venv/bin/python" -m uv pip install --python "$venv/bin/python" \
  -r "$requirements" -c "$root/constraints.txt" 2>&1 | { grep -v '^ [+-] ' || true; } | sed -u 's/^/  /' >&2
# The project root on the venv's path, so utils/ imports from any folder (steps run in theirs).
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$root" > "$site_packages/risk_monitoring_root.pth"
echo "$want" > "$venv/.installed-stamp"
echo "setup_env.sh: $venv ready in $((SECONDS - started)) s" >&2
