#!/usr/bin/env bash
# Differential test against QEMU: images made by `qemu-img create -f vhdx`
# (dynamic and fixed; block sizes 1, 8, 32 and 256 MiB; log sizes 1 and
# 4 MiB), filled by qemu-io with pattern writes, unaligned partial-sector
# writes and `write -z`, must read exactly as `qemu-img convert -O raw`
# reads them: through `vhdx convert -O raw` (whole disk) and `vhdx read`
# (unaligned ranges). `vhdx-verify` must accept every image, and none of
# our tools may change a byte of it.
set -uo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
vhdx="$root/tools/vhdx"
verify="$root/tools/vhdx-verify"
tmp="${TEST_TMPDIR:?}"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
    echo "qemu-img and qemu-io are required (tools/setup.sh installs qemu-utils)"
    echo "qemu_diff_test: 0 passed, 1 failed"
    exit 1
fi

size=$((260 * 1024 * 1024)) # not a multiple of 256 MiB: a partial last block
for sub in dynamic fixed; do
  for bs in 1M 8M 32M 256M; do
    for log in 1M 4M; do
      name="$sub-bs$bs-log$log"
      img="$tmp/$name.vhdx"
      rm -f "$img" "$tmp/q.raw" "$tmp/v.raw"
      qemu-img create -q -f vhdx -o "subformat=$sub,block_size=$bs,log_size=$log" "$img" "$size" \
          || { bad "$name: qemu-img create"; continue; }
      qemu-io -f vhdx \
          -c "write -P 0xa5 0 3M" \
          -c "write -P 0x5a 1000 300" \
          -c "write -P 0x3c 5243391 1025" \
          -c "write -z 1M 512k" \
          -c "write -P 0x33 150M 64k" \
          -c "write -P 0x77 259M 1M" \
          "$img" >/dev/null || { bad "$name: qemu-io"; continue; }
      before=$(sha256sum < "$img")

      if "$verify" --quiet "$img"; then ok; else bad "$name: vhdx-verify exit $?"; fi

      qemu-img convert -f vhdx -O raw "$img" "$tmp/q.raw" || { bad "$name: qemu-img convert"; continue; }
      if "$vhdx" convert -O raw "$img" "$tmp/v.raw"; then ok; else bad "$name: vhdx convert exit $?"; fi
      if cmp -s "$tmp/q.raw" "$tmp/v.raw"; then ok; else bad "$name: vhdx convert differs from qemu-img: $(cmp "$tmp/q.raw" "$tmp/v.raw" | head -1)"; fi

      for range in "1000 300" "5243391 1025" "1048575 524290" "271581184 1048576" "0 4096"; do
        set -- $range
        if cmp -s <("$vhdx" read "$img" "$1" "$2") <(dd if="$tmp/q.raw" iflag=skip_bytes,count_bytes bs=1M skip="$1" count="$2" status=none); then
          ok
        else
          bad "$name: vhdx read $1 $2 differs"
        fi
      done

      if [ "$(sha256sum < "$img")" = "$before" ]; then ok; else bad "$name: the image was modified"; fi
      rm -f "$img" "$tmp/q.raw" "$tmp/v.raw"
    done
  done
done
echo "qemu_diff_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
