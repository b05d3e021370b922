//! The tables metering looks a slice up in, made so that the look-up of a slice a few rows
//! ahead can be started early ([`AHEAD`]): at 1M apps and 3M repeated ids they are far out of
//! cache, and a look-up whose memory was asked for while earlier slices were handled does not
//! wait for it. Open addressing, linear probing, at most half full: a look-up rarely leaves
//! the cache line its key hashes to, which is the one fetched ahead.

/// How many slices ahead a look-up's memory is asked for.
pub const AHEAD: usize = 16;

/// The slot a key hashes to, among `len` (a power of two; Fibonacci hashing: the top bits of
/// the product, which mix every bit of the key).
fn home(key: u64, len: usize) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - len.trailing_zeros())) as usize
}

/// The number of slots of a table for `n` keys: at least twice as many.
fn slots_for(n: usize) -> usize {
    (2 * n).max(2).next_power_of_two()
}

/// The first slot from `key`'s home on (wrapping around) that `stop` accepts: the key's own,
/// or the empty one where it would go (a table at most half full always has one).
fn probe<T>(slots: &[T], key: u64, stop: impl Fn(&T) -> bool) -> usize {
    let mut s = home(key, slots.len());
    while !stop(&slots[s]) {
        s = (s + 1) & (slots.len() - 1);
    }
    s
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

/// App id → its index among the day's apps: slots of (app id, index), an index of
/// `u32::MAX` marking an empty one.
pub struct AppIndex(Vec<(i64, u32)>);

const NO_APP: u32 = u32::MAX;

impl AppIndex {
    /// The index of each id, by position (ids are unique: the inputs refuse a repeated one).
    pub fn new(ids: impl ExactSizeIterator<Item = i64>) -> AppIndex {
        assert!(ids.len() < NO_APP as usize, "fewer apps than u32::MAX");
        let mut t = AppIndex(vec![(0, NO_APP); slots_for(ids.len())]);
        for (i, id) in ids.enumerate() {
            let s = t.slot(id);
            t.0[s] = (id, i as u32);
        }
        t
    }

    fn slot(&self, id: i64) -> usize {
        probe(&self.0, id as u64, |&(key, index)| index == NO_APP || key == id)
    }

    pub fn get(&self, id: i64) -> Option<u32> {
        let (_, index) = self.0[self.slot(id)];
        (index != NO_APP).then_some(index)
    }

    /// Starts the look-up of `id`.
    pub fn prefetch(&self, id: i64) {
        prefetch(&self.0[home(id as u64, self.0.len())]);
    }
}

/// A set of fingerprints (below `u64::MAX`), with a sieve in front: a bit per value of a
/// fingerprint's low bits, at least 16 bits a member, so that most fingerprints that are not
/// members (at 100M slices, 95 in 100) are told apart by one bit, in a table an eighth of the
/// set's size.
pub struct FingerprintSet {
    sieve: Vec<u64>,
    sieve_mask: u64,
    /// `EMPTY` marks an empty slot.
    slots: Vec<u64>,
}

const EMPTY: u64 = u64::MAX;

impl FingerprintSet {
    pub fn new(members: &[u64]) -> FingerprintSet {
        let sieve_bits = (16 * members.len()).max(64).next_power_of_two();
        let mut t = FingerprintSet {
            sieve: vec![0; sieve_bits / 64],
            sieve_mask: sieve_bits as u64 - 1,
            slots: vec![EMPTY; slots_for(members.len())],
        };
        for &f in members {
            assert_ne!(f, EMPTY, "a fingerprint is below u64::MAX");
            let k = f & t.sieve_mask;
            t.sieve[k as usize / 64] |= 1 << (k % 64);
            let s = t.slot(f);
            t.slots[s] = f;
        }
        t
    }

    fn slot(&self, f: u64) -> usize {
        probe(&self.slots, f, |&x| x == EMPTY || x == f)
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
        f != EMPTY && self.slots[self.slot(f)] == f
    }

    /// Starts [`FingerprintSet::contains`] of `f`.
    pub fn prefetch(&self, f: u64) {
        prefetch(&self.slots[home(f, self.slots.len())]);
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
        let len = slots_for(4);
        let keys: Vec<u64> = (0u64..).filter(|&k| home(k, len) == len - 1).take(4).collect();
        let index = AppIndex::new(keys.iter().map(|&k| k as i64));
        assert_eq!(index.0[0].0, keys[1] as i64, "the second key wrapped to slot 0");
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
