//! Random bits for identifiers (request ids, message and tool-use ids): a per-thread
//! generator seeded once from the OS, so an id costs no system call. These ids need to
//! be unique and unguessable enough to not collide, not secret: nothing authenticates
//! with them.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// One draw from the OS per thread.
fn seed() -> u64 {
    let bits = uuid::Uuid::new_v4().as_u128();
    (bits as u64) ^ ((bits >> 64) as u64)
}

/// wyrand (Wang Yi's generator, as in `fastrand`): passes BigCrush, one multiply a draw.
fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    })
}

/// 128 random bits.
pub fn u128() -> u128 {
    (u128::from(next_u64()) << 64) | u128::from(next_u64())
}

/// 32 lowercase hex digits (the shape of a simple UUID, as request ids have had).
pub fn hex_id() -> String {
    // `{:032x}`, without the formatting machinery (this runs once per request).
    let mut digits = [0u8; 32];
    uuid::Uuid::from_u128(u128())
        .simple()
        .encode_lower(&mut digits)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_within_and_across_threads() {
        let mut seen: HashSet<String> = (0..10_000).map(|_| hex_id()).collect();
        assert_eq!(seen.len(), 10_000);
        let other: Vec<String> = std::thread::spawn(|| (0..10_000).map(|_| hex_id()).collect())
            .join()
            .expect("thread");
        seen.extend(other);
        assert_eq!(seen.len(), 20_000, "threads are seeded apart");
        assert!(
            seen.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
