#!/usr/bin/env bash
# Builds the release configuration and installs the library and the tools.
# Run `tools/install.sh --help` for the options; docs/API.md ("Building,
# installing and linking") says how to link against what it installs.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/install.sh [--prefix DIR] [--destdir DIR] [--libdir DIR]
                        [--plugindir DIR | --no-nbdkit]

Builds the release configuration with Bazel:
  bazel build --config=release //:vhdx //:libvhdx.so \
      //tools:vhdx //tools:vhdx-verify //tools:vhdx-dump
and installs under DESTDIR/PREFIX:
  include/vhdx.h                       the public header
  LIBDIR/libvhdx.a                     the static library
  LIBDIR/libvhdx.so.VERSION            the shared library (public symbols only),
  LIBDIR/libvhdx.so.SONAME-VERSION       with its soname link,
  LIBDIR/libvhdx.so                      and the link the linker finds
  bin/vhdx bin/vhdx-verify bin/vhdx-dump   the tools
  LIBDIR/pkgconfig/vhdx.pc             pkg-config file (from vhdx.pc.in)
and, when nbdkit is installed (nbdkit, nbdkit-plugin-dev), builds
  bazel build -c opt //nbdkit:nbdkit-vhdx-plugin
and installs
  PLUGINDIR/nbdkit-vhdx-plugin.so      so that `nbdkit vhdx file=DISK.vhdx` works
                                       (PLUGINDIR: nbdkit --dump-config's plugindir)
and prints each file it installed.

Options:
  --prefix DIR   where the files will live (absolute; default /usr/local)
  --destdir DIR  staging directory put in front of every destination, for
                 packages; the installed files still name PREFIX (default:
                 $DESTDIR, else none)
  --libdir DIR   library directory (absolute; default PREFIX/lib)
  --plugindir DIR  where the nbdkit plugin goes (absolute; default: nbdkit's plugindir)
  --no-nbdkit    do not build or install the nbdkit plugin
  -h, --help     print this help

Environment:
  VHDX_PREBUILT=DIR  install the artifacts found in DIR instead of building:
                     DIR laid out like bazel-bin (DIR/libvhdx.a or
                     DIR/libvhdx.pic.a, DIR/libvhdx.so, DIR/tools/vhdx,
                     DIR/tools/vhdx-verify, DIR/tools/vhdx-dump, and
                     DIR/nbdkit/nbdkit-vhdx-plugin.so if present), for a
                     packager who built already
                     (VHDX_PREBUILT="$(bazel info --config=release bazel-bin)")

Exit status: 0 installed, 1 build or install failed, 2 usage error.
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage_error() {
    echo "install.sh: $*" >&2
    echo "usage: tools/install.sh [--prefix DIR] [--destdir DIR] [--libdir DIR] [--plugindir DIR | --no-nbdkit]" >&2
    exit 2
}

# An absolute path as given, or a relative one against the caller's directory.
absolute() {
    case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}

# Drops trailing slashes ("/" stays "/").
trim_slashes() {
    local p="$1"
    while [ "${#p}" -gt 1 ] && [ "${p%/}" != "$p" ]; do p="${p%/}"; done
    printf '%s\n' "$p"
}

prefix=/usr/local
destdir="${DESTDIR:-}"
libdir=
plugindir=
nbdkit_plugin=1
while [ "$#" -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --prefix | --destdir | --libdir | --plugindir)
        [ "$#" -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
        --prefix) prefix="$2" ;;
        --destdir) destdir="$2" ;;
        --libdir) libdir="$2" ;;
        --plugindir) plugindir="$2" ;;
        esac
        shift 2
        ;;
    --plugindir=*) plugindir="${1#*=}"; shift ;;
    --no-nbdkit) nbdkit_plugin=0; shift ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    *) usage_error "unknown argument: $1" ;;
    esac
done

# The installed paths end up in vhdx.pc, where a blank would split a flag.
case "$prefix" in
/*) ;;
*) usage_error "--prefix must be absolute: $prefix" ;;
esac
prefix=$(trim_slashes "$prefix")
[ -n "$libdir" ] || libdir="${prefix%/}/lib"
case "$libdir" in
/*) ;;
*) usage_error "--libdir must be absolute: $libdir" ;;
esac
libdir=$(trim_slashes "$libdir")
for p in "$prefix" "$libdir"; do
    case "$p" in
    *[[:space:]]*) usage_error "paths with blanks cannot go into vhdx.pc: $p" ;;
    esac
done
case "$plugindir" in
"" | /*) ;;
*) usage_error "--plugindir must be absolute: $plugindir" ;;
esac
if [ "$nbdkit_plugin" -eq 1 ] && [ -z "$plugindir" ]; then
    if command -v nbdkit >/dev/null; then
        plugindir=$(nbdkit --dump-config | sed -n 's/^plugindir=//p')
        [ -n "$plugindir" ] || die "nbdkit --dump-config printed no plugindir"
    else
        echo "install.sh: nbdkit is not installed: the nbdkit plugin is skipped" >&2
        nbdkit_plugin=0
    fi
fi
if [ -n "$destdir" ]; then
    destdir=$(trim_slashes "$(absolute "$destdir")")
    [ "$destdir" != / ] || destdir=
fi
prebuilt="${VHDX_PREBUILT:-}"
[ -z "$prebuilt" ] || prebuilt=$(absolute "$prebuilt")

cd "$(dirname "$0")/.."

# The version and the soname follow include/vhdx.h (BUILD sets the soname
# by hand; tests/visibility_test.sh keeps the two in step).
version=$(sed -n 's/^#define VHDX_VERSION_STRING "\([0-9.]*\)"$/\1/p' include/vhdx.h)
major=$(sed -n 's/^#define VHDX_VERSION_MAJOR \([0-9]*\)$/\1/p' include/vhdx.h)
minor=$(sed -n 's/^#define VHDX_VERSION_MINOR \([0-9]*\)$/\1/p' include/vhdx.h)
patch=$(sed -n 's/^#define VHDX_VERSION_PATCH \([0-9]*\)$/\1/p' include/vhdx.h)
if [ -z "$version" ] || [ "$version" != "$major.$minor.$patch" ]; then
    die "include/vhdx.h: VHDX_VERSION_STRING \"$version\" does not match MAJOR.MINOR.PATCH $major.$minor.$patch"
fi
if [ "$major" = 0 ]; then soname="libvhdx.so.$major.$minor"; else soname="libvhdx.so.$major"; fi

# ---- The artifacts: built here with Bazel, or given by VHDX_PREBUILT ----
tools=(vhdx vhdx-verify vhdx-dump)
if [ -n "$prebuilt" ]; then
    bin="$prebuilt"
    echo "install.sh: installing the prebuilt artifacts of $bin" >&2
else
    command -v bazel >/dev/null || die "bazel not found (or set VHDX_PREBUILT=DIR, see --help)"
    targets=(//:vhdx //:libvhdx.so)
    for t in "${tools[@]}"; do targets+=("//tools:$t"); done
    echo "install.sh: bazel build --config=release ${targets[*]}" >&2
    bazel build --config=release "${targets[@]}" || die "the release build failed"
    bin=$(bazel info --config=release bazel-bin) || die "bazel info bazel-bin failed"
    if [ "$nbdkit_plugin" -eq 1 ]; then
        # A shared object nbdkit loads: -c opt, not the release configuration's -pie.
        echo "install.sh: bazel build -c opt //nbdkit:nbdkit-vhdx-plugin" >&2
        bazel build -c opt //nbdkit:nbdkit-vhdx-plugin ||
            die "the nbdkit plugin's build failed (apt-get install nbdkit-plugin-dev?)"
        plugin_bin=$(bazel info -c opt bazel-bin) || die "bazel info bazel-bin failed"
    fi
    bazel shutdown >/dev/null 2>&1 || true
fi
plugin_so="${plugin_bin:-$bin}/nbdkit/nbdkit-vhdx-plugin.so"
if [ "$nbdkit_plugin" -eq 1 ] && [ ! -f "$plugin_so" ]; then
    [ -n "$prebuilt" ] || die "missing build artifact: $plugin_so"
    echo "install.sh: no $plugin_so among the prebuilt artifacts: the nbdkit plugin is skipped" >&2
    nbdkit_plugin=0
fi

static="$bin/libvhdx.a"
[ -f "$static" ] || static="$bin/libvhdx.pic.a"
[ -f "$static" ] || die "missing build artifact: $bin/libvhdx.a (or libvhdx.pic.a)"
for f in "$bin/libvhdx.so" "${tools[@]/#/$bin/tools/}"; do
    [ -f "$f" ] || die "missing build artifact: $f"
done
if command -v objdump >/dev/null; then
    got=$(objdump -p "$bin/libvhdx.so" | awk '$1 == "SONAME" { print $2 }')
    [ "$got" = "$soname" ] ||
        die "$bin/libvhdx.so has soname '${got:-none}', expected $soname (a stale build?)"
fi

# ---- Installing ----
incdir="${prefix%/}/include"
bindir="${prefix%/}/bin"
pcdir="${libdir%/}/pkgconfig"

put() { # put MODE SOURCE DESTINATION (under DESTDIR)
    install -d -m 0755 "$destdir$(dirname "$3")"
    install -m "$1" "$2" "$destdir$3"
    echo "installed $destdir$3"
}

link() { # link TARGET NAME (NAME under DESTDIR, pointing at TARGET in the same directory)
    ln -sfn "$1" "$destdir$2"
    echo "linked    $destdir$2 -> $1"
}

put 0644 include/vhdx.h "$incdir/vhdx.h"
put 0644 "$static" "${libdir%/}/libvhdx.a"
put 0644 "$bin/libvhdx.so" "${libdir%/}/libvhdx.so.$version"
[ "$soname" = "libvhdx.so.$version" ] || link "libvhdx.so.$version" "${libdir%/}/$soname"
link "$soname" "${libdir%/}/libvhdx.so"
for t in "${tools[@]}"; do
    put 0755 "$bin/tools/$t" "$bindir/$t"
done

pc=$(mktemp)
trap 'rm -f "$pc"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
    line=${line//@PREFIX@/"$prefix"}
    line=${line//@LIBDIR@/"$libdir"}
    line=${line//@INCLUDEDIR@/"$incdir"}
    line=${line//@VERSION@/"$version"}
    printf '%s\n' "$line"
done <vhdx.pc.in >"$pc"
! grep -q '@[A-Z]*@' "$pc" || die "vhdx.pc.in has a placeholder this script does not know"
put 0644 "$pc" "$pcdir/vhdx.pc"
if [ "$nbdkit_plugin" -eq 1 ]; then
    put 0755 "$plugin_so" "${plugindir%/}/nbdkit-vhdx-plugin.so"
fi
echo "install.sh: vhdx $version installed under ${destdir}${prefix}" >&2
