//! Rebuilds `samples/incoming/` from `samples/archive/` and `samples/not-in-archive/`.
//!
//! retrace is meant to find the earlier copy of a picture after social platforms and
//! news channels have been through it. To test that honestly we need circulating
//! copies whose origin is known *by construction*, so this example makes them from
//! the real photographs in the sample archive, the way they get altered in the wild:
//!
//! * re-compressed at a lower JPEG quality, same size;
//! * downsized for a messenger (longest side 1280 or 640, JPEG q75), or re-saved as PNG;
//! * cropped (centred, and off-centre), mirrored;
//! * a news-channel caption bar over the bottom 15 %, or a channel watermark in a corner;
//! * a phone screenshot of a social-media post that shows the photo;
//! * a combination (crop + downscale + caption + JPEG q70).
//!
//! It also re-encodes a few real photographs that are *not* in the archive
//! (`samples/not-in-archive/`): they must match nothing.
//!
//! Every output is written by the `image` crate's encoders, which write no EXIF, so all
//! copies are stripped of metadata, as they are after most platforms. Ground truth goes
//! to `samples/incoming/EXPECTED.tsv` (`file`, `original`, `transform`; `original` is the
//! archive file name, or `-` for a picture that is not in the archive).
//!
//! The output is deterministic: no clock, no OS randomness, fixed parameters, and the
//! folder is emptied of regular files before writing, so two runs give byte-identical
//! files. Text is drawn with a small bitmap font embedded below; no font files.
//!
//! Run: `cargo run --release --features examples --example make_samples`

use std::error::Error;
use std::fs;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader, Rgb, RgbImage};

type Res<T> = Result<T, Box<dyn Error>>;
type Color = [u8; 3];

/// Fictional channel whose caption bars and watermark appear on the copies.
const CHANNEL: &str = "NORTHWIND 24";

// ---------------------------------------------------------------------------------------
// What to make
// ---------------------------------------------------------------------------------------

/// One alteration step; a copy applies a list of them in order, then encodes.
#[derive(Clone, Copy)]
enum Step {
    /// Resize so that the longest side is this many pixels.
    Longest(u32),
    /// Centred crop keeping this fraction of the area.
    CropCentre(f32),
    /// Crop to a rectangle given as fractions of width and height: x, y, w, h.
    CropFrac(f32, f32, f32, f32),
    /// Horizontal flip.
    Mirror,
    /// Caption bar over the bottom 15 %.
    Caption(&'static Caption),
    /// Channel logo and name, semi-transparent, in the top-right corner.
    Watermark,
    /// Phone screenshot of a social-media post showing the picture.
    Screenshot(&'static Post),
}

/// How a copy is stored.
#[derive(Clone, Copy)]
enum Format {
    /// Baseline JPEG at this quality.
    Jpeg(u8),
    /// PNG, default compression.
    Png,
}

/// One file of `samples/incoming/`.
struct Sample {
    /// Output file name.
    file: &'static str,
    /// Source picture: a file of `samples/archive/` or of `samples/not-in-archive/`.
    source: &'static str,
    /// Whether `source` is in the archive (false: a new picture that must match nothing).
    in_archive: bool,
    /// Short description for EXPECTED.tsv.
    transform: &'static str,
    steps: &'static [Step],
    format: Format,
}

/// Text of a news caption bar.
struct Caption {
    /// Red label box on the left, e.g. "BREAKING".
    label: &'static str,
    headline: &'static str,
    /// Small running text in the ticker strip under the headline.
    ticker: &'static str,
    /// Clock shown at the right end of the ticker.
    clock: &'static str,
}

/// A social-media post as it appears on a phone.
struct Post {
    author: &'static str,
    handle: &'static str,
    avatar: Color,
    text: &'static str,
    when: &'static str,
    replies: &'static str,
    reposts: &'static str,
    likes: &'static str,
    /// Replies under the post, as many as fit above the navigation bar.
    thread: &'static [Reply],
}

/// A reply under a post.
struct Reply {
    author: &'static str,
    handle: &'static str,
    age: &'static str,
    text: &'static str,
    avatar: Color,
}

static STORM_CAPTION: Caption = Caption {
    label: "BREAKING",
    headline: "TORNADO TOUCHES DOWN ON HIGHWAY \u{2014} 2024",
    ticker: "SEVERE WEATHER WARNING FOR THE WHOLE REGION",
    clock: "14:32",
};

static BORDER_CAPTION: Caption = Caption {
    label: "BREAKING",
    headline: "TROOPS AT THE BORDER \u{2014} 2024",
    ticker: "LIVE COVERAGE ALL NIGHT",
    clock: "23:05",
};

static MISSILE_CAPTION: Caption = Caption {
    label: "BREAKING",
    headline: "MISSILE LAUNCHED OVERNIGHT \u{2014} 2024",
    ticker: "DEFENCE MINISTRY HAS NOT COMMENTED",
    clock: "06:10",
};

static DUNE_POST: Post = Post {
    author: "Coast Watch Live",
    handle: "@coastwatch_live",
    avatar: [0, 122, 110],
    text: "The whole coast dried out in ONE summer and nobody is talking about it. \
           Share before they delete this!",
    when: "3:12 PM \u{b7} Aug 14, 2024 \u{b7} 1.2M Views",
    replies: "3,201",
    reposts: "48.1K",
    likes: "212K",
    thread: &[
        Reply {
            author: "Sandra K.",
            handle: "@sandra_k",
            age: "1h",
            text: "Isn't this an old desktop wallpaper? I have seen it on Linux for years.",
            avatar: [214, 160, 90],
        },
        Reply {
            author: "Tom Baker",
            handle: "@tbaker_77",
            age: "2h",
            text: "This is what happens when nobody listens. Sharing.",
            avatar: [96, 140, 200],
        },
        Reply {
            author: "Local Desk",
            handle: "@localdesk_news",
            age: "2h",
            text: "We are checking where this picture comes from. DM us if you took it.",
            avatar: [40, 40, 40],
        },
    ],
};

static HOPPER_POST: Post = Post {
    author: "History in Pictures",
    handle: "@histpics_daily",
    avatar: [120, 70, 160],
    text: "Rear Admiral Grace Hopper, who found the first computer \"bug\". \
           Never forget her!",
    when: "9:02 AM \u{b7} Dec 9, 2024 \u{b7} 640K Views",
    replies: "812",
    reposts: "9,450",
    likes: "61.3K",
    thread: &[
        Reply {
            author: "devnull",
            handle: "@devnull_42",
            age: "1h",
            text: "Legend. COBOL still runs the world.",
            avatar: [180, 190, 200],
        },
        Reply {
            author: "Ada F.",
            handle: "@ada_fan",
            age: "3h",
            text: "Her nanosecond wire demo is still the best explanation of latency.",
            avatar: [200, 120, 140],
        },
    ],
};

static ASTRONAUT_POST: Post = Post {
    author: "Space Updates",
    handle: "@space_now_24",
    avatar: [30, 60, 140],
    text: "First photo of the new station commander, taken this morning in orbit!",
    when: "7:45 PM \u{b7} Mar 3, 2025 \u{b7} 88K Views",
    replies: "154",
    reposts: "1,022",
    likes: "7,310",
    thread: &[
        Reply {
            author: "Mo",
            handle: "@mo_looks_up",
            age: "40m",
            text: "Amazing. Where is this from?",
            avatar: [120, 160, 120],
        },
        Reply {
            author: "orbit_nerd",
            handle: "@orbit_nerd",
            age: "1h",
            text: "That is not a station photo, that is a studio portrait. Source?",
            avatar: [90, 90, 160],
        },
        Reply {
            author: "Kim",
            handle: "@kim_reads",
            age: "2h",
            text: "Wow!!",
            avatar: [230, 170, 60],
        },
    ],
};

/// Everything written to `samples/incoming/`, in EXPECTED.tsv order.
static SAMPLES: &[Sample] = &[
    Sample {
        file: "storm_recompressed_q65.jpg",
        source: "Storm.jpg",
        in_archive: true,
        transform: "recompress q65",
        steps: &[],
        format: Format::Jpeg(65),
    },
    Sample {
        file: "storm_caption.jpg",
        source: "Storm.jpg",
        in_archive: true,
        transform: "caption bar + q80",
        steps: &[Step::Caption(&STORM_CAPTION)],
        format: Format::Jpeg(80),
    },
    Sample {
        file: "storm_crop_caption_640.jpg",
        source: "Storm.jpg",
        in_archive: true,
        transform: "crop 65% (right) + downscale 640 + caption bar + q70",
        steps: &[
            Step::CropFrac(0.22, 0.10, 0.78, 0.83),
            Step::Longest(640),
            Step::Caption(&BORDER_CAPTION),
        ],
        format: Format::Jpeg(70),
    },
    Sample {
        file: "blinds_messenger_1280.jpg",
        source: "Blinds.jpg",
        in_archive: true,
        transform: "downscale 1280 + q75",
        steps: &[Step::Longest(1280)],
        format: Format::Jpeg(75),
    },
    Sample {
        file: "blinds_mirrored.jpg",
        source: "Blinds.jpg",
        in_archive: true,
        transform: "mirror + q85",
        steps: &[Step::Mirror],
        format: Format::Jpeg(85),
    },
    Sample {
        file: "dune_crop_centre.jpg",
        source: "Dune.jpg",
        in_archive: true,
        transform: "crop centre 60% + q85",
        steps: &[Step::CropCentre(0.60)],
        format: Format::Jpeg(85),
    },
    Sample {
        file: "dune_screenshot.jpg",
        source: "Dune.jpg",
        in_archive: true,
        transform: "phone screenshot 1080x2340 + q80",
        steps: &[Step::Screenshot(&DUNE_POST)],
        format: Format::Jpeg(80),
    },
    Sample {
        file: "wood_messenger_640.jpg",
        source: "Wood.jpg",
        in_archive: true,
        transform: "downscale 640 + q75",
        steps: &[Step::Longest(640)],
        format: Format::Jpeg(75),
    },
    Sample {
        file: "china_resave.png",
        source: "china.jpg",
        in_archive: true,
        transform: "png re-save",
        steps: &[],
        format: Format::Png,
    },
    Sample {
        file: "china_watermark.jpg",
        source: "china.jpg",
        in_archive: true,
        transform: "watermark (top right) + q85",
        steps: &[Step::Watermark],
        format: Format::Jpeg(85),
    },
    Sample {
        file: "grace_hopper_crop_offcentre.jpg",
        source: "grace_hopper.jpg",
        in_archive: true,
        transform: "crop off-centre 53% (upper left) + q85",
        steps: &[Step::CropFrac(0.04, 0.0, 0.76, 0.70)],
        format: Format::Jpeg(85),
    },
    Sample {
        file: "grace_hopper_screenshot.jpg",
        source: "grace_hopper.jpg",
        in_archive: true,
        transform: "phone screenshot 1080x2340 + q80",
        steps: &[Step::Screenshot(&HOPPER_POST)],
        format: Format::Jpeg(80),
    },
    Sample {
        file: "rocket_caption.jpg",
        source: "rocket.jpg",
        in_archive: true,
        transform: "caption bar + q80",
        steps: &[Step::Caption(&MISSILE_CAPTION)],
        format: Format::Jpeg(80),
    },
    Sample {
        file: "new_flower.jpg",
        source: "flower.jpg",
        in_archive: false,
        transform: "new picture: recompress q75",
        steps: &[],
        format: Format::Jpeg(75),
    },
    Sample {
        file: "new_coffee.jpg",
        source: "coffee.png",
        in_archive: false,
        transform: "new picture: jpeg q80",
        steps: &[],
        format: Format::Jpeg(80),
    },
    Sample {
        file: "new_chelsea.jpg",
        source: "chelsea.png",
        in_archive: false,
        transform: "new picture: downscale 400 + q75",
        steps: &[Step::Longest(400)],
        format: Format::Jpeg(75),
    },
    Sample {
        file: "new_astronaut_screenshot.jpg",
        source: "astronaut.png",
        in_archive: false,
        transform: "new picture: phone screenshot 1080x2340 + q80",
        steps: &[Step::Screenshot(&ASTRONAUT_POST)],
        format: Format::Jpeg(80),
    },
];

// ---------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------

fn main() -> Res<()> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let archive = samples.join("archive");
    let unseen = samples.join("not-in-archive");
    let incoming = samples.join("incoming");

    fs::create_dir_all(&incoming)?;
    // The folder is ours: drop whatever an earlier layout left behind.
    for entry in fs::read_dir(&incoming)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
        }
    }

    let mut expected = String::from("file\toriginal\ttransform\n");
    for sample in SAMPLES {
        let dir = if sample.in_archive { &archive } else { &unseen };
        let src = dir.join(sample.source);
        let mut img = load_oriented(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        for step in sample.steps {
            img = apply(step, &img);
        }
        let out = incoming.join(sample.file);
        let bytes = encode(&img, sample.format)?;
        fs::write(&out, &bytes)?;
        let original = if sample.in_archive {
            sample.source
        } else {
            "-"
        };
        expected.push_str(&format!(
            "{}\t{original}\t{}\n",
            sample.file, sample.transform
        ));
        println!(
            "{:<34} {:>4}x{:<4} {:>7} B  <- {}",
            sample.file,
            img.width(),
            img.height(),
            bytes.len(),
            sample.source
        );
    }
    fs::write(incoming.join("EXPECTED.tsv"), expected)?;
    println!("wrote {} files to {}", SAMPLES.len(), incoming.display());
    Ok(())
}

/// Decodes a picture and turns it upright as its EXIF orientation says, as a viewer
/// (and the platform that re-encodes it) would.
fn load_oriented(path: &Path) -> Res<RgbImage> {
    let mut decoder = ImageReader::open(path)?
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut img = DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

fn apply(step: &Step, img: &RgbImage) -> RgbImage {
    match *step {
        Step::Longest(side) => resize_longest(img, side),
        Step::CropCentre(area) => {
            let k = area.sqrt();
            crop_frac(img, (1.0 - k) / 2.0, (1.0 - k) / 2.0, k, k)
        }
        Step::CropFrac(x, y, w, h) => crop_frac(img, x, y, w, h),
        Step::Mirror => imageops::flip_horizontal(img),
        Step::Caption(caption) => caption_bar(img, caption),
        Step::Watermark => watermark(img, CHANNEL),
        Step::Screenshot(post) => phone_screenshot(img, post),
    }
}

fn encode(img: &RgbImage, format: Format) -> Res<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Jpeg(quality) => {
            JpegEncoder::new_with_quality(&mut buf, quality).encode_image(img)?
        }
        Format::Png => {
            PngEncoder::new_with_quality(&mut buf, CompressionType::Default, PngFilter::Adaptive)
                .write_image(
                    img.as_raw(),
                    img.width(),
                    img.height(),
                    image::ExtendedColorType::Rgb8,
                )?
        }
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------

fn resize_longest(img: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = if w >= h {
        (side, (h as f32 * side as f32 / w as f32).round() as u32)
    } else {
        ((w as f32 * side as f32 / h as f32).round() as u32, side)
    };
    imageops::resize(img, nw.max(1), nh.max(1), FilterType::Lanczos3)
}

fn crop_frac(img: &RgbImage, x: f32, y: f32, w: f32, h: f32) -> RgbImage {
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let (cx, cy) = ((x * iw).round() as u32, (y * ih).round() as u32);
    let cw = ((w * iw).round() as u32).min(img.width() - cx).max(1);
    let ch = ((h * ih).round() as u32).min(img.height() - cy).max(1);
    imageops::crop_imm(img, cx, cy, cw, ch).to_image()
}

// ---------------------------------------------------------------------------------------
// Drawing primitives: alpha blending onto an RGB canvas, 4x4-supersampled shapes
// ---------------------------------------------------------------------------------------

/// Blends `c` over the pixel at (x, y) with `alpha` (0..=255); outside is ignored.
fn blend(img: &mut RgbImage, x: i32, y: i32, c: Color, alpha: u32) {
    if x < 0 || y < 0 || x as u32 >= img.width() || y as u32 >= img.height() || alpha == 0 {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    for (dst, src) in p.0.iter_mut().zip(c) {
        *dst = ((u32::from(src) * alpha + u32::from(*dst) * (255 - alpha) + 127) / 255) as u8;
    }
}

fn fill_rect(img: &mut RgbImage, x: i32, y: i32, w: i32, h: i32, c: Color, alpha: u32) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + w).min(img.width() as i32);
    let y1 = (y + h).min(img.height() as i32);
    for py in y0..y1 {
        for px in x0..x1 {
            blend(img, px, py, c, alpha);
        }
    }
}

/// Paints `c` wherever `inside(x, y)` holds within the box `(x0, y0)..(x1, y1)`,
/// anti-aliased: each pixel is sampled 4x4 times.
fn fill_shape(
    img: &mut RgbImage,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    c: Color,
    alpha: u32,
    inside: impl Fn(f32, f32) -> bool,
) {
    let px0 = (x0.floor() as i32).max(0);
    let py0 = (y0.floor() as i32).max(0);
    let px1 = (x1.ceil() as i32).min(img.width() as i32);
    let py1 = (y1.ceil() as i32).min(img.height() as i32);
    for py in py0..py1 {
        for px in px0..px1 {
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let fx = px as f32 + (sx as f32 + 0.5) / 4.0;
                    let fy = py as f32 + (sy as f32 + 0.5) / 4.0;
                    if inside(fx, fy) {
                        hits += 1;
                    }
                }
            }
            blend(img, px, py, c, alpha * hits / 16);
        }
    }
}

fn in_circle(x: f32, y: f32, cx: f32, cy: f32, r: f32) -> bool {
    (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r
}

fn in_round_rect(x: f32, y: f32, (rx, ry, rw, rh): (f32, f32, f32, f32), r: f32) -> bool {
    if x < rx || y < ry || x > rx + rw || y > ry + rh {
        return false;
    }
    let qx = x.clamp(rx + r, rx + rw - r);
    let qy = y.clamp(ry + r, ry + rh - r);
    in_circle(x, y, qx, qy, r)
}

/// Distance test against a segment with round caps: a stroke `2 * half` wide.
fn near_segment(x: f32, y: f32, (ax, ay): (f32, f32), (bx, by): (f32, f32), half: f32) -> bool {
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((x - ax) * dx + (y - ay) * dy) / len2).clamp(0.0, 1.0)
    };
    in_circle(x, y, ax + t * dx, ay + t * dy, half)
}

fn in_triangle(x: f32, y: f32, a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> bool {
    let side = |p: (f32, f32), q: (f32, f32)| (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    !((d1 < 0.0 || d2 < 0.0 || d3 < 0.0) && (d1 > 0.0 || d2 > 0.0 || d3 > 0.0))
}

/// Strokes a polyline.
fn stroke(img: &mut RgbImage, points: &[(f32, f32)], half: f32, c: Color) {
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let bounds = (
            a.0.min(b.0) - half - 1.0,
            a.1.min(b.1) - half - 1.0,
            a.0.max(b.0) + half + 1.0,
            a.1.max(b.1) + half + 1.0,
        );
        fill_shape(img, bounds, c, 255, |x, y| near_segment(x, y, a, b, half));
    }
}

fn fill_circle(img: &mut RgbImage, cx: f32, cy: f32, r: f32, c: Color, alpha: u32) {
    let bounds = (cx - r - 1.0, cy - r - 1.0, cx + r + 1.0, cy + r + 1.0);
    fill_shape(img, bounds, c, alpha, |x, y| in_circle(x, y, cx, cy, r));
}

fn ring(img: &mut RgbImage, cx: f32, cy: f32, r: f32, width: f32, c: Color, alpha: u32) {
    let bounds = (cx - r - 1.0, cy - r - 1.0, cx + r + 1.0, cy + r + 1.0);
    fill_shape(img, bounds, c, alpha, |x, y| {
        in_circle(x, y, cx, cy, r) && !in_circle(x, y, cx, cy, r - width)
    });
}

fn fill_round_rect(img: &mut RgbImage, rect: (f32, f32, f32, f32), r: f32, c: Color, alpha: u32) {
    let bounds = (
        rect.0 - 1.0,
        rect.1 - 1.0,
        rect.0 + rect.2 + 1.0,
        rect.1 + rect.3 + 1.0,
    );
    fill_shape(img, bounds, c, alpha, |x, y| in_round_rect(x, y, rect, r));
}

/// Copies `src` onto `dst` at (x, y) with its corners rounded to radius `r`.
fn blit_rounded(dst: &mut RgbImage, src: &RgbImage, x: i32, y: i32, r: f32) {
    let rect = (0.0, 0.0, src.width() as f32, src.height() as f32);
    for (sx, sy, p) in src.enumerate_pixels() {
        let (fx, fy) = (sx as f32, sy as f32);
        let near_corner = (fx < r || fx > rect.2 - r - 1.0) && (fy < r || fy > rect.3 - r - 1.0);
        let coverage = if near_corner {
            let mut hits = 0;
            for k in 0..16 {
                let ox = (k % 4) as f32 * 0.25 + 0.125;
                let oy = (k / 4) as f32 * 0.25 + 0.125;
                if in_round_rect(fx + ox, fy + oy, rect, r) {
                    hits += 1;
                }
            }
            hits
        } else {
            16
        };
        blend(dst, x + sx as i32, y + sy as i32, p.0, 255 * coverage / 16);
    }
}

// ---------------------------------------------------------------------------------------
// Bitmap font: 5 columns x 8 rows (rows 0-6 for capitals, row 7 for descenders).
// Bit 4 is the leftmost column.
// ---------------------------------------------------------------------------------------

#[rustfmt::skip]
fn glyph(c: char) -> [u8; 8] {
    match c {
        'A' => [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001, 0],
        'B' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110, 0],
        'C' => [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110, 0],
        'D' => [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100, 0],
        'E' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111, 0],
        'F' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000, 0],
        'G' => [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111, 0],
        'H' => [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001, 0],
        'I' => [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0],
        'J' => [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100, 0],
        'K' => [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001, 0],
        'L' => [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111, 0],
        'M' => [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001, 0],
        'N' => [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001, 0],
        'O' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0],
        'P' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000, 0],
        'Q' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101, 0],
        'R' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001, 0],
        'S' => [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110, 0],
        'T' => [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0],
        'U' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0],
        'V' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0],
        'W' => [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010, 0],
        'X' => [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001, 0],
        'Y' => [0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0],
        'Z' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111, 0],
        'a' => [0, 0, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111, 0],
        'b' => [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110, 0],
        'c' => [0, 0, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110, 0],
        'd' => [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111, 0],
        'e' => [0, 0, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110, 0],
        'f' => [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000, 0],
        'g' => [0, 0, 0b01111, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
        'h' => [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0],
        'i' => [0b00100, 0, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110, 0],
        'j' => [0b00010, 0, 0b00110, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
        'k' => [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0],
        'l' => [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0],
        'm' => [0, 0, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001, 0],
        'n' => [0, 0, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0],
        'o' => [0, 0, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110, 0],
        'p' => [0, 0, 0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000],
        'q' => [0, 0, 0b01101, 0b10011, 0b10001, 0b01111, 0b00001, 0b00001],
        'r' => [0, 0, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000, 0],
        's' => [0, 0, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110, 0],
        't' => [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110, 0],
        'u' => [0, 0, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101, 0],
        'v' => [0, 0, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0],
        'w' => [0, 0, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010, 0],
        'x' => [0, 0, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0],
        'y' => [0, 0, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
        'z' => [0, 0, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111, 0],
        '0' => [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110, 0],
        '1' => [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0],
        '2' => [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111, 0],
        '3' => [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110, 0],
        '4' => [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010, 0],
        '5' => [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110, 0],
        '6' => [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110, 0],
        '7' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0],
        '8' => [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110, 0],
        '9' => [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100, 0],
        ' ' => [0; 8],
        '.' => [0, 0, 0, 0, 0, 0b01100, 0b01100, 0],
        ',' => [0, 0, 0, 0, 0, 0b01100, 0b00100, 0b01000],
        ':' => [0, 0b01100, 0b01100, 0, 0b01100, 0b01100, 0, 0],
        '!' => [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0, 0b00100, 0],
        '?' => [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0, 0b00100, 0],
        '-' => [0, 0, 0, 0b01110, 0, 0, 0, 0],
        '\u{2014}' => [0, 0, 0, 0b11111, 0, 0, 0, 0],
        '\'' => [0b00100, 0b00100, 0b01000, 0, 0, 0, 0, 0],
        '"' => [0b01010, 0b01010, 0b01010, 0, 0, 0, 0, 0],
        '/' => [0, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0, 0],
        '@' => [0b01110, 0b10001, 0b10111, 0b10101, 0b10111, 0b10000, 0b01110, 0],
        '#' => [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010, 0],
        '&' => [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101, 0],
        '%' => [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011, 0],
        '+' => [0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0, 0],
        '(' => [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010, 0],
        ')' => [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000, 0],
        '\u{b7}' => [0, 0, 0, 0b01100, 0b01100, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0b11111, 0],
        // Anything else shows as an empty box, so a missing glyph is visible.
        _ => [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111, 0],
    }
}

/// Font size: `scale` canvas pixels per font pixel; bold adds a third of a stroke.
#[derive(Clone, Copy)]
struct Font {
    scale: i32,
    bold: bool,
}

impl Font {
    fn regular(scale: i32) -> Font {
        Font { scale, bold: false }
    }
    fn bold(scale: i32) -> Font {
        Font { scale, bold: true }
    }
    fn extra(self) -> i32 {
        if self.bold {
            (self.scale / 3).max(1)
        } else {
            0
        }
    }
    /// Horizontal advance per character: 5 columns plus one of spacing.
    fn advance(self) -> i32 {
        6 * self.scale + self.extra()
    }
    /// Height of a capital letter.
    fn cap_height(self) -> i32 {
        7 * self.scale
    }
    fn width(self, text: &str) -> i32 {
        let n = text.chars().count() as i32;
        if n == 0 {
            0
        } else {
            n * self.advance() - self.scale
        }
    }
}

/// Draws `text` with its top-left corner at (x, y); returns the x after the last glyph.
fn draw_text(img: &mut RgbImage, x: i32, y: i32, text: &str, font: Font, c: Color) -> i32 {
    let s = font.scale;
    let mut cx = x;
    for ch in text.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) != 0 {
                    fill_rect(
                        img,
                        cx + col * s,
                        y + row as i32 * s,
                        s + font.extra(),
                        s,
                        c,
                        255,
                    );
                }
            }
        }
        cx += font.advance();
    }
    cx - s
}

/// Greedy word wrap to lines of at most `max_chars` characters.
fn wrap(text: &str, max_chars: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max_chars {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

// ---------------------------------------------------------------------------------------
// News caption bar ("lower third") and channel watermark
// ---------------------------------------------------------------------------------------

/// Covers the bottom 15 % with a TV-news lower third: a navy headline band with a red
/// label box, and a black ticker strip with the channel name and a clock.
fn caption_bar(img: &RgbImage, cap: &Caption) -> RgbImage {
    const NAVY: Color = [14, 30, 72];
    const RED: Color = [200, 16, 30];
    const WHITE: Color = [255, 255, 255];
    let mut out = img.clone();
    let (w, h) = (img.width() as i32, img.height() as i32);
    let bar_h = (h as f32 * 0.15).round() as i32;
    let top = h - bar_h;
    let head_h = bar_h * 64 / 100;
    let tick_h = bar_h - head_h;
    let margin = (bar_h / 6).max(4);

    fill_rect(&mut out, 0, top, w, head_h, NAVY, 235);
    fill_rect(&mut out, 0, top + head_h, w, tick_h, [8, 8, 12], 245);
    fill_rect(&mut out, 0, top, w, (bar_h / 40).max(2), RED, 255);

    // Headline: largest font whose label box and text fit the width.
    let mut font = Font::bold((head_h as f32 * 0.40 / 7.0).floor().max(1.0) as i32);
    let fits = |f: Font| {
        let pad = 2 * f.scale;
        margin + pad + f.width(cap.label) + pad + 3 * f.scale + f.width(cap.headline) + margin <= w
    };
    while font.scale > 1 && !fits(font) {
        font = Font::bold(font.scale - 1);
    }
    let pad = 2 * font.scale;
    let text_y = top + (head_h - font.cap_height()) / 2;
    let box_w = pad + font.width(cap.label) + pad;
    let box_y = text_y - pad;
    fill_rect(
        &mut out,
        margin,
        box_y,
        box_w,
        font.cap_height() + 2 * pad,
        RED,
        255,
    );
    draw_text(&mut out, margin + pad, text_y, cap.label, font, WHITE);
    let head_x = margin + box_w + 3 * font.scale;
    draw_text(&mut out, head_x, text_y, cap.headline, font, WHITE);

    // Ticker: channel name in a white box, running text, clock at the right.
    let small = Font::bold((tick_h as f32 * 0.42 / 7.0).floor().max(1.0) as i32);
    let ty = top + head_h + (tick_h - small.cap_height()) / 2;
    let spad = 2 * small.scale;
    let name_w = spad + small.width(CHANNEL) + spad;
    fill_rect(
        &mut out,
        0,
        top + head_h,
        margin + name_w,
        tick_h,
        WHITE,
        255,
    );
    draw_text(&mut out, margin + spad, ty, CHANNEL, small, NAVY);
    let clock_x = w - margin - small.width(cap.clock);
    draw_text(&mut out, clock_x, ty, cap.clock, small, [255, 204, 0]);
    let ticker = Font::regular(small.scale);
    let room = clock_x - (margin + name_w + 3 * spad) - 3 * spad;
    let max_chars = (room / ticker.advance()).max(0) as usize;
    let shown: String = cap.ticker.chars().take(max_chars).collect();
    draw_text(
        &mut out,
        margin + name_w + 3 * spad,
        ty,
        &shown,
        ticker,
        [225, 225, 225],
    );
    out
}

/// A TV-style channel bug in the top-right corner: a semi-transparent round logo and
/// the channel name, with a faint shadow so it reads on light and dark pictures.
fn watermark(img: &RgbImage, name: &str) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = (img.width() as f32, img.height() as f32);
    let r = (w.min(h) * 0.06).max(10.0);
    let margin = r * 0.7;
    let (cx, cy) = (w - margin - r, margin + r);
    let font = Font::bold(((r * 0.75) / 7.0).round().max(1.0) as i32);
    let text_w = font.width(name) as f32;
    let tx = (cx - r - r * 0.4 - text_w).round() as i32;
    let ty = (cy - font.cap_height() as f32 / 2.0).round() as i32;
    let shadow = (r / 12.0).max(1.0);

    for (dx, color, alpha) in [(shadow, [0, 0, 0], 70), (0.0, [255, 255, 255], 150)] {
        let (x, y) = (cx + dx, cy + dx);
        ring(&mut out, x, y, r, r * 0.16, color, alpha);
        fill_circle(&mut out, x, y, r * 0.66, color, alpha);
        let mut text_layer = out.clone();
        draw_text(
            &mut text_layer,
            tx + dx as i32,
            ty + dx as i32,
            name,
            font,
            color,
        );
        mix_layer(&mut out, &text_layer, alpha);
    }
    // A "play" triangle punched into the disc, in the picture's own colours darkened.
    let tri = (
        (cx - r * 0.22, cy - r * 0.36),
        (cx - r * 0.22, cy + r * 0.36),
        (cx + r * 0.38, cy),
    );
    let bounds = (cx - r, cy - r, cx + r, cy + r);
    fill_shape(&mut out, bounds, [20, 30, 60], 150, |x, y| {
        in_triangle(x, y, tri.0, tri.1, tri.2)
    });
    out
}

/// Blends `layer` over `base` with a uniform `alpha` wherever the two differ, so text can
/// be drawn opaque on a copy and then laid on semi-transparently.
fn mix_layer(base: &mut RgbImage, layer: &RgbImage, alpha: u32) {
    for (b, l) in base.pixels_mut().zip(layer.pixels()) {
        if b != l {
            for (dst, src) in b.0.iter_mut().zip(l.0) {
                *dst =
                    ((u32::from(src) * alpha + u32::from(*dst) * (255 - alpha) + 127) / 255) as u8;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Phone screenshot of a social-media post
// ---------------------------------------------------------------------------------------

const PHONE_W: u32 = 1080;
const PHONE_H: u32 = 2340;
const INK: Color = [15, 20, 25];
const GREY: Color = [83, 100, 113];
const RULE: Color = [230, 234, 236];
const PAPER: Color = [255, 255, 255];

/// A 1080x2340 light-theme screenshot: status bar, app header, author line with avatar,
/// post text, the picture about 1000 px wide with rounded corners, date/views, action
/// bar with counts, the replies that fit, and the app's bottom navigation bar.
fn phone_screenshot(photo: &RgbImage, post: &Post) -> RgbImage {
    let mut c = RgbImage::from_pixel(PHONE_W, PHONE_H, Rgb(PAPER));
    status_bar(&mut c);
    app_header(&mut c);

    // Author.
    let left = 40;
    let av_r = 58.0;
    let (av_x, av_y) = (left as f32 + av_r, 262.0 + av_r);
    fill_circle(&mut c, av_x, av_y, av_r, post.avatar, 255);
    let initial: String = post.author.chars().take(1).collect();
    let big = Font::bold(7);
    draw_text(
        &mut c,
        (av_x - big.width(&initial) as f32 / 2.0).round() as i32,
        (av_y - big.cap_height() as f32 / 2.0).round() as i32,
        &initial,
        big,
        PAPER,
    );
    let name_x = left + 2 * av_r as i32 + 24;
    let name_end = draw_text(&mut c, name_x, 270, post.author, Font::bold(5), INK);
    verified_badge(&mut c, name_end as f32 + 30.0, 287.0);
    draw_text(&mut c, name_x, 330, post.handle, Font::regular(4), GREY);
    more_dots(&mut c, 1010.0, 290.0);

    // Text.
    let body = Font::regular(5);
    let line_h = 58;
    let mut y = 420;
    for line in wrap(post.text, ((1000 + body.scale) / body.advance()) as usize) {
        draw_text(&mut c, left, y, &line, body, INK);
        y += line_h;
    }

    // Picture: 1000 px wide unless that would push the rest off the screen.
    let footer = 560; // meta line, action bar, a reply and navigation below the picture
    let max_h = (PHONE_H as i32 - footer - (y + 20)).max(200) as f32;
    let (pw, ph) = (photo.width() as f32, photo.height() as f32);
    let mut tw = 1000.0;
    let mut th = tw * ph / pw;
    if th > max_h {
        th = max_h;
        tw = th * pw / ph;
    }
    let scaled = imageops::resize(
        photo,
        tw.round() as u32,
        th.round() as u32,
        FilterType::CatmullRom,
    );
    let py = y + 20;
    fill_round_rect(
        &mut c,
        (left as f32 - 1.5, py as f32 - 1.5, tw + 3.0, th + 3.0),
        30.0,
        RULE,
        255,
    );
    blit_rounded(&mut c, &scaled, left, py, 28.0);
    let mut y = py + scaled.height() as i32 + 36;

    // Date and views, action bar.
    draw_text(&mut c, left, y, post.when, Font::regular(4), GREY);
    y += 64;
    fill_rect(&mut c, left, y, 1000, 2, RULE, 255);
    y += 2;
    let icons_y = y as f32 + 52.0;
    let counts = Font::regular(4);
    let count_y = (icons_y - counts.cap_height() as f32 / 2.0).round() as i32;
    let slots = [80.0, 330.0, 580.0, 830.0];
    reply_icon(&mut c, slots[0], icons_y);
    draw_text(
        &mut c,
        slots[0] as i32 + 36,
        count_y,
        post.replies,
        counts,
        GREY,
    );
    repost_icon(&mut c, slots[1], icons_y);
    draw_text(
        &mut c,
        slots[1] as i32 + 36,
        count_y,
        post.reposts,
        counts,
        GREY,
    );
    heart(&mut c, slots[2], icons_y, 20.0, [249, 24, 128], None);
    draw_text(
        &mut c,
        slots[2] as i32 + 36,
        count_y,
        post.likes,
        counts,
        [249, 24, 128],
    );
    share_icon(&mut c, slots[3], icons_y);
    y += 104;
    fill_rect(&mut c, left, y, 1000, 2, RULE, 255);
    y += 30;

    // Replies, as many as fit above the navigation bar.
    let nav_top = PHONE_H as i32 - 170;
    let font = Font::regular(4);
    for reply in post.thread {
        let r = 40.0;
        let x = left + 2 * r as i32 + 20;
        let lines = wrap(reply.text, ((1040 - x) / font.advance()) as usize);
        let bottom = y + 52 + 46 * lines.len() as i32;
        if bottom + 40 > nav_top {
            break;
        }
        fill_circle(&mut c, left as f32 + r, y as f32 + r, r, reply.avatar, 255);
        let initial: String = reply
            .author
            .chars()
            .take(1)
            .flat_map(char::to_uppercase)
            .collect();
        let mid = Font::bold(4);
        draw_text(
            &mut c,
            (left as f32 + r - mid.width(&initial) as f32 / 2.0).round() as i32,
            (y as f32 + r - mid.cap_height() as f32 / 2.0).round() as i32,
            &initial,
            mid,
            PAPER,
        );
        let after = draw_text(&mut c, x, y + 6, reply.author, Font::bold(4), INK);
        let meta = format!("{} \u{b7} {}", reply.handle, reply.age);
        draw_text(&mut c, after + 16, y + 6, &meta, font, GREY);
        let mut ly = y + 52;
        for line in &lines {
            draw_text(&mut c, x, ly, line, font, INK);
            ly += 46;
        }
        y = bottom + 24;
        fill_rect(&mut c, left, y, 1000, 2, RULE, 255);
        y += 30;
    }
    nav_bar(&mut c, nav_top);
    c
}

fn status_bar(c: &mut RgbImage) {
    draw_text(c, 64, 36, "9:41", Font::bold(4), INK);
    // Signal strength: four bars.
    for i in 0..4 {
        let bh = 10 + 6 * i;
        fill_rect(c, 806 + 14 * i, 64 - bh, 10, bh, INK, 255);
    }
    // Wi-Fi: three arcs and a dot, opening upwards.
    let (wx, wy) = (894.0, 64.0);
    for r in [30.0, 20.0] {
        fill_shape(
            c,
            (wx - r - 1.0, wy - r - 1.0, wx + r + 1.0, wy + 1.0),
            INK,
            255,
            |x, y| {
                let (dx, dy) = (x - wx, y - wy);
                dy < 0.0
                    && dx.abs() <= -dy
                    && in_circle(x, y, wx, wy, r)
                    && !in_circle(x, y, wx, wy, r - 5.0)
            },
        );
    }
    fill_shape(
        c,
        (wx - 12.0, wy - 12.0, wx + 12.0, wy + 1.0),
        INK,
        255,
        |x, y| {
            let (dx, dy) = (x - wx, y - wy);
            dy < 0.0 && dx.abs() <= -dy && in_circle(x, y, wx, wy, 10.0)
        },
    );
    // Battery: outline, 80 % charge, terminal nub.
    let (bx, by) = (944.0, 38.0);
    fill_shape(
        c,
        (bx - 1.0, by - 1.0, bx + 58.0, by + 29.0),
        GREY,
        255,
        |x, y| {
            in_round_rect(x, y, (bx, by, 56.0, 28.0), 7.0)
                && !in_round_rect(x, y, (bx + 3.0, by + 3.0, 50.0, 22.0), 5.0)
        },
    );
    fill_round_rect(c, (bx + 6.0, by + 6.0, 36.0, 16.0), 3.0, INK, 255);
    fill_round_rect(c, (bx + 58.0, by + 9.0, 5.0, 10.0), 2.0, GREY, 255);
}

fn app_header(c: &mut RgbImage) {
    let y = 168.0;
    stroke(c, &[(92.0, y), (52.0, y)], 3.5, INK);
    stroke(
        c,
        &[(72.0, y - 20.0), (52.0, y), (72.0, y + 20.0)],
        3.5,
        INK,
    );
    let title = Font::bold(6);
    draw_text(
        c,
        140,
        (y as i32) - title.cap_height() / 2,
        "Post",
        title,
        INK,
    );
    fill_rect(c, 0, 228, PHONE_W as i32, 2, RULE, 255);
}

fn verified_badge(c: &mut RgbImage, x: f32, y: f32) {
    fill_circle(c, x, y, 17.0, [29, 155, 240], 255);
    stroke(
        c,
        &[(x - 8.0, y), (x - 2.0, y + 6.0), (x + 8.0, y - 6.0)],
        2.8,
        PAPER,
    );
}

fn more_dots(c: &mut RgbImage, x: f32, y: f32) {
    for dx in [-18.0, 0.0, 18.0] {
        fill_circle(c, x + dx, y, 4.5, GREY, 255);
    }
}

fn reply_icon(c: &mut RgbImage, x: f32, y: f32) {
    fill_shape(
        c,
        (x - 26.0, y - 24.0, x + 26.0, y + 30.0),
        GREY,
        255,
        |px, py| {
            let outer = in_round_rect(px, py, (x - 22.0, y - 18.0, 44.0, 32.0), 14.0);
            let inner = in_round_rect(px, py, (x - 18.5, y - 14.5, 37.0, 25.0), 10.5);
            let tail = in_triangle(
                px,
                py,
                (x - 10.0, y + 12.0),
                (x - 2.0, y + 12.0),
                (x - 12.0, y + 24.0),
            );
            (outer && !inner) || tail
        },
    );
}

fn repost_icon(c: &mut RgbImage, x: f32, y: f32) {
    let h = 2.2;
    stroke(
        c,
        &[
            (x - 18.0, y + 2.0),
            (x - 18.0, y - 10.0),
            (x + 14.0, y - 10.0),
        ],
        h,
        GREY,
    );
    stroke(
        c,
        &[
            (x + 7.0, y - 17.0),
            (x + 14.0, y - 10.0),
            (x + 7.0, y - 3.0),
        ],
        h,
        GREY,
    );
    stroke(
        c,
        &[
            (x + 18.0, y - 2.0),
            (x + 18.0, y + 10.0),
            (x - 14.0, y + 10.0),
        ],
        h,
        GREY,
    );
    stroke(
        c,
        &[
            (x - 7.0, y + 3.0),
            (x - 14.0, y + 10.0),
            (x - 7.0, y + 17.0),
        ],
        h,
        GREY,
    );
}

fn share_icon(c: &mut RgbImage, x: f32, y: f32) {
    let h = 2.2;
    stroke(c, &[(x, y + 6.0), (x, y - 18.0)], h, GREY);
    stroke(
        c,
        &[(x - 9.0, y - 9.0), (x, y - 18.0), (x + 9.0, y - 9.0)],
        h,
        GREY,
    );
    stroke(
        c,
        &[
            (x - 16.0, y - 2.0),
            (x - 16.0, y + 14.0),
            (x + 16.0, y + 14.0),
            (x + 16.0, y - 2.0),
        ],
        h,
        GREY,
    );
}

/// A heart of half-width `r` centred on (x, y); filled, or an outline of `stroke` px.
fn heart(c: &mut RgbImage, x: f32, y: f32, r: f32, color: Color, outline: Option<f32>) {
    let inside = move |px: f32, py: f32, k: f32| {
        let lobe = 0.52 * k;
        in_circle(px, py, x - 0.48 * k, y - 0.28 * k, lobe)
            || in_circle(px, py, x + 0.48 * k, y - 0.28 * k, lobe)
            || in_triangle(
                px,
                py,
                (x - 0.98 * k, y - 0.12 * k),
                (x + 0.98 * k, y - 0.12 * k),
                (x, y + 0.9 * k),
            )
    };
    let bounds = (x - r - 2.0, y - r - 2.0, x + r + 2.0, y + r + 2.0);
    fill_shape(c, bounds, color, 255, |px, py| match outline {
        Some(w) => inside(px, py, r) && !inside(px, py, r - w),
        None => inside(px, py, r),
    });
}

fn nav_bar(c: &mut RgbImage, top: i32) {
    fill_rect(c, 0, top, PHONE_W as i32, 2, RULE, 255);
    let y = top as f32 + 62.0;
    let xs = [108.0, 324.0, 540.0, 756.0, 972.0];
    // Home (selected, filled).
    let hx = xs[0];
    fill_shape(
        c,
        (hx - 26.0, y - 26.0, hx + 26.0, y + 24.0),
        INK,
        255,
        |px, py| {
            in_triangle(
                px,
                py,
                (hx - 24.0, y - 4.0),
                (hx + 24.0, y - 4.0),
                (hx, y - 26.0),
            ) || (px > hx - 17.0 && px < hx + 17.0 && py > y - 6.0 && py < y + 22.0)
        },
    );
    // Search.
    ring(c, xs[1] - 5.0, y - 5.0, 17.0, 4.0, INK, 255);
    stroke(
        c,
        &[(xs[1] + 8.0, y + 8.0), (xs[1] + 20.0, y + 20.0)],
        2.6,
        INK,
    );
    // Create: plus in a rounded square.
    let sx = xs[2];
    fill_shape(
        c,
        (sx - 24.0, y - 24.0, sx + 24.0, y + 24.0),
        INK,
        255,
        |px, py| {
            in_round_rect(px, py, (sx - 22.0, y - 22.0, 44.0, 44.0), 10.0)
                && !in_round_rect(px, py, (sx - 18.0, y - 18.0, 36.0, 36.0), 7.0)
        },
    );
    stroke(c, &[(sx, y - 10.0), (sx, y + 10.0)], 2.2, INK);
    stroke(c, &[(sx - 10.0, y), (sx + 10.0, y)], 2.2, INK);
    // Activity.
    heart(c, xs[3], y, 22.0, INK, Some(4.0));
    // Messages: an envelope.
    let mx = xs[4];
    fill_shape(
        c,
        (mx - 26.0, y - 20.0, mx + 26.0, y + 20.0),
        INK,
        255,
        |px, py| {
            in_round_rect(px, py, (mx - 24.0, y - 17.0, 48.0, 34.0), 5.0)
                && !in_round_rect(px, py, (mx - 20.0, y - 13.0, 40.0, 26.0), 3.0)
        },
    );
    stroke(
        c,
        &[(mx - 20.0, y - 12.0), (mx, y + 3.0), (mx + 20.0, y - 12.0)],
        2.0,
        INK,
    );
    // Gesture bar.
    let pill = (
        PHONE_W as f32 / 2.0 - 140.0,
        PHONE_H as f32 - 34.0,
        280.0,
        11.0,
    );
    fill_round_rect(c, pill, 5.5, INK, 255);
}
