//! Reconnect delays: exponential, capped, with jitter so that many pages
//! reconnecting after a gateway restart do not arrive all at once.

/// First delay after a connection is lost.
pub const INITIAL_MS: u32 = 500;
/// Longest delay between attempts.
pub const MAX_MS: u32 = 10_000;

#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The delay before the next attempt. `jitter` in [0, 1) (from a random
    /// source) takes up to a quarter off the nominal delay.
    pub fn next_delay_ms(&mut self, jitter: f64) -> u32 {
        let nominal = INITIAL_MS
            .saturating_mul(1 << self.attempt.min(16))
            .min(MAX_MS);
        self.attempt = self.attempt.saturating_add(1);
        let off = f64::from(nominal) * 0.25 * jitter.clamp(0.0, 1.0);
        // `off` is at most a quarter of a u32, so the cast cannot wrap.
        nominal - off as u32
    }

    /// A connection succeeded: start from the shortest delay again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<u32> = (0..8).map(|_| backoff.next_delay_ms(0.0)).collect();
        assert_eq!(
            delays,
            [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.next_delay_ms(0.999_999), 376);
        let mut backoff = Backoff::default();
        assert_eq!(backoff.next_delay_ms(7.0), 375);
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.next_delay_ms(0.0);
        }
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(0.0), INITIAL_MS);
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut backoff = Backoff::default();
        for _ in 0..100 {
            assert!(backoff.next_delay_ms(0.5) <= MAX_MS);
        }
    }
}
