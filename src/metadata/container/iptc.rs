//! IPTC-IIM from the Photoshop image resources (APP13 resource 0x0404):
//! record 2's caption, by-line, credit, source, dates, place and keywords.

use serde::{Deserialize, Serialize};

use super::{be16, be32, set_once, text_of, MAX_ENTRIES};

/// IPTC-IIM record 2 fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Iptc {
    /// Caption/Abstract (2:120).
    pub caption: Option<String>,
    /// By-line (2:80), repeatable.
    pub byline: Vec<String>,
    /// Credit (2:110).
    pub credit: Option<String>,
    /// Source (2:115).
    pub source: Option<String>,
    /// Date created (2:55) and, when present, time created (2:60), ISO 8601:
    /// `2005-09-07` or `2005-09-07T15:01:43-07:00`.
    pub date_created: Option<String>,
    /// City (2:90).
    pub city: Option<String>,
    /// Country/Primary location name (2:101).
    pub country: Option<String>,
    /// Keywords (2:25), repeatable.
    pub keywords: Vec<String>,
}

pub(super) fn parse_irb(irb: &[u8], warnings: &mut Vec<String>) -> Option<Iptc> {
    let mut p = 0usize;
    let mut iptc = None;
    let mut count = 0usize;
    while p + 12 <= irb.len() && count < 10_000 {
        count += 1;
        if &irb[p..p + 4] != b"8BIM" {
            // Other signatures (old PhotoDeluxe "PHUT", …) carry no IPTC.
            break;
        }
        let id = be16(irb, p + 4)?;
        let name_len = usize::from(*irb.get(p + 6)?);
        // Pascal string padded to an even total length.
        let name_total = (1 + name_len + 1) & !1;
        let size_at = p + 6 + name_total;
        let Some(size) = be32(irb, size_at) else {
            warnings.push("Photoshop APP13: truncated resource header".into());
            break;
        };
        let start = size_at + 4;
        let Some(data) = start.checked_add(size).and_then(|e| irb.get(start..e)) else {
            warnings.push(format!(
                "Photoshop APP13: resource 0x{id:04X} claims {size} bytes, block has fewer"
            ));
            break;
        };
        if id == 0x0404 && iptc.is_none() {
            iptc = Some(parse_iim(data, warnings));
        }
        p = start.saturating_add(size).saturating_add(size & 1);
    }
    iptc
}

fn parse_iim(data: &[u8], warnings: &mut Vec<String>) -> Iptc {
    let mut i = Iptc::default();
    let mut date: Option<String> = None;
    let mut time: Option<String> = None;
    let mut p = 0usize;
    while p + 5 <= data.len() {
        if data[p] != 0x1C {
            // Padding after the last dataset is common; anything else is noted.
            if data[p..].iter().any(|&b| b != 0) {
                warnings.push(format!("IPTC: unexpected byte at offset {p}"));
            }
            break;
        }
        let (rec, ds) = (data[p + 1], data[p + 2]);
        let Some(len) = be16(data, p + 3) else { break };
        if len & 0x8000 != 0 {
            warnings.push("IPTC: extended-length dataset; rest not read".into());
            break;
        }
        let Some(v) = data.get(p + 5..p + 5 + len) else {
            warnings.push("IPTC: dataset runs past the end of its block".into());
            break;
        };
        p += 5 + len;
        if rec != 2 {
            continue;
        }
        let t = text_of(v);
        match ds {
            120 => set_once(&mut i.caption, &t),
            80 if i.byline.len() < MAX_ENTRIES => i.byline.push(t),
            110 => set_once(&mut i.credit, &t),
            115 => set_once(&mut i.source, &t),
            55 => set_once(&mut date, &t),
            60 => set_once(&mut time, &t),
            90 => set_once(&mut i.city, &t),
            101 => set_once(&mut i.country, &t),
            25 if i.keywords.len() < MAX_ENTRIES => i.keywords.push(t),
            _ => {}
        }
    }
    i.date_created = date.and_then(|d| iim_datetime(&d, time.as_deref()));
    i
}

/// IIM `CCYYMMDD` (+ `HHMMSS±HHMM`) as ISO 8601.
fn iim_datetime(d: &str, t: Option<&str>) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if d.len() != 8 || !digits(d) {
        return Some(d.to_string());
    }
    let mut out = format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]);
    if let Some(t) = t.filter(|t| t.len() >= 6 && t.is_char_boundary(6) && digits(&t[..6])) {
        out.push_str(&format!("T{}:{}:{}", &t[0..2], &t[2..4], &t[4..6]));
        let z = &t[6..];
        if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) && digits(&z[1..]) {
            out.push_str(&format!("{}:{}", &z[0..3], &z[3..5]));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iim_dates_become_iso() {
        assert_eq!(
            iim_datetime("20050907", Some("150143-0700")).as_deref(),
            Some("2005-09-07T15:01:43-07:00")
        );
        assert_eq!(
            iim_datetime("20050907", None).as_deref(),
            Some("2005-09-07")
        );
    }
}
