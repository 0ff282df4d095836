//! A baseline JPEG at 1/8 scale from its DC coefficients alone.
//!
//! At 1/8 scale every 8×8 block becomes one pixel, its DC coefficient: the
//! block's exact mean. The AC coefficients still have to be entropy-decoded,
//! since Huffman codes give no way to find the next block without reading every
//! code before it, but nothing else is done with them. That decoding was ~70%
//! of the whole floor's time with libjpeg-turbo (`decode_mcu`), which decodes
//! each AC code and its extra bits in two steps. Here one table lookup on the
//! next 13 bits gives up to four whole codes with their extra bits, so
//! skipping them is one peek, one lookup and one shift.
//!
//! The luma of the result is libjpeg-turbo's 1/8 output bit for bit
//! (`(DC·q + 4) >> 3` plus 128, clamped); chroma is upsampled from the chroma
//! blocks' own means (libjpeg-turbo computes 2×2 chroma pixels from three AC
//! coefficients instead), so colour pictures differ from it in the last bits of
//! some pixels.
//!
//! Only plain files are taken: one baseline or extended-sequential Huffman scan
//! holding every component of an 8-bit grey or YCbCr frame with 1×/2× sampling.
//! Anything else, and anything damaged (a bad code, data cut short, a restart
//! marker out of place, stray bytes before the end), returns `None` so that
//! the caller's decoders, which handle those cases, take the file.

use image::{DynamicImage, GrayImage, RgbImage};

use crate::input::layout::{marker, JpegLayout};
use crate::limits::Limits;

/// The picture at 1/8 scale (`ceil(w/8)` × `ceil(h/8)`), grey or RGB, or
/// `None` when the file is not for this decoder (see the module notes).
/// `dims` is the frame size the caller already checked against `limits`.
pub fn decode(bytes: &[u8], dims: (u32, u32), limits: &Limits) -> Option<DynamicImage> {
    decode_with(bytes, &JpegLayout::headers(bytes), dims, limits)
}

/// [`decode`] from the file's segments already read (at least to the first
/// scan).
pub fn decode_with(
    bytes: &[u8],
    layout: &JpegLayout,
    dims: (u32, u32),
    limits: &Limits,
) -> Option<DynamicImage> {
    let frame = parse(bytes, layout)?;
    if (u32::from(frame.width), u32::from(frame.height)) != dims {
        return None;
    }
    let planes = scan(bytes, &frame, limits)?;
    Some(to_image(&frame, &planes))
}

/// The luma plane alone at 1/8 scale: what libjpeg-turbo gives for a grey
/// output at 1/8, to the bit (the tests hold it to that).
pub fn luma(bytes: &[u8], limits: &Limits) -> Option<GrayImage> {
    let frame = parse(bytes, &JpegLayout::headers(bytes))?;
    let planes = scan(bytes, &frame, limits)?;
    Some(luma_plane(&frame, &planes))
}

/// One frame component, as SOF and the scan header give it.
#[derive(Clone, Copy)]
struct Component {
    h: usize,
    v: usize,
    /// The first entry of its quantisation table: the DC step.
    dc_step: i32,
    dc_table: usize,
    ac_table: usize,
}

struct Frame {
    width: u16,
    height: u16,
    components: Vec<Component>,
    h_max: usize,
    v_max: usize,
    restart_interval: usize,
    dc_tables: [Option<Huffman>; 4],
    ac_tables: [Option<Huffman>; 4],
    /// Offset of the entropy-coded data (after the scan header).
    data: usize,
}

/// Bits of the one-code table `multi` is built from: as long as any code
/// with its extra bits that fits `multi` can be.
const SKIP_BITS: u32 = MULTI_BITS;
/// Bits of the plain code lookup (for DC and for longer AC codes).
const FAST_BITS: u32 = 9;

struct Huffman {
    /// Next `FAST_BITS` bits → `len << 8 | symbol`, 0 for longer codes.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// Canonical decoding of any code: largest code of each length (−1 if
    /// none) and the index of its first symbol.
    max_code: [i32; 18],
    val_offset: [i32; 17],
    symbols: Vec<u8>,
    /// Next `MULTI_BITS` bits → as many whole AC codes as fit in them
    /// (up to [`MULTI_MAX`], stopping after an end of block): bits 0–3 the
    /// bits they take, 4–9 how far they move the position, 15 end of block.
    multi: Box<[u16; 1 << MULTI_BITS]>,
}

/// Bits looked at to skip several coefficients at once. On a 12 MP phone
/// photo (`cargo bench --features turbojpeg --bench hashing -- "12 MP JPEG at
/// 1/8: DC"`, with this constant edited), 12, 13 and 14 bits took 13.96,
/// 12.70 and 12.12 ms. 13 keeps the table at 16 KB, so a picture's two AC
/// tables still fit a 48 KB L1 data cache and leave room in a 32 KB one.
const MULTI_BITS: u32 = 13;
const MULTI_MAX: usize = 4;

const SKIP_EOB: u16 = 1 << 15;

impl Huffman {
    /// A DHT table; `None` for an impossible one (more codes than a length
    /// can hold, or no symbols).
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Huffman> {
        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        // Next `SKIP_BITS` bits → one whole AC code: bits 0–4 the bits it
        // takes with its extra bits, 5–9 how far it moves the position in the
        // block, 15 end of block; 0 when it does not fit.
        let mut skip = vec![0u16; 1 << SKIP_BITS];
        let mut max_code = [-1i32; 18];
        let mut val_offset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            val_offset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                let sym = *symbols.get(k)?;
                if code >= 1 << len {
                    return None;
                }
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let base = (code << shift) as usize;
                    for e in &mut fast[base..base + (1 << shift)] {
                        *e = (len as u16) << 8 | u16::from(sym);
                    }
                }
                let extra = u32::from(sym & 15);
                if len + extra <= SKIP_BITS {
                    // As libjpeg-turbo reads it: size 0 ends the block unless
                    // the run is 15 (sixteen zeros); otherwise run + 1.
                    let (run, eob) = match (sym >> 4, extra) {
                        (15, 0) => (16, false),
                        (_, 0) => (0, true),
                        (r, _) => (u16::from(r) + 1, false),
                    };
                    let entry = (len + extra) as u16 | run << 5 | if eob { SKIP_EOB } else { 0 };
                    let shift = SKIP_BITS - len;
                    let base = (code << shift) as usize;
                    for e in &mut skip[base..base + (1 << shift)] {
                        *e = entry;
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        max_code[17] = i32::MAX;
        if k == 0 {
            return None;
        }
        let mut multi = Box::new([0u16; 1 << MULTI_BITS]);
        for (idx, m) in multi.iter_mut().enumerate() {
            let (mut used, mut adv) = (0u32, 0u16);
            for _ in 0..MULTI_MAX {
                // The single table read at `used` bits in (zeros past the
                // known bits: an entry longer than what is left is not taken).
                let e = skip[(idx << used) & ((1 << MULTI_BITS) - 1)];
                let len = u32::from(e & 31);
                if e == 0 || used + len > MULTI_BITS {
                    break;
                }
                used += len;
                if e & SKIP_EOB != 0 {
                    *m = SKIP_EOB;
                    break;
                }
                // Six bits hold the advance: four runs of sixteen would not fit.
                if adv + (e >> 5 & 31) > 63 {
                    used -= len;
                    break;
                }
                adv += e >> 5 & 31;
            }
            if used > 0 {
                *m |= used as u16 | adv << 4;
            }
        }
        Some(Huffman {
            fast,
            max_code,
            val_offset,
            symbols: symbols[..k].to_vec(),
            multi,
        })
    }
}

fn be16(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(*b.get(i)?) << 8 | usize::from(*b.get(i + 1)?))
}

/// A component as SOF declares it: id, sampling factors, quantisation table.
type SofComponent = (u8, usize, usize, usize);

/// The frame from the header segments up to the first scan.
fn parse(b: &[u8], layout: &JpegLayout) -> Option<Frame> {
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut quant = [None::<i32>; 4];
    let mut dc_tables: [Option<Huffman>; 4] = Default::default();
    let mut ac_tables: [Option<Huffman>; 4] = Default::default();
    let mut sof: Option<(u16, u16, Vec<SofComponent>)> = None;
    let mut restart_interval = 0;
    let mut adobe_transform = None;
    let mut jfif = false;
    for step in layout.before_scan() {
        // A restart marker, TEM, a second SOI or EOI before the scan: not a
        // plain file.
        if step.length == 0 {
            return None;
        }
        let (code, seg) = (step.marker, step.data(b));
        match code {
            // Baseline and extended sequential, Huffman.
            marker::SOF0 | marker::SOF1 => {
                if sof.is_some() || *seg.first()? != 8 {
                    return None;
                }
                let height = be16(seg, 1)? as u16;
                let width = be16(seg, 3)? as u16;
                let n = usize::from(*seg.get(5)?);
                if !(n == 1 || n == 3) || seg.len() < 6 + 3 * n {
                    return None;
                }
                let comps = (0..n)
                    .map(|c| {
                        let s = &seg[6 + 3 * c..9 + 3 * c];
                        (
                            s[0],
                            usize::from(s[1] >> 4),
                            usize::from(s[1] & 15),
                            usize::from(s[2]),
                        )
                    })
                    .collect();
                sof = Some((width, height, comps));
            }
            // Progressive, lossless, hierarchical, arithmetic: not ours; nor a
            // second SOI.
            m if marker::is_sof(m) => return None,
            marker::DHT => {
                let mut s = seg;
                while !s.is_empty() {
                    let class_id = s[0];
                    let counts: &[u8; 16] = s.get(1..17)?.try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = s.get(17..17 + total)?;
                    let table = Huffman::new(counts, symbols)?;
                    let id = usize::from(class_id & 15);
                    match class_id >> 4 {
                        0 if id < 4 => dc_tables[id] = Some(table),
                        1 if id < 4 => ac_tables[id] = Some(table),
                        _ => return None,
                    }
                    s = &s[17 + total..];
                }
            }
            marker::DQT => {
                let mut s = seg;
                while !s.is_empty() {
                    let (precision, id) = (s[0] >> 4, usize::from(s[0] & 15));
                    let size = if precision == 0 { 64 } else { 128 };
                    let table = s.get(1..1 + size)?;
                    let first = if precision == 0 {
                        i32::from(table[0])
                    } else {
                        i32::from(table[0]) << 8 | i32::from(table[1])
                    };
                    *quant.get_mut(id)? = Some(first);
                    s = &s[1 + size..];
                }
            }
            marker::DRI => restart_interval = be16(seg, 0)?,
            marker::APP0 if seg.starts_with(b"JFIF\0") => jfif = true,
            marker::APP14 if seg.starts_with(b"Adobe") => adobe_transform = Some(*seg.get(11)?),
            marker::SOS => {
                let (width, height, comps) = sof?;
                let ns = usize::from(*seg.first()?);
                // One scan with every component, in frame order, whole
                // spectrum (Ss 0, Se 63, no successive approximation).
                if ns != comps.len() || seg.len() != 4 + 2 * ns {
                    return None;
                }
                if seg[1 + 2 * ns..] != [0, 63, 0] {
                    return None;
                }
                // RGB stored as such (Adobe transform 0, or no JFIF and the
                // components named R, G, B) is not YCbCr.
                if comps.len() == 3 {
                    let ids: Vec<u8> = comps.iter().map(|c| c.0).collect();
                    let rgb_named = ids == [b'R', b'G', b'B'];
                    match adobe_transform {
                        Some(1) => {}
                        Some(_) => return None,
                        None if rgb_named && !jfif => return None,
                        None => {}
                    }
                }
                let mut components = Vec::with_capacity(ns);
                for (c, &(id, h, v, tq)) in comps.iter().enumerate() {
                    let (sid, tables) = (seg[1 + 2 * c], seg[2 + 2 * c]);
                    let sampled =
                        comps.len() == 1 || ((1..=2).contains(&h) && (1..=2).contains(&v));
                    if sid != id || !sampled {
                        return None;
                    }
                    let (dc_table, ac_table) = (usize::from(tables >> 4), usize::from(tables & 15));
                    if dc_table > 3 || ac_table > 3 {
                        return None;
                    }
                    components.push(Component {
                        h,
                        v,
                        dc_step: (*quant.get(tq)?)?,
                        dc_table,
                        ac_table,
                    });
                }
                let h_max = components.iter().map(|c| c.h).max()?;
                let v_max = components.iter().map(|c| c.v).max()?;
                // Luma must be the finest grid (chroma is upsampled to it).
                if components[0].h != h_max || components[0].v != v_max {
                    return None;
                }
                if width == 0 || height == 0 {
                    return None;
                }
                return Some(Frame {
                    width,
                    height,
                    components,
                    h_max,
                    v_max,
                    restart_interval,
                    dc_tables,
                    ac_tables,
                    data: step.payload.end,
                });
            }
            _ => {}
        }
    }
    None
}

/// A bit reader over entropy-coded data: bytes are stuffed (0xFF 0x00 is a
/// data byte 0xFF) and a marker ends the data. Bits sit at the top of `buf`.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
    /// Zero bits appended after a marker was reached: reading into them means
    /// the data was cut short.
    padding: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            buf: 0,
            count: 0,
            padding: 0,
        }
    }

    /// At least 32 bits in `buf` (zeros past a marker).
    #[inline(always)]
    fn refill(&mut self) {
        if self.count >= 32 {
            return;
        }
        // Eight bytes at once when none of them is 0xFF.
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(w.try_into().unwrap_or([0xFF; 8]));
            let inv = !word;
            let has_ff = inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
            if has_ff == 0 {
                let take = (63 - self.count) >> 3;
                let bits = take * 8;
                let top = word & (!0u64 << (64 - bits));
                self.buf |= top >> self.count;
                self.count += bits;
                self.pos += take as usize;
                return;
            }
        }
        self.refill_slow();
    }

    // Inlined like everything the scan loop calls on `Bits`: a call taking
    // `&mut self` would keep the bit buffer in memory, not in registers.
    #[inline(always)]
    fn refill_slow(&mut self) {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&0xFF) => match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.pos += 2;
                        0xFF
                    }
                    _ => {
                        self.padding += 8;
                        0
                    }
                },
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                None => {
                    self.padding += 8;
                    0
                }
            };
            self.buf |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    #[inline(always)]
    fn peek(&self, n: u32) -> usize {
        (self.buf >> (64 - n)) as usize
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Bits read past the end of the data into the zero padding.
    fn overran(&self) -> bool {
        self.count < self.padding
    }

    /// One Huffman symbol; `None` for a code no table entry has.
    #[inline(always)]
    fn symbol(&mut self, t: &Huffman) -> Option<u8> {
        self.refill();
        let e = t.fast[self.peek(FAST_BITS)];
        if e != 0 {
            self.consume(u32::from(e >> 8));
            return Some(e as u8);
        }
        let mut len = FAST_BITS + 1;
        while len <= 16 {
            let code = self.peek(len) as i32;
            if code <= t.max_code[len as usize] {
                self.consume(len);
                let k = code + t.val_offset[len as usize];
                return t.symbols.get(usize::try_from(k).ok()?).copied();
            }
            len += 1;
        }
        None
    }

    /// `n` (≤ 16) extra bits as a signed value (the JPEG "extend").
    #[inline(always)]
    fn signed(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        self.refill();
        let v = self.peek(n) as i32;
        self.consume(n);
        if v < 1 << (n - 1) {
            v - (1 << n) + 1
        } else {
            v
        }
    }

    /// Skip the 63 AC coefficients of a block. `None` on a bad code.
    #[inline(always)]
    fn skip_ac(&mut self, t: &Huffman) -> Option<()> {
        let mut k = 1u32;
        while k < 64 {
            self.refill();
            // Several coefficients at once, when all of them are in this
            // block (else one at a time below, so that a block ending at the
            // 63rd coefficient without an end-of-block code ends where
            // libjpeg-turbo ends it), and when they fit in the table's bits.
            let m = t.multi[self.peek(MULTI_BITS)];
            if m != 0 && k + u32::from(m >> 4 & 63) < 64 {
                self.consume(u32::from(m & 15));
                if m & SKIP_EOB != 0 {
                    return Some(());
                }
                k += u32::from(m >> 4 & 63);
                continue;
            }
            let rs = self.symbol(t)?;
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run != 15 {
                    return Some(());
                }
                k += 16;
            } else {
                self.refill();
                self.consume(size);
                k += run + 1;
            }
        }
        Some(())
    }

    /// After a restart interval or the last one: skip the byte's fill bits,
    /// require that marker `code` (RSTn or EOI) follows and nothing before
    /// it, and start afresh after it.
    #[inline(always)]
    fn expect_marker(&mut self, code: u8) -> bool {
        let partial = (self.count - self.padding.min(self.count)) % 8;
        self.consume(partial);
        if self.overran() || self.count != self.padding {
            return false;
        }
        if self.data.get(self.pos..self.pos + 2) != Some(&[0xFF, code][..]) {
            return false;
        }
        *self = Bits::new(self.data, self.pos + 2);
        true
    }
}

/// Decode the scan: each component's block means, as `(blocks across, plane)`.
fn scan(bytes: &[u8], f: &Frame, limits: &Limits) -> Option<Vec<(usize, Vec<u8>)>> {
    let (w, h) = (usize::from(f.width), usize::from(f.height));
    // The pipeline checks the size before it gets here; `luma` is public.
    limits
        .check_dimensions(f.width.into(), f.height.into())
        .ok()?;
    let single = f.components.len() == 1;
    // Interleaved scans run over MCUs of h_max × v_max blocks of luma; one
    // component alone runs over its own blocks.
    let (mcus_x, mcus_y) = if single {
        (w.div_ceil(8), h.div_ceil(8))
    } else {
        (w.div_ceil(8 * f.h_max), h.div_ceil(8 * f.v_max))
    };
    let mut planes = Vec::with_capacity(f.components.len());
    let mut total = 0u64;
    for c in &f.components {
        let (bw, bh) = if single {
            (mcus_x, mcus_y)
        } else {
            (mcus_x * c.h, mcus_y * c.v)
        };
        let len = bw.checked_mul(bh)?;
        total += len as u64;
        if total > limits.max_decoder_alloc {
            return None;
        }
        planes.push((bw, vec![0u8; len]));
    }
    let tables: Vec<(&Huffman, &Huffman)> = f
        .components
        .iter()
        .map(|c| {
            Some((
                f.dc_tables[c.dc_table].as_ref()?,
                f.ac_tables[c.ac_table].as_ref()?,
            ))
        })
        .collect::<Option<_>>()?;
    let mut bits = Bits::new(bytes, f.data);
    let mut pred = [0i32; 3];
    let mut until_restart = f.restart_interval;
    let mut next_rst = 0u8;
    let mcus = mcus_x * mcus_y;
    for m in 0..mcus {
        if f.restart_interval > 0 {
            if until_restart == 0 {
                if !bits.expect_marker(0xD0 + next_rst) {
                    return None;
                }
                next_rst = (next_rst + 1) & 7;
                pred = [0; 3];
                until_restart = f.restart_interval;
            }
            until_restart -= 1;
        }
        let (mx, my) = (m % mcus_x, m / mcus_x);
        for (ci, c) in f.components.iter().enumerate() {
            let (dc, ac) = tables[ci];
            let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
            for by in 0..bv {
                for bx in 0..bh {
                    let size = bits.symbol(dc)?;
                    if size > 11 {
                        return None;
                    }
                    let diff = bits.signed(u32::from(size));
                    pred[ci] += diff;
                    // Beyond any 8-bit DC: only a damaged or forged file.
                    if pred[ci].abs() > 1 << 14 {
                        return None;
                    }
                    bits.skip_ac(ac)?;
                    let v = ((pred[ci] * c.dc_step + 4) >> 3) + 128;
                    let (plane_w, plane) = &mut planes[ci];
                    let idx = (my * bv + by) * *plane_w + mx * bh + bx;
                    plane[idx] = v.clamp(0, 255) as u8;
                }
            }
        }
        if bits.overran() {
            return None;
        }
    }
    if !bits.expect_marker(0xD9) {
        return None;
    }
    Some(planes)
}

/// The 1/8 picture's size: `ceil(w/8)` × `ceil(h/8)`.
fn eighth(f: &Frame) -> (usize, usize) {
    (
        usize::from(f.width).div_ceil(8),
        usize::from(f.height).div_ceil(8),
    )
}

/// The luma plane cropped to the picture (its blocks run to whole MCUs).
fn luma_plane(f: &Frame, planes: &[(usize, Vec<u8>)]) -> GrayImage {
    let (w, h) = eighth(f);
    let (pw, plane) = &planes[0];
    let mut grey = Vec::with_capacity(w * h);
    for row in plane.chunks_exact(*pw).take(h) {
        grey.extend_from_slice(&row[..w]);
    }
    GrayImage::from_raw(w as u32, h as u32, grey).unwrap_or_default()
}

/// Crop the planes to the picture, upsample chroma to luma's grid (a
/// triangle, as libjpeg's "fancy" upsampling) and convert to RGB.
fn to_image(f: &Frame, planes: &[(usize, Vec<u8>)]) -> DynamicImage {
    let (w, h) = eighth(f);
    if f.components.len() == 1 {
        return DynamicImage::ImageLuma8(luma_plane(f, planes));
    }
    let (yw, y) = &planes[0];
    // Chroma at luma's grid, ×16 in fixed point.
    let up = |ci: usize| -> Vec<u16> {
        let c = &f.components[ci];
        let (pw, p) = &planes[ci];
        let (fx, fy) = (f.h_max / c.h, f.v_max / c.v);
        let (cw, ch) = (w.div_ceil(fx), h.div_ceil(fy));
        let at = |x: usize, y: usize| u16::from(p[y.min(ch - 1) * pw + x.min(cw - 1)]);
        let mut out = vec![0u16; w * h];
        for oy in 0..h {
            // Vertical weights ×4: the nearest chroma row 3, the other 1.
            let (y0, y1) = if fy == 1 {
                (oy, oy)
            } else {
                let cy = oy / 2;
                let other = if oy % 2 == 0 {
                    cy.saturating_sub(1)
                } else {
                    (cy + 1).min(ch - 1)
                };
                (cy, other)
            };
            for ox in 0..w {
                let col = |x: usize| 3 * at(x, y0) + at(x, y1);
                let v = if fx == 1 {
                    4 * col(ox)
                } else {
                    let cx = ox / 2;
                    let other = if ox % 2 == 0 {
                        cx.saturating_sub(1)
                    } else {
                        (cx + 1).min(cw - 1)
                    };
                    3 * col(cx) + col(other)
                };
                out[oy * w + ox] = v;
            }
        }
        out
    };
    let (cb, cr) = (up(1), up(2));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for oy in 0..h {
        let row = &y[oy * yw..oy * yw + w];
        for (ox, &yv) in row.iter().enumerate() {
            let i = oy * w + ox;
            // libjpeg's YCbCr → RGB in 16-bit fixed point, with the chroma
            // still ×16 (so the constants are 65536·k/16).
            let yv = i32::from(yv);
            let cb = i32::from(cb[i]) - 128 * 16;
            let cr = i32::from(cr[i]) - 128 * 16;
            let r = yv + ((5743 * cr + 32768) >> 16);
            let g = yv + ((-1410 * cb - 2925 * cr + 32768) >> 16);
            let b = yv + ((7258 * cb + 32768) >> 16);
            for v in [r, g, b] {
                rgb.push(v.clamp(0, 255) as u8);
            }
        }
    }
    DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, rgb).unwrap_or_default())
}
