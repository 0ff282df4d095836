#!/usr/bin/env bash
# Trains retrace's feature test pattern and visual vocabulary from public
# photographs (see README.md beside this script):
#
#   benches/features/make.sh [WORK_DIR]        (default target/tmp/features)
#
# Downloads two Debian 12 packages (pinned by version and SHA-256), unpacks
# the photographs and photographic textures they ship, runs
# examples/train_features.rs on them and writes src/features/pattern.bin and
# src/features/vocabulary.bin. The same packages give the same bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$root/target/tmp/features}
mkdir -p "$work/debs" "$work/photos"
cd "$work/debs"
while read -r pkg version sha; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  deb="${pkg}_${version}_all.deb"
  if [[ ! -f "$deb" ]]; then
    apt-get download "$pkg=$version"
  fi
  echo "$sha  $deb" | sha256sum -c --quiet
  rm -rf "x-$pkg" && mkdir "x-$pkg" && dpkg-deb -x "$deb" "x-$pkg"
done < "$root/benches/features/packages.tsv"

rm -rf "$work/photos" && mkdir -p "$work/photos/ukui" "$work/photos/ufoai"
# ukui-wallpapers: its photographs (the rest are drawings).
for f in 2004default.jpg calla.png city.png desert.png firstgeneration.jpg goldfish.png \
         rhythm.jpg string.jpg the-mouse.jpg; do
  cp "x-ukui-wallpapers/usr/share/backgrounds/$f" "$work/photos/ukui/"
done
# ufoai-textures: colour textures, most of them photographs of materials;
# normal, specular, gloss, glow and bump maps are not pictures.
python3 - "$work/debs/x-ufoai-textures/usr/share/games/ufoai/base/0textures.pk3" "$work/photos/ufoai" <<'PY'
import re, sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
skip = re.compile(r'_(nm|sm|gm|bump|gloss|glow|norm|spec|h|alpha)\.(png|jpg)$', re.I)
n = 0
for name in sorted(z.namelist()):
    if not re.search(r'\.(png|jpg)$', name, re.I) or skip.search(name):
        continue
    data = z.read(name)
    out = os.path.join(sys.argv[2], name.replace('/', '__'))
    with open(out, 'wb') as f:
        f.write(data)
    n += 1
print(f"ufoai-textures: {n} pictures")
PY
cd "$root"
cargo run --release --features examples --example train_features -- "$work/photos" "${OUT_DIR:-src/features}"
