#!/bin/sh
# The other side of "Exposures of one scene" (docs/matching.md): the same
# exposure archived twice must stay confirmed. Each of twelve camera JPEGs of
# exif-samples (../shared/ref) is archived with a re-save of itself whose
# DateTimeOriginal was moved by a minute (four kinds of re-save, one archive
# each), then a 60% crop at half size (q70) and a quarter-size copy (q60) of
# each are checked. Prints, per kind of re-save, the matches, how many are
# confirmed, and how many were lowered as "another exposure" (0 is right).
#
#   cargo build --release && benches/exposures/twins.sh [OUT]
#
# Needs djpeg, cjpeg, jpegtran (libjpeg-turbo-progs), exiftool and python3.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=$repo/../shared/ref/exif/exif-samples/jpg
bin=${RETRACE:-$repo/target/release/retrace}
out=${1:-$repo/target/exposures-twins}
rm -rf "$out" && mkdir -p "$out/q"
cameras="Canon_40D Canon_DIGITAL_IXUS_400 Canon_PowerShot_S40 Fujifilm_FinePix_E500 Kodak_CX7530
Nikon_D70 Olympus_C8080WZ Panasonic_DMC-FZ30 Pentax_K10D Sony_HDR-HC3 Ricoh_Caplio_RR330 Nikon_COOLPIX_P1"
for f in $cameras; do
    set -- $(exiftool -s3 -ImageWidth -ImageHeight "$src/$f.jpg")
    w=$1 h=$2
    jpegtran -crop "$((w * 6 / 10))x$((h * 6 / 10))+$((w / 8))+$((h / 10))" "$src/$f.jpg" |
        djpeg -scale 1/2 | cjpeg -quality 70 >"$out/q/${f}_crop.jpg"
    djpeg -scale 1/4 "$src/$f.jpg" | cjpeg -quality 60 >"$out/q/${f}_small.jpg"
done
for kind in "1/1 92" "1/1 75" "1/2 80" "1/4 85"; do
    set -- $kind
    a="$out/archive-$(echo "$1-$2" | tr / _)"
    mkdir -p "$a"
    for f in $cameras; do
        cp "$src/$f.jpg" "$a/"
        djpeg -scale "$1" "$src/$f.jpg" | cjpeg -quality "$2" >"$a/${f}_resaved.jpg"
        exiftool -q -q -overwrite_original -tagsFromFile "$src/$f.jpg" -all:all "$a/${f}_resaved.jpg"
        exiftool -q -q -overwrite_original "-DateTimeOriginal+=0:0:0 0:1:0" "$a/${f}_resaved.jpg"
    done
    "$bin" --archive "$a.db" archive add "$a" >/dev/null 2>&1
    for q in "$out"/q/*.jpg; do
        "$bin" --archive "$a.db" check --json "$q" >"$q.$(echo "$1" | tr / _)-$2.json" 2>/dev/null || true
    done
    python3 -c '
import glob, json, sys
n = c = low = 0
for path in glob.glob(sys.argv[3] + "/q/*." + sys.argv[1] + "-" + sys.argv[2] + ".json"):
    for m in json.load(open(path))["matches"]:
        n += 1
        c += m["confidence"] == "confirmed"
        low += any(e.startswith("another exposure") for e in m["evidence"])
print(f"re-saved at scale {sys.argv[4]}, q{sys.argv[2]}: {n} matches, {c} confirmed, {low} lowered as another exposure")
' "$(echo "$1" | tr / _)" "$2" "$out" "$1"
done
