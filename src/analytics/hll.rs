//! HyperLogLog sketches of pseudonymous user ids, in rolling windows built from hourly and
//! daily sub-sketches.
//!
//! Every sidecar hashes ids with the same unkeyed function (BLAKE3, first 8 bytes), so
//! registers from different sidecars describe one fleet-wide set and merge by maximum:
//! Prometheus's `max by (window, register)` is the union. The estimator (Flajolet et al.,
//! with the small-range correction by linear counting) is the same here and in the
//! recording rules.

use serde::{Deserialize, Serialize};

/// Register-index bits: 2^10 = 1024 registers, a standard error of 1.04 / √1024 ≈ 3.3%.
pub const DEFAULT_PRECISION: u8 = 10;

/// The hash every sidecar uses for a user id.
pub fn hash(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// One HyperLogLog sketch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hll {
    precision: u8,
    registers: Vec<u8>,
}

impl Hll {
    /// An empty sketch with 2^`precision` registers (4 to 16).
    pub fn new(precision: u8) -> Hll {
        let precision = precision.clamp(4, 16);
        Hll {
            precision,
            registers: vec![0; 1 << precision],
        }
    }

    /// Adds one hashed id.
    pub fn insert(&mut self, hash: u64) {
        let p = u32::from(self.precision);
        let index = (hash >> (64 - p)) as usize;
        // The rank of the first 1 bit after the index bits; a sentinel bit bounds it.
        let rest = (hash << p) | (1 << (p - 1));
        let rank = u8::try_from(rest.leading_zeros() + 1).unwrap_or(u8::MAX);
        if let Some(r) = self.registers.get_mut(index)
            && rank > *r
        {
            *r = rank;
        }
    }

    /// Merges `other` in (the union of both sets). Sketches of another precision are
    /// ignored.
    pub fn merge(&mut self, other: &Hll) {
        if other.precision != self.precision {
            return;
        }
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }

    /// The registers.
    pub fn registers(&self) -> &[u8] {
        &self.registers
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.registers.iter().all(|r| *r == 0)
    }

    /// The estimated number of distinct ids.
    pub fn estimate(&self) -> f64 {
        estimate(&self.registers)
    }
}

/// The bias constant α for `m` registers.
pub fn alpha(m: f64) -> f64 {
    match m as u32 {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / m),
    }
}

/// The HyperLogLog estimate of a register array, with linear counting for small sets.
pub fn estimate(registers: &[u8]) -> f64 {
    let m = registers.len() as f64;
    let sum: f64 = registers.iter().map(|r| 2f64.powi(-i32::from(*r))).sum();
    let raw = alpha(m) * m * m / sum;
    let zeros = registers.iter().filter(|r| **r == 0).count() as f64;
    if raw <= 2.5 * m && zeros > 0.0 {
        m * (m / zeros).ln()
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_within_three_standard_errors_and_merges_as_union() {
        for n in [0u32, 1, 10, 100, 1_000, 10_000, 100_000] {
            let mut h = Hll::new(DEFAULT_PRECISION);
            for i in 0..n {
                h.insert(hash(&format!("user-{i}")));
            }
            let e = h.estimate();
            let bound = 3.0 * 1.04 / 1024f64.sqrt() * f64::from(n) + 1.0;
            assert!((e - f64::from(n)).abs() <= bound, "{n}: {e}");
        }
        // Two overlapping sets: 0..6000 and 4000..10000; the union has 10000.
        let (mut a, mut b) = (Hll::new(10), Hll::new(10));
        for i in 0..6_000 {
            a.insert(hash(&format!("u{i}")));
        }
        for i in 4_000..10_000 {
            b.insert(hash(&format!("u{i}")));
        }
        a.merge(&b);
        assert!(
            (a.estimate() - 10_000.0).abs() < 0.1 * 10_000.0,
            "{}",
            a.estimate()
        );
        // Inserting the same ids again changes nothing.
        let before = a.clone();
        for i in 0..100 {
            a.insert(hash(&format!("u{i}")));
        }
        assert_eq!(a, before);
    }
}
