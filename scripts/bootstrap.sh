#!/usr/bin/env bash
# Set up the development environments from the hash-pinned lock files in requirements/.
#
#   scripts/bootstrap.sh            .venv/        CPython 3.11 + requirements/dev.txt (bpy 5.0.1, pytest, ruff, mypy)
#   scripts/bootstrap.sh --bpy42    also .venv-bpy42/  from requirements/bpy42.txt (newest Blender 4.2 LTS bpy)
#   scripts/bootstrap.sh --bpy53    also .venv-bpy53/  CPython 3.13 + requirements/bpy53.txt (Blender 5.3 bpy)
#   scripts/bootstrap.sh --gui      also Debian's blender, xvfb and xauth, and .gui-deps/ (requirements/runtime.txt
#                                   installed with --target, for Debian's blender, which runs /usr/bin/python3.11)
#   scripts/bootstrap.sh --oracles  also .oracles/  the reference tools tests compare against: afterwriting (npm ci of
#                                   tests/oracles/package-lock.json), and Debian's poppler-utils if .venv lacks pypdf
#   scripts/bootstrap.sh --proxy    also .venv-proxy/  CPython 3.11 + requirements/proxy.txt (the LiteLLM Proxy, the
#                                   studio gateway that tests/gateway_server.py runs for the proxy tier)
#
# Idempotent: each environment keeps a stamp file holding the sha256 of the lock it was installed from, so a
# second run with unchanged locks only checks the stamps. Every install is `pip install --require-hashes`.
# The interpreters default to `python3.11` and `python3.13` on PATH (a pyenv install of that version is found too);
# set SCREENWRITER_PYTHON / SCREENWRITER_PYTHON313 to use another CPython 3.11 / 3.13.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${SCREENWRITER_PYTHON:-python3.11}"
PYTHON313="${SCREENWRITER_PYTHON313:-python3.13}"
STAMP_NAME=".bootstrap-stamp"

want_bpy42=0
want_bpy53=0
want_gui=0
want_oracles=0
want_proxy=0

usage() {
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

say() {
    echo "bootstrap: $*"
}

die() {
    echo "bootstrap: error: $*" >&2
    exit 1
}

for arg in "$@"; do
    case "$arg" in
        --bpy42) want_bpy42=1 ;;
        --bpy53) want_bpy53=1 ;;
        --gui) want_gui=1 ;;
        --oracles) want_oracles=1 ;;
        --proxy) want_proxy=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $arg" ;;
    esac
done

lock_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# pip prints one warning per package for the machine's extra local indexes that lack it; they are noise here.
pip_quiet() {
    "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# find_python VAR MAJOR.MINOR: make $VAR name a working CPython of that version. The name in $VAR (python3.11 or
# python3.13 on PATH, or the environment override) is tried first; a pyenv shim that does not run it (pyenv installs
# versions without putting each on PATH) falls back to that version's interpreter in pyenv's versions folder.
find_python() {
    local var="$1" want="$2" candidate version root
    candidate="${!var}"
    for candidate in "$candidate" $( { root="$(pyenv root 2>/dev/null)" || root="$HOME/.pyenv"; \
        ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -V -r; } ); do
        version="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
        if [ "$version" = "$want" ]; then
            printf -v "$var" '%s' "$candidate"
            return 0
        fi
    done
    return 1
}

# check_python VAR MAJOR.MINOR WHAT: find_python, or stop with a message that says what to install.
check_python() {
    local var="$1" want="$2" what="$3" override="SCREENWRITER_PYTHON"
    [ "$want" = "3.11" ] || override="SCREENWRITER_PYTHON${want/./}"
    find_python "$var" "$want" \
        || die "no CPython $want found (tried ${!var} on PATH and pyenv's versions); $what needs it. Install \
CPython $want (Debian: apt-get install python$want python$want-venv; or pyenv install $want), or point $override at \
a python$want binary."
    "${!var}" -c 'import venv, ensurepip' 2>/dev/null \
        || die "${!var} cannot create virtual environments (Debian: apt-get install python$want-venv)."
}

# remove_unlocked DIR LOCK: uninstall distributions that LOCK no longer lists (a dropped or renamed dependency),
# before installing, so that two distributions never share a module directory.
remove_unlocked() {
    local dir="$1" lock="$2" extras
    extras="$("$dir/bin/python" - "$lock" <<'PY'
import re
import sys
from importlib.metadata import distributions


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


with open(sys.argv[1], encoding="utf-8") as handle:
    locked = {norm(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", handle.read(), re.M)}
installed = {norm(d.metadata["Name"]) for d in distributions() if d.metadata["Name"]}
print(" ".join(sorted(installed - locked - {"pip", "setuptools", "wheel"})))
PY
)"
    if [ -n "$extras" ]; then
        say "removing packages no longer in $(basename "$lock"): $extras"
        # shellcheck disable=SC2086  # one word per package
        pip_quiet "$dir/bin/python" -m pip uninstall --quiet --yes $extras
    fi
}

# make_venv DIR LOCK [PYTHON] [no-deps]: create DIR with PYTHON (default, or "": the CPython 3.11) and install LOCK
# into it, unless its stamp matches LOCK. With "no-deps", pip installs exactly LOCK's pins without resolving
# dependencies (for a lock that is complete but that pip's resolver rejects; see --proxy below).
make_venv() {
    local dir="$ROOT/$1" lock="$ROOT/$2" name="$1" python="${3:-$PYTHON}" no_deps=() want minor
    [ "${4:-}" = "no-deps" ] && no_deps=(--no-deps)
    minor="$("$python" -c 'import sys; print(sys.version_info[1])')"
    want="$(lock_sha256 "$lock")"
    if [ -x "$dir/bin/python" ] && [ -f "$dir/$STAMP_NAME" ] && [ "$(cat "$dir/$STAMP_NAME")" = "$want" ]; then
        say "$name is up to date with $2"
        return 0
    fi
    if [ -x "$dir/bin/python" ] \
        && ! "$dir/bin/python" -c "import sys; raise SystemExit(sys.version_info[:2] != (3, $minor))" 2>/dev/null; then
        say "$name is not CPython 3.$minor: recreating it"
        rm -rf "$dir"
    fi
    if [ ! -x "$dir/bin/python" ]; then
        say "creating $name with $("$python" --version 2>&1)"
        "$python" -m venv "$dir"
    fi
    rm -f "$dir/$STAMP_NAME"
    remove_unlocked "$dir" "$lock"
    say "installing $2 into $name (hash-checked; the first run downloads a few hundred MB)"
    pip_quiet "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        "${no_deps[@]}" -r "$lock"
    if [ "${#no_deps[@]}" -gt 0 ]; then
        "$dir/bin/python" -m pip check --disable-pip-version-check >/dev/null \
            || die "$name: pip check found missing or conflicting dependencies; regenerate $2 (requirements/compile.sh)"
    fi
    echo "$want" >"$dir/$STAMP_NAME"
    say "$name ready"
}

ensure_debian_packages() {
    local missing=() pkg
    for pkg in blender xvfb xauth; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "Debian packages blender, xvfb, xauth are installed"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing ${missing[*]} and no apt-get here: install Debian's blender (3.4), xvfb and xauth."
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages: ${missing[*]}. Install them as root: apt-get update && apt-get install -y ${missing[*]}"
    fi
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    say "Debian packages installed"
}

# Debian's blender embeds the system Python 3.11; the runtime lock goes to a plain directory it adds to sys.path.
make_gui_deps() {
    local dir="$ROOT/.gui-deps" lock="$ROOT/requirements/runtime.txt" want
    want="$(lock_sha256 "$lock")"
    if [ -f "$dir/$STAMP_NAME" ] && [ "$(cat "$dir/$STAMP_NAME")" = "$want" ]; then
        say ".gui-deps is up to date with requirements/runtime.txt"
        return 0
    fi
    say "installing requirements/runtime.txt into .gui-deps (hash-checked, --target)"
    rm -rf "$dir"
    pip_quiet "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        --target "$dir" -r "$lock"
    echo "$want" >"$dir/$STAMP_NAME"
    say ".gui-deps ready"
}

# oracle_debian_package COMMAND PACKAGE: install Debian's PACKAGE unless COMMAND is on PATH (as root; else stop).
oracle_debian_package() {
    local command="$1" pkg="$2"
    if command -v "$command" >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "no $command and no apt-get here: install $command (Debian: $pkg)."
    [ "$(id -u)" -eq 0 ] \
        || die "no $command: install it as root: apt-get update && apt-get install -y $pkg (then rerun with --oracles)"
    say "installing Debian package $pkg (for $command)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    command -v "$command" >/dev/null 2>&1 || die "Debian's $pkg was installed but $command is still not on PATH."
}

# The test oracles (tests/unit/core/screenplay/test_pages.py runs afterwriting's CLI and counts its PDF's pages).
# npm ci installs exactly tests/oracles/package-lock.json (integrity-checked) into .oracles/node_modules;
# --ignore-scripts because the one install script in that tree (snyk's, a dependency afterwriting never runs)
# downloads a prebuilt binary. The PDF's pages are counted with .venv's pypdf, or else poppler's pdfinfo.
make_oracles() {
    local dir="$ROOT/.oracles" lock="$ROOT/tests/oracles/package-lock.json" want
    oracle_debian_package node nodejs
    oracle_debian_package npm npm
    want="$(lock_sha256 "$lock")"
    if [ -f "$dir/$STAMP_NAME" ] && [ "$(cat "$dir/$STAMP_NAME")" = "$want" ] \
        && [ -f "$dir/node_modules/afterwriting/awc.js" ]; then
        say ".oracles is up to date with tests/oracles/package-lock.json"
    else
        say "installing tests/oracles/package-lock.json into .oracles (npm ci, integrity-checked)"
        mkdir -p "$dir"
        rm -f "$dir/$STAMP_NAME"
        cp "$ROOT/tests/oracles/package.json" "$lock" "$dir/"
        npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null \
            || die "npm ci of tests/oracles/package-lock.json into .oracles failed (see npm's message above)."
        node "$dir/node_modules/afterwriting/awc.js" --help >/dev/null \
            || die "afterwriting does not run with $(node --version 2>&1) (.oracles/node_modules/afterwriting/awc.js)."
        echo "$want" >"$dir/$STAMP_NAME"
        say ".oracles ready (afterwriting $(node -p "require('$dir/node_modules/afterwriting/package.json').version"))"
    fi
    if "$ROOT/.venv/bin/python" -c "import pypdf" 2>/dev/null; then
        say "PDF pages are counted with .venv's pypdf"
    else
        oracle_debian_package pdfinfo poppler-utils
        say "PDF pages are counted with pdfinfo (.venv has no pypdf)"
    fi
}

check_python PYTHON 3.11 "the development environment (.venv)"
make_venv ".venv" "requirements/dev.txt"
if [ "$want_bpy42" -eq 1 ]; then
    make_venv ".venv-bpy42" "requirements/bpy42.txt"
fi
if [ "$want_bpy53" -eq 1 ]; then
    check_python PYTHON313 3.13 "Blender 5.3 as a module (.venv-bpy53)"
    make_venv ".venv-bpy53" "requirements/bpy53.txt" "$PYTHON313"
fi
if [ "$want_gui" -eq 1 ]; then
    ensure_debian_packages
    make_gui_deps
fi
if [ "$want_oracles" -eq 1 ]; then
    make_oracles
fi
if [ "$want_proxy" -eq 1 ]; then
    # --no-deps: requirements/proxy.txt is complete (every transitive dependency hash-pinned, `pip check` is clean
    # after the install), but with dependency resolution on, pip rejects it under --require-hashes: an extra
    # requested by one of the pinned packages (pydantic[email], from fastapi-sso) counts as a requirement that is
    # "not pinned with ==". Installing the pins alone is exactly the lock; make_venv then runs pip check.
    make_venv ".venv-proxy" "requirements/proxy.txt" "" no-deps
fi
say "done"
