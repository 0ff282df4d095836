#!/bin/sh
# Makes the accuracy benchmark's distractor pictures (README.md beside this
# file says what, from where, and under which licences):
#
#   benches/distractors/make.sh OUT [COUNT]
#
# fetches the pinned Debian packages of packages.tsv into OUT/debs (checked
# against their SHA-256), copies the photographs chosen below into
# OUT/sources, and runs examples/make_distractors.rs, which writes COUNT
# (default 100000) pictures to OUT/pictures and lists them in
# OUT/manifest.tsv. Nothing here is committed; run it again to get the same
# bytes. Needs apt-get (run `apt-get update` once first), dpkg-deb, python3
# and cargo; ../shared/ref for the check that no source is a benchmark photo.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: make.sh OUT [COUNT]}
count=${2:-100000}
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)

# 1. The packages, pinned by version and checked by SHA-256.
grep -v '^#' "$here/packages.tsv" | while IFS="$(printf '\t')" read -r pkg ver sha; do
    deb=$(ls "$out/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        (cd "$out/debs" && apt-get download "$pkg=$ver") || {
            echo "make.sh: cannot download $pkg=$ver (run apt-get update; is this Debian 12?)" >&2
            exit 1
        }
        deb=$(ls "$out/debs/${pkg}_"*.deb | head -n 1)
    fi
    echo "$sha  $deb" | sha256sum -c --quiet - || {
        echo "make.sh: $deb is not the pinned $pkg $ver" >&2
        exit 1
    }
done

# 2. The photographs in them (the rest of each package is drawings, icons,
# renders or sound; README.md says what was left out and why).
src="$out/sources"
rm -rf "$src" "$out/extract"
mkdir -p "$src"
x() { mkdir -p "$out/extract/$1" && dpkg-deb -x "$out/debs/$1_"*.deb "$out/extract/$1"; }
take() { # take PACKAGE DIR FILE... : copy FILEs from DIR of PACKAGE's tree
    pkg=$1 dir=$2
    shift 2
    mkdir -p "$src/$pkg"
    for f in "$@"; do cp "$out/extract/$pkg/$dir/$f" "$src/$pkg/"; done
}

x lomiri-wallpapers-16.04
# Not photographs: umang (a gradient), analogpattern (a texture); warty-final is a drawing.
take lomiri-wallpapers-16.04 usr/share/backgrounds \
    Bridge_by_Sander_Klootwijk.jpg Dragonfly_by_Bolly.jpg Picture_0B_by_freespace.jpg \
    Picture_1A_by_freespace.jpg Wine_by_Jakkub_Mede.jpg aitzgorri_by_Aitzol_Berasategi.jpg \
    free_by_Peter_Nerlich.jpg friends_by_Aitzol_Berasategi.jpg greentock_by_Peter_Nerlich.jpg \
    life_by_Aitzol_Berasategi.jpg picosdeeuropa_by_Aitzol_Berasategi.jpg \
    seeding_by_Clements_Engelhardt.jpg sunset_by_Aitzol_Berasategi.jpg
x lomiri-wallpapers-20.04
# Fossa, Painting-Colors: drawings; Infinite-Sea: a composite render.
take lomiri-wallpapers-20.04 usr/share/backgrounds Kleiber_by_Lukas_Baubkus.jpg

# GCompris keeps its pictures in Qt resource bundles.
x gcompris-qt-data
rcc="$out/extract/gcompris-qt-data/usr/share/gcompris-qt/rcc"
python3 "$here/rcc_extract.py" "$out/extract/gcompris" \
    "$rcc/erase.rcc" "$rcc/explore_monuments.rcc" "$rcc/explore_world_animals.rcc" \
    "$rcc/explore_farm_animals.rcc" "$rcc/categorization.rcc" "$rcc/explore_world_music.rcc" \
    "$rcc/clickgame.rcc" "$rcc/louis-braille.rcc"
g="$out/extract/gcompris"
mkdir -p "$src/gcompris-qt-data"
for d in erase/gcompris/src/activities/erase/resource \
    explore_monuments/gcompris/src/activities/explore_monuments/resource/* \
    explore_world_animals/gcompris/src/activities/explore_world_animals/resource/animals \
    explore_farm_animals/gcompris/src/activities/explore_farm_animals/resource/animals \
    explore_world_music/gcompris/src/activities/explore_world_music/resource/music \
    categorization/gcompris/src/activities/categorization/resource/images/fishes \
    categorization/gcompris/src/activities/categorization/resource/images/others \
    categorization/gcompris/src/activities/categorization/resource/images/renewable \
    categorization/gcompris/src/activities/categorization/resource/images/tools; do
    # categorization/…/monuments is left out: the same landmarks as explore_monuments.
    name=$(echo "$d" | tr '/' '_' | sed 's/_gcompris_src_activities_[a-z_]*_resource//')
    mkdir -p "$src/gcompris-qt-data/$name"
    cp "$g/$d"/*.webp "$g/$d"/*.jpg "$g/$d"/*.png "$src/gcompris-qt-data/$name/" 2>/dev/null || true
done
# The fish of clickgame are cut-outs; its six sea backgrounds are photographs.
mkdir -p "$src/gcompris-qt-data/clickgame"
cp "$g"/clickgame/gcompris/src/activities/clickgame/resource/sea*.webp "$src/gcompris-qt-data/clickgame/"
mkdir -p "$src/gcompris-qt-data/louis-braille"
for f in braille fireplace rnib statue teach workshop; do
    cp "$g/louis-braille/gcompris/src/activities/louis-braille/resource/$f.webp" "$src/gcompris-qt-data/louis-braille/"
done

# Endless Sky's landing pictures: 273 photographs of landscapes and cities.
x endless-sky-data
mkdir -p "$src/endless-sky-data"
cp "$out/extract/endless-sky-data/usr/share/games/endless-sky/images/land/"*.jpg "$src/endless-sky-data/"

# Scratch 1.4's photographic stage backgrounds (its .gif/.png ones and these
# .jpg are drawings: party-room, room1-3, spotlight-stage, chalkboard, train-tracks3).
x scratch
for d in Indoors Nature Outdoors Sports; do
    mkdir -p "$src/scratch/$d"
    for f in "$out/extract/scratch/usr/share/scratch/Media/Backgrounds/$d/"*.jpg; do
        case $(basename "$f") in
            party-room.jpg | room1.jpg | room2.jpg | room3.jpg | spotlight-stage.jpg | chalkboard.jpg | train-tracks3.jpg) ;;
            *) cp "$f" "$src/scratch/$d/" ;;
        esac
    done
done

# OpenCV's sample photographs, one of each scene (the stereo and calibration
# series are one picture each; renders, logos, drawings and text left out).
x opencv-doc
take opencv-doc usr/share/doc/opencv-doc/examples/data \
    aero1.jpg aloeL.jpg apple.jpg baboon.jpg board.jpg building.jpg butterfly.jpg \
    ela_original.jpg fruits.jpg home.jpg left.jpg left01.jpg leuvenA.jpg \
    licenseplate_motion.jpg messi5.jpg orange.jpg squirrel_cls.jpg stuff.jpg \
    basketball1.png box_in_scene.png chicky_512.png graf1.png rubberwhale1.png \
    smarties.png sudoku.png

# Stellarium's astronomical photographs (at most a few pictures each: see
# examples/make_distractors.rs); the folder name `nebulae` marks them.
x stellarium-data
mkdir -p "$src/stellarium-data/nebulae"
cp "$out/extract/stellarium-data/usr/share/stellarium/nebulae/default/"*.png "$src/stellarium-data/nebulae/"

# The one photograph of ../shared/ref that the benchmark neither archives nor
# queries (exif-samples keeps it eight ways; the benchmark leaves all out).
ref="$repo/../shared/ref"
if [ -f "$ref/exif/exif-samples/jpg/orientation/landscape_1.jpg" ]; then
    mkdir -p "$src/shared-ref"
    cp "$ref/exif/exif-samples/jpg/orientation/landscape_1.jpg" "$src/shared-ref/"
fi
rm -rf "$out/extract"

# 3. The pictures (those of an earlier run planned the same way are kept).
cd "$repo"
cargo run --release --quiet --features examples --example make_distractors -- \
    --sources "$src" --out "$out" --count "$count" --ref "$ref"
