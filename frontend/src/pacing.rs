//! How often the page repaints what streams in (the feed's list and the
//! flow's views), fitted to the machine the page runs on: a repaint's frame
//! (the DOM changes, then style, layout and paint) should take a small share
//! of the time between repaints. On a fast machine that is four repaints a
//! second; on a slow or busy one fewer, down to one every two seconds, while
//! every record is still read and counted (only drawing backs off, never
//! reading).

/// Least time between two repaints, in milliseconds: as fast as anyone
/// reads a moving list.
pub const MIN_INTERVAL_MS: f64 = 250.0;
/// Most time between two repaints while records stream.
pub const MAX_INTERVAL_MS: f64 = 2_000.0;
/// The share of the time repainting may take: a repaint's frame of
/// 25 ms on a slow machine spaces repaints 250 ms apart, one of 100 ms a
/// second apart.
const BUDGET: f64 = 0.1;
/// A longer "frame" is not one: the tab was hidden (animation frames stop),
/// the machine slept or the clock jumped. It changes nothing.
const LONGEST_FRAME_MS: f64 = 1_000.0;

/// The repaint interval, from the frame time of recent repaints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    interval_ms: f64,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            interval_ms: MIN_INTERVAL_MS,
        }
    }
}

impl Pacing {
    /// The least time from one repaint to the next.
    pub fn interval_ms(&self) -> f64 {
        self.interval_ms
    }

    /// A repaint's frame took `frame_ms`: slow frames space repaints out
    /// at once, fast ones bring them back gradually (a fifth of the way a
    /// time), so one quick frame on a loaded machine does not undo it.
    pub fn record(&mut self, frame_ms: f64) {
        if !frame_ms.is_finite() || !(0.0..=LONGEST_FRAME_MS).contains(&frame_ms) {
            return;
        }
        let wanted = (frame_ms / BUDGET).clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
        self.interval_ms = if wanted >= self.interval_ms {
            wanted
        } else {
            (self.interval_ms * 0.8 + wanted * 0.2).max(MIN_INTERVAL_MS)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_machine_repaints_four_times_a_second() {
        let mut pacing = Pacing::default();
        for _ in 0..10 {
            pacing.record(8.0);
        }
        assert_eq!(pacing.interval_ms(), MIN_INTERVAL_MS);
    }

    #[test]
    fn slow_frames_space_repaints_out_at_once_and_within_bounds() {
        let mut pacing = Pacing::default();
        pacing.record(60.0);
        assert_eq!(pacing.interval_ms(), 600.0);
        pacing.record(900.0);
        assert_eq!(pacing.interval_ms(), MAX_INTERVAL_MS);
    }

    #[test]
    fn a_hidden_tab_or_a_clock_jump_is_not_a_slow_frame() {
        let mut pacing = Pacing::default();
        pacing.record(30_000.0);
        assert_eq!(pacing, Pacing::default());
    }

    #[test]
    fn fast_frames_bring_repaints_back_gradually() {
        let mut pacing = Pacing::default();
        pacing.record(100.0);
        assert_eq!(pacing.interval_ms(), 1_000.0);
        pacing.record(5.0);
        assert_eq!(pacing.interval_ms(), 850.0);
        for _ in 0..30 {
            pacing.record(5.0);
        }
        assert!(pacing.interval_ms() - MIN_INTERVAL_MS < 1.0, "{pacing:?}");
    }

    #[test]
    fn nonsense_frame_times_change_nothing() {
        let mut pacing = Pacing::default();
        pacing.record(f64::NAN);
        pacing.record(-3.0);
        pacing.record(f64::INFINITY);
        assert_eq!(pacing, Pacing::default());
    }
}
