# Shared by scripts/run, scripts/test and scripts/bench: create or update .venv on first use.
# Usage: source scripts/_env.sh; ensure_venv EXTRAS   (e.g. ensure_venv "" or ensure_venv "dev")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '%s\n' "$*" >&2; }

ensure_python() {
    if ! command -v python3 >/dev/null 2>&1; then
        ensure_debian_packages python3 python3-venv
    fi
    # Debian's python3 has the venv module but not ensurepip, without which `python3 -m venv`
    # fails: the suite makes venvs (.venv, and a bare one in tests/install), so check both.
    local check='import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))'
    if ! python3 -c "$check" 2>/dev/null; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
            ensure_debian_packages python3-venv
    fi
    if ! python3 -c "$check" 2>/dev/null; then
        say "gp-celery needs Python >= 3.11 with the venv and ensurepip modules (Debian:"
        say "apt-get install python3-venv); found: $(python3 --version 2>&1)"
        exit 1
    fi
}

# ensure_debian_packages PKG... : apt-get install the ones whose dpkg status is not installed.
ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "Installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_venv EXTRAS : (re)install the package into .venv when pyproject.toml changed.
ensure_venv() {
    local extras="${1:-}"
    ensure_python
    local spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    local stamp="$VENV/.gp-celery-stamp"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16) $extras"
    if [ ! -x "$VENV/bin/python" ]; then
        say "Creating $VENV"
        python3 -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
        say "Installing gp-celery${extras:+[$extras]} into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -e "$spec" >/dev/null
        printf '%s\n' "$want" >> "$stamp"
    fi
}
