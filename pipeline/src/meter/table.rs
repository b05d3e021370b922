//! The tables metering looks a slice up in, made so that the look-up of a slice a few rows
//! ahead can be started early ([`AHEAD`]): at 1M apps and 3M repeated ids they are far out of
//! cache, and a look-up whose memory was asked for while earlier slices were handled does not
//! wait for it. Open addressing, linear probing, at most half full: a look-up rarely leaves
//! the cache line its key hashes to, which is the one fetched ahead.

/// How many slices ahead a look-up's memory is asked for.
pub const AHEAD: usize = 16;

/// The slot a key hashes to, among `1 << bits` (Fibonacci hashing: the top bits of the
/// product, which mix every bit of the key).
fn home(key: u64, bits: u32) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
}

/// The number of bits of a table for `n` keys: at least twice as many slots as keys.
fn bits_for(n: usize) -> u32 {
    (2 * n).max(2).next_power_of_two().trailing_zeros()
}

/// Asks for the cache line at `x` ahead of its use (a hint: no effect on what is computed).
#[inline(always)]
pub fn prefetch<T>(x: *const T) {
    // SAFETY: SSE is part of every x86_64 target, and a prefetch reads nothing (it may not
    // fault, whatever the address).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(x.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// App id → its index among the day's apps.
pub struct AppIndex {
    bits: u32,
    /// (app id, index); an index of `u32::MAX` marks an empty slot.
    slots: Vec<(i64, u32)>,
}

const NO_APP: u32 = u32::MAX;

impl AppIndex {
    /// The index of each id, by position (ids are unique: the inputs refuse a repeated one).
    pub fn new(ids: impl ExactSizeIterator<Item = i64>) -> AppIndex {
        assert!(ids.len() < NO_APP as usize, "fewer apps than u32::MAX");
        let bits = bits_for(ids.len());
        let mut t = AppIndex { bits, slots: vec![(0, NO_APP); 1 << bits] };
        for (i, id) in ids.enumerate() {
            let mut s = home(id as u64, bits);
            while t.slots[s].1 != NO_APP && t.slots[s].0 != id {
                s = (s + 1) & (t.slots.len() - 1);
            }
            t.slots[s] = (id, i as u32);
        }
        t
    }

    pub fn get(&self, id: i64) -> Option<u32> {
        let mut s = home(id as u64, self.bits);
        loop {
            let (key, index) = self.slots[s];
            if index == NO_APP {
                return None;
            }
            if key == id {
                return Some(index);
            }
            s = (s + 1) & (self.slots.len() - 1);
        }
    }

    /// Starts the look-up of `id`.
    pub fn prefetch(&self, id: i64) {
        prefetch(&self.slots[home(id as u64, self.bits)]);
    }
}

/// A set of fingerprints (below `u64::MAX`), with a sieve in front: a bit per value of a
/// fingerprint's low bits, at least 16 bits a member, so that most fingerprints that are not
/// members (at 100M slices, 95 in 100) are told apart by one bit, in a table an eighth of the
/// set's size.
pub struct FingerprintSet {
    sieve: Vec<u64>,
    sieve_mask: u64,
    bits: u32,
    /// `EMPTY` marks an empty slot.
    slots: Vec<u64>,
}

const EMPTY: u64 = u64::MAX;

impl FingerprintSet {
    pub fn new(members: &[u64]) -> FingerprintSet {
        let sieve_bits = (16 * members.len()).max(64).next_power_of_two();
        let bits = bits_for(members.len());
        let mut t = FingerprintSet {
            sieve: vec![0; sieve_bits / 64],
            sieve_mask: sieve_bits as u64 - 1,
            bits,
            slots: vec![EMPTY; 1 << bits],
        };
        for &f in members {
            assert_ne!(f, EMPTY, "a fingerprint is below u64::MAX");
            let k = f & t.sieve_mask;
            t.sieve[k as usize / 64] |= 1 << (k % 64);
            let mut s = home(f, bits);
            while t.slots[s] != EMPTY && t.slots[s] != f {
                s = (s + 1) & (t.slots.len() - 1);
            }
            t.slots[s] = f;
        }
        t
    }

    /// Whether `f` may be a member (when it is, this is always true).
    pub fn may_hold(&self, f: u64) -> bool {
        let k = f & self.sieve_mask;
        self.sieve[k as usize / 64] & (1 << (k % 64)) != 0
    }

    /// Starts [`FingerprintSet::may_hold`] of `f`.
    pub fn prefetch_sieve(&self, f: u64) {
        prefetch(&self.sieve[(f & self.sieve_mask) as usize / 64]);
    }

    pub fn contains(&self, f: u64) -> bool {
        if f == EMPTY {
            return false;
        }
        let mut s = home(f, self.bits);
        loop {
            match self.slots[s] {
                x if x == f => return true,
                EMPTY => return false,
                _ => s = (s + 1) & (self.slots.len() - 1),
            }
        }
    }

    /// Starts [`FingerprintSet::contains`] of `f`.
    pub fn prefetch(&self, f: u64) {
        prefetch(&self.slots[home(f, self.bits)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Both tables answer as the standard ones do, for members and strangers alike,
        /// extremes and keys that share a home slot included.
        #[test]
        fn tables_agree_with_std(
            ids in proptest::collection::hash_set(
                prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)], 0..300),
            probes in proptest::collection::vec(any::<i64>(), 0..300),
        ) {
            let ids: Vec<i64> = ids.into_iter().collect();
            let index = AppIndex::new(ids.iter().copied());
            for (i, &id) in ids.iter().enumerate() {
                prop_assert_eq!(index.get(id), Some(i as u32));
            }
            for p in &probes {
                prop_assert_eq!(index.get(*p), ids.iter().position(|x| x == p).map(|i| i as u32));
            }
            let members: Vec<u64> =
                ids.iter().map(|&x| x as u64).filter(|&x| x != EMPTY).collect();
            let set = FingerprintSet::new(&members);
            for f in members.iter().chain(&[0, 1, EMPTY - 1]).copied()
                .chain(probes.iter().map(|&p| p as u64)).chain([EMPTY]) {
                let member = members.contains(&f);
                prop_assert_eq!(set.contains(f), member);
                prop_assert!(!member || set.may_hold(f));
            }
        }
    }

    /// Keys that all hash to the last slot are still found: the probe wraps around the table.
    #[test]
    fn probes_wrap_around() {
        let bits = bits_for(4);
        let last = (1 << bits) - 1;
        let keys: Vec<u64> = (0u64..).filter(|&k| home(k, bits) == last).take(4).collect();
        let index = AppIndex::new(keys.iter().map(|&k| k as i64));
        assert_eq!(index.slots[0].0, keys[1] as i64, "the second key wrapped to slot 0");
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(index.get(k as i64), Some(i as u32));
        }
        assert_eq!(index.get(keys[3] as i64 + 1), None);
        let set = FingerprintSet::new(&keys);
        assert_eq!(set.slots[0], keys[1]);
        assert!(keys.iter().all(|&f| set.contains(f)));
        assert!(!set.contains(keys[3] + 1));
    }
}
