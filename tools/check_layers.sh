#!/usr/bin/env bash
# The library's layers read top-down (docs/DESIGN.md, "Layers"): no source
# file calls a function of a file that, directly or through others, calls
# back into it. Checked on the call graph the compiler sees:
#   - every src/*/*.c is compiled alone; its object's defined global symbols
#     (nm --defined-only -g) and undefined ones (nm -u) give the calls from
#     one file to another (a static function is a file's own business);
#   - within each directory of src/ (image, io, format, base, refreplay) the
#     graph between its files must have no cycle;
#   - between the directories the same: base, format, io, image, refreplay
#     call one another in one direction only.
# tsort finds the cycles; the order it prints is the layering, callers first.
# Usage: check_layers.sh [ROOT]  (default: the repository holding this script)
# CC (default cc) compiles. Output: one line per graph,
#   "layers: src/image: create open write read log space_map file"
# and, for a cycle, "layers: src/DIR: cycle through A B ..." followed by the
# calls between those files. Exit status: 0 no cycle, 1 a cycle, 2 a file
# does not compile or a tool is missing.
set -euo pipefail

root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cc="${CC:-cc}"
for tool in "$cc" nm tsort awk; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "layers: $tool is not installed" >&2
        exit 2
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

shopt -s nullglob
sources=("$root"/src/*/*.c)
shopt -u nullglob
if [ "${#sources[@]}" -eq 0 ]; then
    echo "layers: no source under $root/src" >&2
    exit 2
fi

# One line per symbol: "def NODE SYMBOL" or "use NODE SYMBOL", NODE = dir/file.
for c in "${sources[@]}"; do
    rel="${c#"$root"/src/}"
    node="${rel%.c}"
    obj="$tmp/$(printf '%s' "$node" | tr / _).o"
    if ! "$cc" -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" -c "$c" -o "$obj" \
            2>"$tmp/cc.err"; then
        echo "layers: src/$rel does not compile:" >&2
        cat "$tmp/cc.err" >&2
        exit 2
    fi
    nm --defined-only -g "$obj" | awk -v n="$node" 'NF == 3 { print "def", n, $3 }'
    nm -u "$obj" | awk -v n="$node" 'NF == 2 { print "use", n, $2 }'
done >"$tmp/symbols"

# The calls between files: "CALLER CALLEE SYMBOL" (each file's own calls left out).
awk '
    $1 == "def" { owner[$3] = $2; nodes[$2] = 1 }
    $1 == "use" { uses[++n] = $2 " " $3; nodes[$2] = 1 }
    END {
        for (i = 1; i <= n; i++) {
            split(uses[i], u, " ")
            if ((u[2] in owner) && owner[u[2]] != u[1])
                print u[1], owner[u[2]], u[2]
        }
        for (x in nodes)
            print x, x, "-"
    }
' "$tmp/symbols" | sort -u >"$tmp/calls"

dir_of() { sed 's|/[^/]*$||'; }

status=0
# check NAME EDGES-FILE: EDGES-FILE holds "CALLER CALLEE SYMBOL" lines of one graph.
check() {
    local name="$1" edges="$2" order
    if order=$(awk '{ print $1, $2 }' "$edges" | tsort 2>"$tmp/loop"); then
        echo "layers: $name: $(printf '%s\n' "$order" | tr '\n' ' ' | sed 's/ $//')"
        return
    fi
    status=1
    # tsort names one loop per cycle it breaks: "tsort: -: input contains a loop:"
    # then one "tsort: NODE" line per member.
    # A cycle may be named more than once: each set of members once, sorted.
    awk '$2 == "-:" { if (m != "") print m; m = ""; next } { m = m (m == "" ? "" : " ") $2 }
         END { if (m != "") print m }' "$tmp/loop" |
        while IFS= read -r members; do
            tr ' ' '\n' <<<"$members" | sort | tr '\n' ' ' | sed 's/ $//'
            echo
        done | sort -u >"$tmp/loops"
    while IFS= read -r members; do
        echo "layers: $name: cycle through $members"
        awk -v m=" $members " '
            $3 != "-" && index(m, " " $1 " ") && index(m, " " $2 " ") {
                key = $1 " -> " $2
                if (key in calls)
                    calls[key] = calls[key] " " $3
                else
                    calls[key] = $3
            }
            END { for (k in calls) print "    " k ": " calls[k] }
        ' "$edges" | sort
    done <"$tmp/loops"
}

# Within each directory: its files, named without the directory.
for d in $(awk '{ print $1 }' "$tmp/calls" | dir_of | sort -u); do
    awk -v d="$d/" 'index($1, d) == 1 && index($2, d) == 1 {
        sub(d, "", $1); sub(d, "", $2); print }' "$tmp/calls" >"$tmp/edges"
    check "src/$d" "$tmp/edges"
done

# Between the directories.
awk '{
    a = $1; b = $2; sub(/\/[^\/]*$/, "", a); sub(/\/[^\/]*$/, "", b)
    if (a != b) print a, b, $1 "->" $2 ":" $3; else print a, a, "-"
}' "$tmp/calls" | sort -u >"$tmp/edges"
check "src" "$tmp/edges"

exit "$status"
