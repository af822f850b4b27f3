#!/usr/bin/env bash
# Writes the OSS-Fuzz project directory of vhdx (project.yaml, Dockerfile,
# build.sh), ready to submit as projects/vhdx/ of an OSS-Fuzz checkout.
#
#   VHDX_REPO_URL=https://HOST/OWNER/vhdx.git fuzz/oss-fuzz/make-project.sh DEST
#
# VHDX_REPO_URL is the one setting: the repository's public clone URL
# (https). Without it, the URL of this checkout's `origin` remote is used
# when that is a public https URL. From it come main_repo (the URL),
# homepage (the URL without ".git") and the Dockerfile's clone. The
# primary contact is VHDX_CONTACT when set, else the author address of the
# newest commit. A URL or address that is not real (no scheme, an
# .invalid/.example/.test/localhost host, "PLACEHOLDER") is refused: the
# script exits 2 and writes nothing. DEST is created if needed; its three
# files are replaced.
#
# project.yaml's sanitizers are those of .clusterfuzzlite/project.yaml
# (tools/check_build.sh checks they agree with every workflow's matrix).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/../.." && pwd)"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}
case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") usage >&2; exit 2 ;;
esac
[ "$#" -eq 1 ] || { usage >&2; exit 2; }
DEST="$1"

url="${VHDX_REPO_URL:-}"
if [ -z "$url" ]; then
    url=$(git -C "$SRC_DIR" remote get-url origin 2>/dev/null || true)
    if [ -z "$url" ]; then
        echo "make-project: set VHDX_REPO_URL to the repository's public clone URL (this checkout has no origin remote)" >&2
        exit 2
    fi
fi
contact="${VHDX_CONTACT:-$(git -C "$SRC_DIR" log -1 --format=%ae 2>/dev/null || true)}"

# A host that names no real place: reserved by RFC 2606/6761, or loopback.
unreal_host() {
    case "$1" in
        *.invalid | *.example | *.test | *.localhost | localhost | example.com | example.org | example.net | \
            *.example.com | *.example.org | *.example.net | 127.* | "") return 0 ;;
    esac
    return 1
}

case "$url" in
    https://*/*) ;;
    *) echo "make-project: VHDX_REPO_URL must be an https clone URL, got '$url'" >&2; exit 2 ;;
esac
host="${url#https://}"
host="${host%%/*}"
host="${host##*@}"
host="${host%%:*}"
if unreal_host "$host" || [[ "$url" == *PLACEHOLDER* ]] || [[ "$url" == *[[:space:]]* ]]; then
    echo "make-project: '$url' is not a real repository URL (host '$host')" >&2
    exit 2
fi
case "$contact" in
    ?*@?*.?*) ;;
    *) echo "make-project: VHDX_CONTACT must be an e-mail address, got '$contact'" >&2; exit 2 ;;
esac
if unreal_host "${contact##*@}" || [[ "$contact" == *PLACEHOLDER* ]] || [[ "$contact" == *[[:space:]]* ]]; then
    echo "make-project: '$contact' is not a real contact address; set VHDX_CONTACT" >&2
    exit 2
fi

homepage="${url%.git}"
sanitizers=$(sed -n '/^sanitizers:/,/^[^ ]/{s/^ *- *\([a-z]*\) *$/  - \1/p}' \
    "$SRC_DIR/.clusterfuzzlite/project.yaml")
if [ -z "$sanitizers" ]; then
    echo "make-project: .clusterfuzzlite/project.yaml lists no sanitizers" >&2
    exit 2
fi

mkdir -p "$DEST"
cat >"$DEST/project.yaml" <<EOF
# OSS-Fuzz description of the vhdx project (projects/vhdx/project.yaml),
# written by fuzz/oss-fuzz/make-project.sh.
homepage: "$homepage"
language: c
primary_contact: "$contact"
main_repo: "$url"

# The fuzzing build needs no uninstrumented library (its GUIDs come from a
# counter, not libuuid), so MemorySanitizer runs too; fuzz/regress.sh with
# REGRESS_SANITIZER=memory replays every corpus under it, and
# tools/check_build.sh builds and runs every harness under each of these.
sanitizers:
$sanitizers

# fuzz/build.sh links every harness with \$LIB_FUZZING_ENGINE only, so each
# engine's driver works unchanged.
fuzzing_engines:
  - libfuzzer
  - afl
  - honggfuzz
EOF

cat >"$DEST/Dockerfile" <<EOF
# Build image for the vhdx fuzzers on OSS-Fuzz (projects/vhdx/Dockerfile),
# written by fuzz/oss-fuzz/make-project.sh. libuuid comes from uuid-dev;
# fuzz/build.sh links its static archive because the image that runs the
# fuzzers has no libuuid.so. zip packs the seed corpora.
FROM gcr.io/oss-fuzz-base/base-builder
RUN apt-get update && apt-get install -y --no-install-recommends uuid-dev zip
RUN git clone --depth 1 $url \$SRC/vhdx
WORKDIR \$SRC/vhdx
COPY build.sh \$SRC/
EOF

cp "$SRC_DIR/fuzz/oss-fuzz/build.sh" "$DEST/build.sh"
chmod +x "$DEST/build.sh"
echo "make-project: wrote $DEST/project.yaml, Dockerfile and build.sh for $url (contact $contact)"
