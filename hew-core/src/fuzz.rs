//! Test-only: a small deterministic generator for the fuzz tests (`cargo test -p hew-core
//! fuzz`). It mutates real inputs (truncation, byte flips, splices, noise) so every
//! failure reproduces from its seed; `HEW_FUZZ_ITERS` runs more cases than the default.

/// xorshift64*: tiny, fast, and reproducible from a seed.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for case `seed` (any value, zero included).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `seeds`, mutated: cut short, bytes flipped, spliced with another, replaced by
    /// noise or a repeated prefix, or left as it is.
    pub(crate) fn mutate(&mut self, seeds: &[&str]) -> Vec<u8> {
        let mut bytes = seeds[self.below(seeds.len())].as_bytes().to_vec();
        if bytes.is_empty() {
            return bytes;
        }
        match self.below(6) {
            0 => bytes.truncate(self.below(bytes.len() + 1)),
            1 => {
                for _ in 0..=self.below(4) {
                    let at = self.below(bytes.len());
                    bytes[at] = self.next() as u8;
                }
            }
            2 => {
                let other = seeds[self.below(seeds.len())].as_bytes();
                bytes.truncate(self.below(bytes.len()));
                if !other.is_empty() {
                    bytes.extend_from_slice(&other[self.below(other.len())..]);
                }
            }
            3 => bytes = (0..self.below(200)).map(|_| self.next() as u8).collect(),
            4 => bytes = bytes[..self.below(bytes.len()).max(1)].repeat(self.below(50) + 1),
            _ => {}
        }
        bytes
    }
}

/// How many cases each fuzz test runs: `default`, or `HEW_FUZZ_ITERS`.
pub(crate) fn iterations(default: u64) -> u64 {
    std::env::var("HEW_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
