#!/usr/bin/env bash
# Provide LLVM's OpenMP runtime (libomp) for building fastgmm's macOS wheels.
#
# Apple's clang compiles OpenMP pragmas (`-Xpreprocessor -fopenmp`) but ships no
# OpenMP runtime, so the wheels link libomp and delocate copies it into them.
# The copy must suit every Mac that accepts the wheel: built for the wheel's
# architecture and for a macOS no newer than the wheel's MACOSX_DEPLOYMENT_TARGET
# (delocate refuses a library that needs a newer macOS than the wheel's tag).
# The runner's own `brew install libomp` gives neither guarantee: it is built
# for the runner's macOS and only for the runner's architecture.
#
# This script therefore downloads Homebrew's libomp bottle explicitly for each
# target architecture, choosing the newest macOS release that is not newer than
# MACOSX_DEPLOYMENT_TARGET. `brew fetch --bottle-tag` downloads any platform's
# bottle whatever the host is, so one runner can prepare both architectures.
# Each bottle is unpacked to
#     $FASTGMM_LIBOMP_ROOT/<arch>/{include,lib}
# which [tool.cibuildwheel.macos] (pyproject.toml) puts in CPPFLAGS/LDFLAGS.
# The script checks each library's architecture and minimum macOS, and links
# and (on a matching host) runs a small OpenMP program against it.
#
# Environment:
#   MACOSX_DEPLOYMENT_TARGET  oldest macOS the wheels support (required), e.g. 14.0
#   FASTGMM_LIBOMP_ROOT       install root; default $HOME/.cache/fastgmm-libomp
#   FASTGMM_LIBOMP_ARCHS      architectures to prepare; default "arm64 x86_64"
#                             (command-line arguments, if any, take precedence)
#
# Homebrew publishes bottles only for the macOS releases it currently supports;
# if none is old enough for the deployment target, the script says so and fails
# instead of letting a wheel ship a library that needs a newer macOS.
#
# Written for the bash 3.2 that macOS ships.
set -euo pipefail

die() {
    printf 'install_libomp_macos: ERROR: %s\n' "$*" >&2
    exit 1
}
say() { printf 'install_libomp_macos: %s\n' "$*"; }

[ "$(uname -s)" = Darwin ] || die "this script is for macOS hosts only"
command -v brew >/dev/null 2>&1 || die "Homebrew (brew) is required"

target=${MACOSX_DEPLOYMENT_TARGET:-}
[ -n "$target" ] || die "MACOSX_DEPLOYMENT_TARGET is not set: it decides which libomp build is safe to vendor"
root=${FASTGMM_LIBOMP_ROOT:-$HOME/.cache/fastgmm-libomp}
if [ "$#" -gt 0 ]; then
    archs="$*"
else
    archs=${FASTGMM_LIBOMP_ARCHS:-arm64 x86_64}
fi

# version_le A B: true if dotted version A <= B (missing parts count as 0).
version_le() {
    local -a a b
    local i x y
    IFS=. read -r -a a <<<"$1"
    IFS=. read -r -a b <<<"$2"
    for i in 0 1 2; do
        x=${a[i]:-0}
        y=${b[i]:-0}
        if ((10#$x < 10#$y)); then return 0; fi
        if ((10#$x > 10#$y)); then return 1; fi
    done
    return 0
}

# Homebrew's bottle names for macOS releases, newest first, as "version:name".
releases="26.0:tahoe 15.0:sequoia 14.0:sonoma 13.0:ventura 12.0:monterey 11.0:big_sur"

# Minimum macOS recorded in a Mach-O file (LC_BUILD_VERSION, or the older
# LC_VERSION_MIN_MACOSX).
min_macos() {
    otool -l "$1" | awk '
        /cmd LC_BUILD_VERSION/      { want = "minos" }
        /cmd LC_VERSION_MIN_MACOSX/ { want = "version" }
        want != "" && $1 == want    { print $2; exit }'
}

export HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 HOMEBREW_NO_ENV_HINTS=1

fetch_log=$(mktemp "${TMPDIR:-/tmp}/libomp-fetch.XXXXXX")
trap 'rm -f "$fetch_log"' EXIT

say "deployment target $target; architectures: $archs; install root $root"
for arch in $archs; do
    case "$arch" in
        arm64) tag_prefix="arm64_" ;;
        x86_64) tag_prefix="" ;;
        *) die "unsupported architecture '$arch' (expected arm64 or x86_64)" ;;
    esac

    bottle=""
    chosen=""
    for entry in $releases; do
        rel_version=${entry%%:*}
        tag="${tag_prefix}${entry#*:}"
        version_le "$rel_version" "$target" || continue
        say "$arch: trying Homebrew bottle '$tag' (macOS $rel_version)"
        # `brew fetch` only warns, and exits 0, when no bottle has this tag, so
        # success is judged by the file: --force removed any older download, so
        # a file in the cache now is the one just fetched.
        brew fetch --force --bottle-tag="$tag" libomp >"$fetch_log" 2>&1 || true
        path=$(brew --cache --bottle-tag="$tag" libomp 2>/dev/null || true)
        if [ -n "$path" ] && [ -f "$path" ]; then
            bottle=$path
            chosen=$tag
            break
        fi
        sed 's/^/    brew: /' "$fetch_log"
    done
    if [ -z "$bottle" ] || [ ! -f "$bottle" ]; then
        die "$arch: Homebrew has no libomp bottle for macOS <= $target; raise MACOSX_DEPLOYMENT_TARGET (pyproject.toml, [tool.cibuildwheel.macos] environment) to a release Homebrew still builds for"
    fi

    dest="$root/$arch"
    unpack=$(mktemp -d "${TMPDIR:-/tmp}/libomp-$arch.XXXXXX")
    tar -xzf "$bottle" -C "$unpack"
    keg=$(find "$unpack/libomp" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    if [ -z "$keg" ] || [ ! -f "$keg/lib/libomp.dylib" ] || [ ! -f "$keg/include/omp.h" ]; then
        die "$arch: unexpected layout in bottle $bottle"
    fi
    rm -rf "$dest"
    mkdir -p "$dest"
    cp -R "$keg/include" "$keg/lib" "$dest/"
    rm -rf "$unpack"

    dylib="$dest/lib/libomp.dylib"
    # Link the shared runtime only: one OpenMP runtime per process, vendored by delocate.
    rm -f "$dest"/lib/*.a
    # A bottle's install names hold Homebrew's relocation placeholders until
    # `brew` pours it. Give the library its real path so the extension records
    # a path that exists and delocate can follow.
    chmod u+w "$dylib"
    install_name_tool -id "$dylib" "$dylib"
    # Editing load commands invalidates the signature; arm64 refuses unsigned code.
    codesign --force --sign - "$dylib" >/dev/null 2>&1 || die "$arch: codesign failed for $dylib"

    if otool -L "$dylib" | grep -q '@@HOMEBREW'; then
        otool -L "$dylib" >&2
        die "$arch: $dylib still refers to Homebrew placeholders"
    fi
    lib_archs=$(lipo -archs "$dylib")
    case " $lib_archs " in
        *" $arch "*) ;;
        *) die "$arch: $dylib is built for '$lib_archs', not $arch" ;;
    esac
    minos=$(min_macos "$dylib")
    [ -n "$minos" ] || die "$arch: cannot read the minimum macOS of $dylib"
    version_le "$minos" "$target" \
        || die "$arch: $dylib needs macOS $minos, newer than MACOSX_DEPLOYMENT_TARGET=$target"
    version=$(basename "$keg")

    # Compile and link a small OpenMP program for this architecture and target
    # as the wheel build will; run it when the host can.
    probe=$(mktemp -d "${TMPDIR:-/tmp}/libomp-probe.XXXXXX")
    cat >"$probe/probe.c" <<'EOF'
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d %d\n", n, omp_get_max_threads());
    return n < 1;
}
EOF
    clang -arch "$arch" -mmacosx-version-min="$target" -Xpreprocessor -fopenmp \
        -I"$dest/include" "$probe/probe.c" -L"$dest/lib" -lomp -o "$probe/probe" \
        || die "$arch: cannot compile and link an OpenMP program against $dylib"
    if [ "$(uname -m)" = "$arch" ]; then
        "$probe/probe" >/dev/null || die "$arch: the OpenMP probe program failed to run"
        ran="linked and ran"
    else
        ran="linked (not run: host is $(uname -m))"
    fi
    rm -rf "$probe"

    say "$arch: libomp $version from bottle '$chosen', minimum macOS $minos, $ran"
    say "$arch: CPPFLAGS=-I$dest/include LDFLAGS=-L$dest/lib"
done
