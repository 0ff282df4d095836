use super::*;

/// The shared pass in blocks calls the slow path exactly where a plain
/// loop over entries and queries would, limits included, for every block
/// size, with the padding's own entry (the complement of the first query)
/// stored, so that a padded slot meets an entry at its limit of 0.
#[test]
fn blocked_pass_calls_the_slow_path_as_a_plain_loop_does() {
    fn check<const W: usize>() {
        let mut s = 9u64;
        let mut rand = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z ^ (z >> 27)
        };
        let qs: Vec<[u64; W]> = (0..13).map(|_| [0; W].map(|_| rand())).collect();
        let mut words = Words::<W>::new();
        for e in 0..101 {
            words.push(match e % 10 {
                0 => qs[0].map(|w| !w),
                1 => qs[e % 13],
                _ => [0; W].map(|_| rand()),
            });
        }
        // A limit that moves as the slow path sees entries, as k-nearest's does.
        let new_limit = |e: usize, j: usize, d: u32| d.saturating_sub((e + j) as u32 % 3);
        for n in 1..=qs.len() {
            let start: Vec<u32> = (0..n).map(|j| (W as u32 * 32) - 4 + j as u32 % 5).collect();
            let mut expect = Vec::new();
            let mut limits = start.clone();
            for e in 0..words.len {
                for (j, q) in qs[..n].iter().enumerate() {
                    let d = distance(words.get(e), q);
                    if d <= limits[j] {
                        expect.push((e, j, d));
                        limits[j] = new_limit(e, j, d);
                    }
                }
            }
            let mut got = Vec::new();
            let mut limits = start.clone();
            words.scan_many(&qs[..n], &mut limits, &mut |e, j, d| {
                got.push((e, j, d));
                new_limit(e, j, d)
            });
            got.sort();
            expect.sort();
            assert_eq!(got, expect, "W = {W}, {n} queries");
        }
    }
    check::<1>();
    check::<4>();
}

#[test]
fn masks_enumerate_every_bucket_by_weight() {
    let m = Masks::get();
    for w in 0..=BUCKET_BITS {
        assert_eq!(m.of_weight(w).len() as f64, choose(BUCKET_BITS, w));
        assert!(m.of_weight(w).iter().all(|x| x.count_ones() == w));
    }
    assert!(m.of_weight(BUCKET_BITS + 1).is_empty());
    let mut all = m.by_weight.clone();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), BUCKETS);
}

#[test]
fn substrings_tile_the_hash_in_hex_order() {
    for words in [1, 4] {
        let layout = Layout::of(words);
        // A hash with one bit set lands in exactly one substring, at the right place.
        for bit in 0..64 * words as u32 {
            let mut h = [0u64; 4];
            h[(bit / 64) as usize] = 1 << (63 - bit % 64);
            let mut seen = 0;
            for t in 0..layout.m {
                let (b, i) = layout.split(&h, t);
                let inline = layout.width[t] - BUCKET_BITS;
                let v = (b as u64) << inline | u64::from(i);
                if v != 0 {
                    seen += 1;
                    assert!(bit >= layout.start[t] && bit < layout.start[t] + layout.width[t]);
                    assert_eq!(v, 1 << (layout.start[t] + layout.width[t] - 1 - bit));
                }
            }
            assert_eq!(seen, 1, "bit {bit} of {words} words");
        }
    }
    let w = [0x0123_4567_89ab_cdefu64, 0, 0, 0];
    let (b, i) = Layout::of(4).split(&w, 0);
    assert_eq!((b as u64) << (24 - BUCKET_BITS) | u64::from(i), 0x01_2345);
}

#[test]
fn sub_radii_cover_every_split_of_the_distance() {
    // The pigeonhole claim itself: spreading r + 1 differing bits is the least
    // that can leave every table just outside its sub-radius.
    for words in [1usize, 4] {
        let m = Layout::of(words).m;
        for r in 0..64 * words as u32 {
            let needed: u32 = (0..m)
                .map(|t| Store::<4>::sub_radius(m, r, t).map_or(0, |s| s + 1))
                .sum();
            assert_eq!(needed, r + 1, "r={r} m={m}");
        }
    }
}

#[test]
fn top_keeps_k_best_once_each() {
    let mut t = Top::new(2, 10);
    t.offer(5, 1, 0);
    t.offer(5, 1, 0);
    t.offer(11, 0, 1);
    t.offer(3, 9, 2);
    t.offer(5, 0, 3);
    assert_eq!(t.items, vec![(3, 9, 2), (5, 0, 3)]);
    assert_eq!(t.bound(), 5);
}

#[test]
fn lists_grow_by_a_quarter() {
    let mut v = Vec::new();
    for i in 0..1000u32 {
        push_compact(&mut v, i);
    }
    assert!(v.capacity() <= 1250, "{}", v.capacity());
}

#[test]
fn postings_round_trip_entry_numbers() {
    for e in [0u32, 1, 0xFFFF, 0x1_0000, u32::MAX] {
        assert_eq!(entry_of(&[0, (e >> 16) as u16, e as u16]), e);
    }
}
