#!/usr/bin/env bash
# Create or refresh the project's virtualenv (.venv) from the pinned requirements.
# Usage: ./setup_env.sh [runtime|dev|spark]... (default runtime; dev adds the test tools, spark
# the Spark engine). A second call with unchanged pins does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# VENV: another folder for the environment, e.g. one per Python version beside .venv (CI tests
# the fast tier on 3.12 and 3.13 that way).
venv="${VENV:-$root/.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
kinds=("${@:-runtime}")
files_of() {
  case "$1" in
    runtime) echo "$root/requirements.txt" ;;
    dev) echo "$root/requirements.txt $root/requirements-dev.txt" ;;
    spark) echo "$root/requirements.txt $root/requirements-spark.txt" ;;
    *) echo "setup_env.sh: unknown kind '$1' (runtime, dev or spark)" >&2; return 2 ;;
  esac
}
for kind in "${kinds[@]}"; do files_of "$kind" >/dev/null || exit 2; done

# Python 3.11, 3.12 or 3.13: PYTHON when set (a path, a command, or a version such as 3.12),
# else the first of them found. pyenv's shims answer only for the selected version, so its
# installed versions are looked at too.
supported='import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'
find_python() {
  local version="$1" found=""
  if command -v "python$version" >/dev/null 2>&1 && "python$version" -c "$supported" 2>/dev/null; then
    echo "python$version"; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    found="$(ls -d "$(pyenv root)"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] && "$found" -c "$supported" 2>/dev/null && { echo "$found"; return 0; }
  fi
  return 1
}
python_bin="${PYTHON:-}"
case "$python_bin" in
  3.1[1-3]) python_bin="$(find_python "$python_bin" || true)" ;;
esac
if [ -z "${PYTHON:-}" ]; then
  for version in 3.11 3.12 3.13; do
    python_bin="$(find_python "$version" || true)"
    [ -n "$python_bin" ] && break
  done
  if [ -z "$python_bin" ] && command -v python3 >/dev/null 2>&1; then python_bin=python3; fi
fi
if [ -z "$python_bin" ] || ! "$python_bin" -c "$supported" 2>/dev/null; then
  echo "setup_env.sh: Python 3.11, 3.12 or 3.13 is required (set PYTHON=/path/to/python3.12)" >&2
  exit 2
fi
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
# A PYTHON other than the one the environment was built with builds it again.
if [ -n "${PYTHON:-}" ] && [ -x "$venv/bin/python" ] \
  && [ "$(version_of "$venv/bin/python")" != "$(version_of "$python_bin")" ]; then
  echo "setup_env.sh: $venv is Python $(version_of "$venv/bin/python"); building it again with $(version_of "$python_bin")" >&2
  rm -rf "$venv"
fi

# The stamp has one line per kind installed, "kind hash", the hash of what it was built from
# (its requirement files, the constraints, pyproject.toml and the root, where the editable
# install points).
# Every kind includes runtime, so any current line satisfies a runtime request.
stamp_of() { { echo "$root"; cat "$root/constraints.txt" "$root/pyproject.toml" $(files_of "$1"); } | sha256sum | cut -d' ' -f1; }
current_kinds() {
  [ -x "$venv/bin/python" ] || return 0
  while read -r kind hash; do
    [ -n "$kind" ] && files_of "$kind" >/dev/null 2>&1 && [ "$hash" = "$(stamp_of "$kind")" ] && echo "$kind"
  done < <(cat "$venv/.installed-stamp" 2>/dev/null || true)
  return 0
}
have=" $(current_kinds | tr '\n' ' ')"
needed=()
for kind in "${kinds[@]}"; do
  case "$have" in
    *" $kind "*) ;;
    *) if [ "$kind" = runtime ] && [ "$have" != " " ]; then :; else needed+=("$kind"); fi ;;
  esac
done
[ "${#needed[@]}" -eq 0 ] && exit 0
requirements=()
for kind in "${needed[@]}"; do
  for file in $(files_of "$kind"); do requirements+=(-r "$file"); done
done

started=$SECONDS
echo "setup_env.sh: building $venv (${needed[*]} requirements); the first time takes about a minute" >&2
[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
# uv installs the pins several times faster than pip and says what it does; pip only fetches
# uv itself (pinned in constraints.txt). uv reads UV_INDEX_URL, not pip's configuration.
uv_pin="$(grep -E '^uv==' "$root/constraints.txt")"
if ! "$venv/bin/python" -m uv --version >/dev/null 2>&1; then
  echo "setup_env.sh: [1/2] installing $uv_pin with pip" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$uv_pin"
fi
echo "setup_env.sh: [2/2] installing the pinned requirements with uv" >&2
# Compiled to bytecode now: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) Python
# would otherwise compile every module again at each start, tripling `import pandas`.
"$venv/bin/python" -m uv pip install --python "$venv/bin/python" --compile-bytecode \
  "${requirements[@]}" -c "$root/constraints.txt" 2>&1 | { grep -v '^ [+-] ' || true; } | sed -u 's/^/  /' >&2
# The shared code (utils) installed in editable mode, so that it imports from any folder (the
# steps run in theirs); its dependencies are the pins just installed.
"$venv/bin/python" -m uv pip install --python "$venv/bin/python" --no-deps -e "$root" 2>&1 \
  | { grep -v '^ [+-] ' || true; } | sed -u 's/^/  /' >&2
{ for kind in $have "${needed[@]}"; do echo "$kind $(stamp_of "$kind")"; done; } | sort -u > "$venv/.installed-stamp"
echo "setup_env.sh: $venv ready in $((SECONDS - started)) s" >&2
