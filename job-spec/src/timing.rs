//! Frame counts from durations: how many frames a clip of given seconds gets, and how
//! scenes share the frames of a target duration; the default frame rate and size; the
//! pixels a render costs. Validation ([`mod@crate::validate`]), the planner
//! ([`mod@crate::plan`]) and the worker payload ([`crate::worker`]) use them, so they
//! sit below all three.

pub const DEFAULT_FRAME_RATE: u32 = 24;
pub const LANDSCAPE: (u32, u32) = (1920, 1080);
pub const PORTRAIT: (u32, u32) = (1080, 1920);

/// `width`/`height` when given, else the orientation's default (landscape unless
/// `portrait`/`vertical`).
pub fn frame_size(orientation: Option<&str>, width: Option<u32>, height: Option<u32>) -> (u32, u32) {
    let portrait = matches!(orientation, Some("portrait" | "vertical"));
    let (dw, dh) = if portrait { PORTRAIT } else { LANDSCAPE };
    (width.unwrap_or(dw), height.unwrap_or(dh))
}

/// The pixels a render costs: Σ frames × width × height (saturating, so absurd
/// requests compare as over any budget rather than wrap). Checked against
/// [`crate::limits::MAX_RENDER_PIXELS`].
pub fn render_pixels(frames: impl IntoIterator<Item = u32>, (width, height): (u32, u32)) -> u64 {
    let total: u64 = frames.into_iter().fold(0u64, |sum, f| sum.saturating_add(u64::from(f)));
    total.saturating_mul(u64::from(width)).saturating_mul(u64::from(height))
}

/// Frames for a clip of `seconds` at `fps`: `round(seconds × fps)` with halves rounded
/// away from zero, at least 1. The clip then lasts exactly `frames / fps` seconds.
pub fn frames_for(seconds: f64, fps: u32) -> u32 {
    let f = (seconds * f64::from(fps)).round();
    if f < 1.0 { 1 } else { f as u32 }
}

/// Frame counts for scenes of `durations` seconds stretched or squeezed, all by the same
/// factor, to last `target_seconds` at `fps`.
///
/// The counts sum to exactly `round(target_seconds × fps)` (halves away from zero, as in
/// [`frames_for`]), so the video lasts as long as the target to the frame. Each scene's
/// share is `total × duration / Σ durations`; the shares are rounded by largest remainder
/// (each gets ⌊share⌋, then the scenes with the largest fractional parts one more, the
/// earlier scene first on a tie). Every scene keeps at least 1 frame: a scene left with 0
/// takes one from the scene with the most (the earliest of those). When the total is
/// below the number of scenes (or the target is not a positive number) every scene gets 1
/// frame. Durations that are not positive numbers weigh nothing; if none is, the scenes
/// share equally.
pub fn fit_frames(durations: &[f64], fps: u32, target_seconds: f64) -> Vec<u32> {
    let n = durations.len();
    if n == 0 {
        return vec![];
    }
    let target = (target_seconds * f64::from(fps)).round();
    let total = if target.is_finite() && target > n as f64 { (target as u64).min(u64::from(u32::MAX)) } else { n as u64 };
    let weights: Vec<f64> = durations.iter().map(|&d| if d.is_finite() && d > 0.0 { d } else { 0.0 }).collect();
    let sum: f64 = weights.iter().sum();
    let weights = if sum > 0.0 && sum.is_finite() { weights } else { vec![1.0; n] };
    let sum: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut frames: Vec<u64> = shares.iter().map(|s| s.floor() as u64).collect();
    // Largest remainder: the fractional parts, largest first, earlier first on a tie.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor())).then(a.cmp(&b)));
    let assigned: u64 = frames.iter().sum();
    if assigned <= total {
        for &i in order.iter().cycle().take((total - assigned) as usize) {
            frames[i] += 1;
        }
    } else {
        // Rounding error only: take back from the smallest remainders.
        let mut excess = assigned - total;
        for &i in order.iter().rev() {
            if excess > 0 && frames[i] > 0 {
                frames[i] -= 1;
                excess -= 1;
            }
        }
    }
    while let Some(empty) = frames.iter().position(|&f| f == 0) {
        let most = (0..n).fold(0, |m, i| if frames[i] > frames[m] { i } else { m });
        frames[most] -= 1;
        frames[empty] = 1;
    }
    frames.into_iter().map(|f| f as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_pixels_is_frames_times_area_and_saturates() {
        assert_eq!(render_pixels([24, 48], LANDSCAPE), 72 * 1920 * 1080);
        assert_eq!(render_pixels([], PORTRAIT), 0);
        assert_eq!(render_pixels([u32::MAX; 3], (u32::MAX, u32::MAX)), u64::MAX);
        assert_eq!(frame_size(Some("vertical"), None, Some(640)), (1080, 640));
        assert_eq!(frame_size(None, None, None), LANDSCAPE);
    }

    #[test]
    fn frame_rounding_rule() {
        assert_eq!(frames_for(5.0, 24), 120);
        assert_eq!(frames_for(6.48, 24), 156); // 155.52
        assert_eq!(frames_for(2.5 / 24.0, 24), 3); // 2.5 rounds away from zero
        assert_eq!(frames_for(0.01, 24), 1);
        assert_eq!(frames_for(0.1, 60), 6);
    }

    #[test]
    fn fit_frames_sums_exactly_and_is_proportional() {
        // Exact shares: 1:2:1 of 10 s at 24 fps.
        assert_eq!(fit_frames(&[1.0, 2.0, 1.0], 24, 10.0), [60, 120, 60]);
        // Equal remainders (8.33… each): the earliest scene gets the spare frame.
        assert_eq!(fit_frames(&[1.0, 1.0, 1.0], 25, 1.0), [9, 8, 8]);
        // 175 frames (7.3 s × 24 = 175.2): shares 109.375 and 65.625; the larger remainder wins.
        assert_eq!(fit_frames(&[2.5, 1.5], 24, 7.3), [109, 66]);
        // 100 frames as 1:1:1:3:3 = 11.1 ×3, 33.3 ×2: the spare frame goes to the first 33.3.
        assert_eq!(fit_frames(&[1.0, 1.0, 1.0, 3.0, 3.0], 25, 4.0), [11, 11, 11, 34, 33]);
        // The largest remainder, not the longest scene: 4.25, 2.5, 3.25 → the 2.5 rounds up.
        assert_eq!(fit_frames(&[1.7, 1.0, 1.3], 10, 1.0), [4, 3, 3]);
        // Shrinking works the same way: 6 s of scenes onto 3 s.
        assert_eq!(fit_frames(&[2.0, 4.0], 30, 3.0), [30, 60]);
        // The target rounds like frames_for: 2.5 frames → 3.
        assert_eq!(fit_frames(&[1.0, 1.0], 24, 2.5 / 24.0), [2, 1]);
        // Every scene keeps a frame, taken from the longest.
        assert_eq!(fit_frames(&[100.0, 0.1, 0.1], 24, 1.0), [22, 1, 1]);
        // Fewer frames than scenes (or no usable target): one frame each.
        assert_eq!(fit_frames(&[1.0, 1.0, 1.0], 1, 1.0), [1, 1, 1]);
        assert_eq!(fit_frames(&[1.0, 2.0], 24, 0.0), [1, 1]);
        assert_eq!(fit_frames(&[1.0, 2.0], 24, f64::NAN), [1, 1]);
        // No usable weights: equal shares.
        assert_eq!(fit_frames(&[0.0, f64::NAN], 10, 1.0), [5, 5]);
        assert!(fit_frames(&[], 24, 10.0).is_empty());
        // Awkward ratios still sum to the target exactly.
        let durations = [0.1, 7.77, 3.3333, 600.0, 0.25, 12.5, 1.0 / 3.0];
        for (fps, target) in [(24, 10.0), (25, 61.7), (30, 1234.56), (60, 3.01), (23, 0.5)] {
            let f = fit_frames(&durations, fps, target);
            let total = (target * f64::from(fps)).round() as u64;
            assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), total.max(durations.len() as u64), "{fps} fps, {target} s");
            assert!(f.iter().all(|&x| x >= 1));
        }
    }
}
