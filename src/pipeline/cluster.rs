//! Near-duplicate groups within one batch: when a scan holds several copies of
//! the same picture (the same photo from three channels, a crop, a captioned
//! copy, a screenshot of it), they are grouped and the copy most likely
//! closest to the original is named, with the reason.
//!
//! Copies are joined when their whole-frame hashes would confirm a match (see
//! `matching`), or when they match the same archived picture, which
//! joins crops, captioned copies and screenshots of an archived picture. Works
//! from what a batch keeps of each picture: its whole-frame hashes, sizes and
//! earliest copy.
//!
//! Partial copies of each other that match nothing archived are not joined:
//! tried with the visual words of 96 local features a picture (what a batch of
//! 100,000 can hold), true crops agreed on 2–12 keypoints while screenshots of
//! different pictures from one phone agreed on 10–11 (the status and
//! navigation bars), so the words alone cannot tell them apart.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::hash::{HashBits, HashKind};
use crate::index::MemoryIndex;
use crate::matching::MatchParams;
// `ClusterRef` is part of the report (and defined there, so that the report
// does not depend on grouping); re-exported here for callers that group.
pub use crate::report::ClusterRef;
use crate::report::Report;

/// One group, for the batch summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Group number.
    pub id: usize,
    /// Member paths, sorted.
    pub members: Vec<String>,
    /// The copy most likely closest to the original.
    pub representative: String,
    /// Why.
    pub reason: String,
}

/// What grouping reads of a picture: a whole [`Report`], or what a batch kept
/// of one (`crate::pipeline::batch::BatchRecord`).
pub trait Member {
    /// The path, to name the representative and the members.
    fn path(&self) -> &str;
    /// Bytes equal exactly when the contents are (the SHA-256), when read.
    fn content(&self) -> Option<&[u8]>;
    /// A whole-frame hash.
    fn hash(&self, kind: HashKind) -> Option<HashBits>;
    /// PDQ's quality, 0 when unknown.
    fn pdq_quality(&self) -> u64;
    /// Stored width and height (0 when unknown), file size, and whether
    /// any EXIF field was read.
    fn size(&self) -> (u32, u32, u64, bool);
    /// The archived picture it matches (the earliest copy's content SHA-256),
    /// when it matched one.
    fn archived(&self) -> Option<&str> {
        None
    }
}

impl Member for Report {
    fn path(&self) -> &str {
        &self.path
    }
    fn archived(&self) -> Option<&str> {
        self.earliest_copy.as_ref().map(|m| m.sha256.as_str())
    }
    fn content(&self) -> Option<&[u8]> {
        self.sha256.as_deref().map(str::as_bytes)
    }
    fn hash(&self, kind: HashKind) -> Option<HashBits> {
        HashBits::from_hex(kind, self.hashes.get(kind.name())?.as_str()?)
    }
    fn pdq_quality(&self) -> u64 {
        self.hashes
            .get("pdq_quality")
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    }
    fn size(&self) -> (u32, u32, u64, bool) {
        (
            self.width.unwrap_or(0),
            self.height.unwrap_or(0),
            self.bytes.unwrap_or(0),
            self.metadata.as_ref().is_some_and(|m| !m.exif.is_empty()),
        )
    }
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Rank of a copy: more pixels, then camera metadata, then more bytes per
/// pixel (less re-compression). Larger is closer to the original.
fn rank(r: &impl Member) -> (u64, bool, u64) {
    let (w, h, bytes, exif) = r.size();
    let px = u64::from(w) * u64::from(h);
    let bpp = (bytes * 1000).checked_div(px).unwrap_or(0);
    (px, exif, bpp)
}

/// Group the reports (sorted by path first by the caller, for stable ids) and
/// return the groups of two or more; `reports[i]`'s group is set in `out[i]`.
pub fn cluster<M: Member>(
    reports: &[M],
    params: &MatchParams,
) -> (Vec<Option<ClusterRef>>, Vec<Cluster>) {
    let n = reports.len();
    let mut parent: Vec<usize> = (0..n).collect();
    let mut index = MemoryIndex::new();
    let pdq: Vec<Option<HashBits>> = reports
        .iter()
        .map(|r| {
            r.hash(HashKind::Pdq)
                .filter(|_| r.pdq_quality() >= u64::from(params.pdq_min_quality))
        })
        .collect();
    for (i, h) in pdq.iter().enumerate() {
        if let Some(h) = h {
            index.insert(i as i64, "full", *h);
        }
    }
    // The first picture with each content: joining every later copy to it
    // makes the same groups as joining every pair, without n² comparisons.
    let mut first_with: HashMap<&[u8], usize> = HashMap::new();
    for i in 0..n {
        // Identical content is one picture whatever its hashes say.
        if let Some(content) = reports[i].content() {
            let j = *first_with.entry(content).or_insert(i);
            if j != i {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
        let Some(h) = pdq[i] else { continue };
        for hit in index.within(&h, params.pdq_confirm) {
            let j = hit.image_id as usize;
            if j == i {
                continue;
            }
            // Same rule as matching: a second algorithm must agree.
            let second = [HashKind::Phash, HashKind::Dhash].iter().any(|&k| {
                let limit = if k == HashKind::Phash {
                    params.phash_possible
                } else {
                    params.dhash_possible
                };
                match (reports[i].hash(k), reports[j].hash(k)) {
                    (Some(a), Some(b)) => a.distance(&b).is_some_and(|d| d <= limit),
                    _ => false,
                }
            });
            if second {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    // Copies of one archived picture are copies of each other.
    let mut by_archived: HashMap<&str, usize> = HashMap::new();
    for (i, r) in reports.iter().enumerate() {
        if let Some(sha) = r.archived() {
            let j = *by_archived.entry(sha).or_insert(i);
            if j != i {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let mut ordered: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
    ordered.sort_by_key(|g| g[0]);
    let mut refs = vec![None; n];
    let mut clusters = Vec::new();
    for (id, members) in ordered.into_iter().enumerate() {
        let best = *members
            .iter()
            .max_by(|&&a, &&b| rank(&reports[a]).cmp(&rank(&reports[b])).then(b.cmp(&a)))
            .expect("groups are non-empty");
        let r = &reports[best];
        let (px, exif, bpp) = rank(r);
        let (width, height, _, _) = r.size();
        let reason = format!(
            "largest resolution ({}×{}, {:.1} MP){}, {:.2} bytes per pixel (least re-compression among equals)",
            width,
            height,
            px as f64 / 1e6,
            if exif {
                ", carries camera metadata"
            } else {
                ""
            },
            bpp as f64 / 1000.0
        );
        for &m in &members {
            refs[m] = Some(ClusterRef {
                id,
                size: members.len(),
                representative: r.path().to_string(),
                is_representative: m == best,
                reason: reason.clone(),
            });
        }
        let mut paths: Vec<String> = members
            .iter()
            .map(|&m| reports[m].path().to_string())
            .collect();
        paths.sort();
        clusters.push(Cluster {
            id,
            members: paths,
            representative: r.path().to_string(),
            reason,
        });
    }
    (refs, clusters)
}
