#!/usr/bin/env bash
# Regenerate the hash-pinned lock files from the *.in files beside this script:
#
#   runtime.txt, dev.txt, bpy42.txt     the test environments (scripts/bootstrap.sh), for linux x86_64
#   wheels-<platform>.txt               the wheels bundled into each platform's extension zip
#                                       (scripts/build_extension.py), same pins as runtime.txt
#
#   bash requirements/compile.sh              # re-resolve, keeping existing pins where still valid
#   bash requirements/compile.sh --upgrade    # extra arguments go to every `uv pip compile` call
#
# uv is a development tool, not a project dependency: when the pinned uv is not on PATH it is installed into a
# throwaway venv under /tmp. runtime.txt is compiled first because the other locks are constrained to it. The
# wheels-*.txt locks leave out the packages in excludes.txt (LiteLLM dependencies the add-on does not need; see
# docs/PACKAGING.md); the test environments keep LiteLLM's full dependency set, as `pip install` requires.
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

# One lock per Blender platform (Blender's name : uv's target). Blender 4.2+ needs glibc 2.28 on Linux and macOS 11.2
# on both Macs, so wheels for anything newer would not load there: MACOSX_DEPLOYMENT_TARGET tells uv the oldest macOS.
# Constrained to runtime.txt: every platform ships the very versions the tests run.
for pair in linux-x64:x86_64-manylinux_2_28 macos-arm64:aarch64-apple-darwin macos-x64:x86_64-apple-darwin \
    windows-x64:x86_64-pc-windows-msvc; do
    platform="${pair%%:*}"
    echo "compile: requirements/wheels-$platform.txt"
    MACOSX_DEPLOYMENT_TARGET=11.0 "$uv" pip compile --quiet --generate-hashes --python-version 3.11 \
        --python-platform "${pair#*:}" --excludes requirements/excludes.txt \
        requirements/runtime.in -c requirements/runtime.txt -o "requirements/wheels-$platform.txt" "$@"
done
