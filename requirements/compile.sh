#!/usr/bin/env bash
# Regenerate the hash-pinned lock files (runtime.txt, dev.txt, bpy42.txt) from the *.in files beside this script.
#
#   bash requirements/compile.sh              # re-resolve, keeping existing pins where still valid
#   bash requirements/compile.sh --upgrade    # extra arguments go to every `uv pip compile` call
#
# uv is a development tool, not a project dependency: when the pinned uv is not on PATH it is installed into a
# throwaway venv under /tmp. runtime.txt is compiled first because dev.in and bpy42.in are constrained to it.
set -euo pipefail

UV_VERSION="0.13.9"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

uv="uv"
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    tool_dir="$(mktemp -d /tmp/uv-tool.XXXXXX)"
    echo "compile: installing uv==$UV_VERSION into $tool_dir"
    python3.11 -m venv "$tool_dir"
    "$tool_dir/bin/python" -m pip install --quiet "uv==$UV_VERSION"
    uv="$tool_dir/bin/uv"
fi

for name in runtime dev bpy42; do
    echo "compile: requirements/$name.txt"
    "$uv" pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        "requirements/$name.in" -o "requirements/$name.txt" "$@"
done
