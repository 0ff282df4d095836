//! A column of plain values (hash words, image ids, region numbers) whose
//! first part may lie in a read-only mapping of an index snapshot and whose
//! rest is in memory: a snapshot loaded this way is searched where the page
//! cache holds it, without being copied, and the pictures recorded since are
//! appended as usual.

use std::ops::Index;
use std::sync::Arc;

use memmap2::Mmap;

/// Values any bit pattern of which is valid, without padding, so that a slice
/// of them may be viewed in a file's bytes (little-endian).
///
/// # Safety
/// Implementors must be `Copy`, have no padding and no invalid bit patterns.
pub(super) unsafe trait Plain: Copy + Send + Sync + 'static {}
// SAFETY: integers have no padding and no invalid values.
unsafe impl Plain for u16 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for i64 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}

/// Append with a quarter's growth instead of doubling: posting lists are most of
/// the memory, and doubling would leave a third of it empty on average.
#[inline]
pub(super) fn push_compact<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(4));
    }
    v.push(x);
}

/// The bytes of a slice of plain values, as a snapshot writes them.
pub(super) fn bytes_of<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: `Plain` values have no padding, so every byte is initialised, and
    // `u8` has no alignment to keep.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

pub(super) struct Column<T: Plain> {
    /// The mapping, and where in it the mapped values start and how many.
    map: Option<(Arc<Mmap>, usize, usize)>,
    owned: Vec<T>,
}

impl<T: Plain> Column<T> {
    pub(super) fn new() -> Column<T> {
        Column {
            map: None,
            owned: Vec::new(),
        }
    }

    /// The `len` values at byte `offset` of `map`; `None` when they do not fit
    /// in it or are not aligned for `T`.
    pub(super) fn mapped(map: &Arc<Mmap>, offset: usize, len: usize) -> Option<Column<T>> {
        let end = len
            .checked_mul(std::mem::size_of::<T>())?
            .checked_add(offset)?;
        let start = map.as_ptr() as usize;
        if end > map.len() || (start + offset) % std::mem::align_of::<T>() != 0 {
            return None;
        }
        Some(Column {
            map: Some((Arc::clone(map), offset, len)),
            owned: Vec::new(),
        })
    }

    /// The values in the mapping.
    #[inline(always)]
    pub(super) fn base(&self) -> &[T] {
        match &self.map {
            // SAFETY: `mapped` checked that the range lies in the mapping and
            // is aligned; `Plain` values are valid for any bytes; the mapping
            // lives as long as `self` (the `Arc`) and is never written: a
            // snapshot is replaced by renaming a new file over it, never
            // rewritten in place.
            Some((map, offset, len)) => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(*offset).cast::<T>(), *len)
            },
            None => &[],
        }
    }

    /// The values in memory, after those in the mapping.
    #[inline(always)]
    pub(super) fn tail(&self) -> &[T] {
        &self.owned
    }

    pub(super) fn tail_mut(&mut self) -> &mut [T] {
        &mut self.owned
    }

    /// Append with a quarter's growth instead of doubling: posting lists and
    /// columns are most of the memory, and doubling would leave a third of it
    /// empty on average.
    pub(super) fn push(&mut self, x: T) {
        push_compact(&mut self.owned, x);
    }

    /// Bytes of memory allocated, and bytes mapped from a snapshot.
    pub(super) fn bytes(&self) -> (usize, usize) {
        (
            self.owned.capacity() * std::mem::size_of::<T>(),
            std::mem::size_of_val(self.base()),
        )
    }
}

impl<T: Plain> Index<usize> for Column<T> {
    type Output = T;

    #[inline(always)]
    fn index(&self, i: usize) -> &T {
        let base = self.base();
        if i < base.len() {
            &base[i]
        } else {
            &self.owned[i - base.len()]
        }
    }
}

/// The image id of each entry, kept as runs: the entries of one picture are
/// consecutive (its regions' hashes go in together) and share one id, so a
/// run's first entry and its id replace an id per entry (at 100,000 pictures
/// 16 entries a picture per kind: 0.38 KB a picture down to 0.04 KB, in the
/// snapshot and in memory). A run starts wherever an entry's id differs from
/// the previous entry's; ids need not increase.
pub(super) struct Runs {
    /// Each run's first entry, increasing, the first 0.
    starts: Column<u32>,
    /// Each run's image id.
    ids: Column<i64>,
    /// Entries covered.
    len: usize,
}

impl Runs {
    pub(super) fn new() -> Runs {
        Runs {
            starts: Column::new(),
            ids: Column::new(),
            len: 0,
        }
    }

    /// `runs` runs over `len` entries, their starts at byte `starts` of `map`
    /// and their ids at `ids`. `None` unless the starts begin at 0, increase
    /// strictly and stay below `len` (no runs for no entries), so that every
    /// entry below `len` lies in exactly one run.
    pub(super) fn mapped(
        map: &Arc<Mmap>,
        [starts, ids]: [usize; 2],
        runs: usize,
        len: usize,
    ) -> Option<Runs> {
        let r = Runs {
            starts: Column::mapped(map, starts, runs)?,
            ids: Column::mapped(map, ids, runs)?,
            len,
        };
        let s = r.starts.base();
        let ok = match s.first() {
            None => len == 0,
            Some(&first) => {
                first == 0 && s.windows(2).all(|w| w[0] < w[1]) && (s[s.len() - 1] as usize) < len
            }
        };
        ok.then_some(r)
    }

    pub(super) fn runs(&self) -> usize {
        self.starts.base().len() + self.starts.tail().len()
    }

    fn last(&self) -> Option<i64> {
        let (base, tail) = (self.ids.base(), self.ids.tail());
        tail.last().or(base.last()).copied()
    }

    /// The next entry's id.
    pub(super) fn push(&mut self, id: i64) {
        if self.last() != Some(id) {
            let start = u32::try_from(self.len).expect("entry numbers are u32");
            self.starts.push(start);
            self.ids.push(id);
        }
        self.len += 1;
    }

    /// The id of `entry`, which must be below the entries pushed or mapped.
    #[inline]
    pub(super) fn get(&self, entry: u32) -> i64 {
        debug_assert!((entry as usize) < self.len);
        let (base, tail) = (self.starts.base(), self.starts.tail());
        // The last run starting at or before `entry`: there is one, since
        // the first run starts at 0.
        if tail.first().is_some_and(|&s| s <= entry) {
            let i = tail.partition_point(|&s| s <= entry) - 1;
            self.ids.tail()[i]
        } else {
            let i = base.partition_point(|&s| s <= entry) - 1;
            self.ids.base()[i]
        }
    }

    /// The run starts and the ids, each as a mapped and an in-memory part.
    pub(super) fn parts(&self) -> [[&[u8]; 2]; 2] {
        [
            [bytes_of(self.starts.base()), bytes_of(self.starts.tail())],
            [bytes_of(self.ids.base()), bytes_of(self.ids.tail())],
        ]
    }

    /// Bytes of memory allocated, and bytes mapped from a snapshot.
    pub(super) fn bytes(&self) -> (usize, usize) {
        let (a, b) = (self.starts.bytes(), self.ids.bytes());
        (a.0 + b.0, a.1 + b.1)
    }
}
