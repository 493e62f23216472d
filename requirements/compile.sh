#!/usr/bin/env bash
# Regenerate the hash-pinned lock files from the *.in files beside this script:
#
#   runtime.txt, dev.txt, bpy42.txt     the CPython 3.11 test environments (scripts/bootstrap.sh), for linux x86_64
#   bpy53.txt                           the CPython 3.13 test environment (Blender 5.3 as a module)
#   proxy.txt                           the LiteLLM Proxy (litellm[proxy]) of the proxy test tier and the 8-artist bench
#   wheels-<platform>-cp311.txt         the wheels bundled into each platform's extension zip, one lock per CPython
#   wheels-<platform>-cp313.txt         Blender embeds (4.2 LTS-5.0: 3.11; 5.1-5.3: 3.13), same pins as runtime.txt
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

for pair in runtime:3.11 dev:3.11 bpy42:3.11 bpy53:3.13 proxy:3.11; do
    name="${pair%%:*}"
    echo "compile: requirements/$name.txt"
    "$uv" pip compile --quiet --generate-hashes --python-version "${pair#*:}" --python-platform x86_64-manylinux_2_28 \
        "requirements/$name.in" -o "requirements/$name.txt" "$@"
done

# One lock per Blender platform and CPython (Blender's name : uv's target). Blender 4.2+ needs glibc 2.28 on Linux and
# macOS 11.2 on both Macs, so wheels for anything newer would not load there: MACOSX_DEPLOYMENT_TARGET tells uv the
# oldest macOS. Constrained to runtime.txt: every platform and Python ships the very versions the tests run.
for python in 3.11 3.13; do
    for pair in linux-x64:x86_64-manylinux_2_28 macos-arm64:aarch64-apple-darwin macos-x64:x86_64-apple-darwin \
        windows-x64:x86_64-pc-windows-msvc; do
        platform="${pair%%:*}"
        lock="requirements/wheels-$platform-cp${python/./}.txt"
        echo "compile: $lock"
        MACOSX_DEPLOYMENT_TARGET=11.0 "$uv" pip compile --quiet --generate-hashes --python-version "$python" \
            --python-platform "${pair#*:}" --excludes requirements/excludes.txt \
            requirements/runtime.in -c requirements/runtime.txt -o "$lock" "$@"
    done
done
