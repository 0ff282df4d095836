//! What several examples measure with: a reproducible random stream, this
//! process's memory and CPU time. Included by path (`#[path]`), not an example
//! itself.
#![allow(dead_code)] // each example uses a part

/// splitmix64: reproducible without a dependency.
pub fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A `/proc/self/status` memory field (`"VmHWM:"`, `"VmRSS:"`) in MB; 0 where
/// there is none.
pub fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU seconds (user + system) this process has used: on a shared machine the
/// wall clock also counts other people's compiles.
pub fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// A random hash of `kind` from the stream (a picture never seen).
pub fn random(
    kind: retrace::internals::hash::HashKind,
    s: &mut u64,
) -> retrace::internals::hash::HashBits {
    let mut words = [0u64; 4];
    for w in words.iter_mut().take(kind.bits() as usize / 64) {
        *w = next(s);
    }
    retrace::internals::hash::HashBits { kind, words }
}
