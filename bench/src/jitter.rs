//! Ken Burns jitter: the grid's lines tracked to sub-pixel precision, frame by frame.
//!
//! - Profiles: each frame's luma summed down every column (vertical lines) and along
//!   every row (horizontal lines), as means. A line is a dip in its profile; lines of the
//!   other direction only add a constant, and the texture averages out.
//! - Position: the dip's centroid (background − profile, the background a straight line
//!   through two pixels beyond each side of a ±4 px window). For a resampling kernel
//!   that reproduces linear functions (Catmull-Rom, area averaging) the centroid of the
//!   sampled profile is exactly the line's position, whatever its sub-pixel phase.
//! - Tracks: each line is followed through the frames (nearest dip within 1.5 px of the
//!   position extrapolated from the last two frames); lines within a few pixels of the
//!   frame's edge are left out.
//! - Ideal motion: for a zoom linear in time about a fixed point (every Ken Burns clip
//!   here), a line's position is `c + (p − c)·z(t)`, linear in `t`; each track of at
//!   least [`MIN_TRACK`] frames is fitted with a quadratic in time (one spare degree, so
//!   eased paths are followed too) and the jitter is the RMS residual over every
//!   tracked line and frame, corrected for the fitted parameters.

/// Half-width of the centroid window, in pixels.
const HALF: usize = 4;
/// Background samples each side, just beyond the window.
const BG: usize = 2;
/// Lines closer than this to the frame's edge are not measured.
const EDGE: usize = HALF + BG + 3;
/// Largest distance between a track's predicted and measured position.
const MATCH_PX: f64 = 1.5;
/// Shortest track that is fitted.
pub const MIN_TRACK: usize = 24;
/// Smallest dip (mean 8-bit levels) counted as a line.
const MIN_DEPTH: f64 = 8.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// RMS residual, pixels.
    pub rms: f64,
    /// Tracks fitted, and line positions in them.
    pub tracks: usize,
    pub samples: usize,
}

#[derive(Debug, Clone)]
struct Track {
    pos: Vec<f64>,
}

impl Track {
    fn predict(&self) -> f64 {
        match self.pos.as_slice() {
            [.., a, b] => 2.0 * b - a,
            [.., b] => *b,
            [] => f64::NAN,
        }
    }
}

#[derive(Debug, Default)]
struct Axis {
    active: Vec<Track>,
    done: Vec<Track>,
}

impl Axis {
    fn step(&mut self, profile: &[f64]) {
        let found = detect(profile);
        let mut used = vec![false; found.len()];
        let mut kept = Vec::with_capacity(self.active.len());
        for mut t in self.active.drain(..) {
            let p = t.predict();
            let best = found
                .iter()
                .enumerate()
                .filter(|(j, f)| !used[*j] && (*f - p).abs() <= MATCH_PX)
                .min_by(|a, b| (a.1 - p).abs().total_cmp(&(b.1 - p).abs()));
            match best {
                Some((j, f)) => {
                    used[j] = true;
                    t.pos.push(*f);
                    kept.push(t);
                }
                None => self.done.push(t),
            }
        }
        kept.extend(found.iter().zip(&used).filter(|(_, u)| !**u).map(|(f, _)| Track { pos: vec![*f] }));
        self.active = kept;
    }
}

/// Tracks the grid lines of a clip's frames.
#[derive(Debug)]
pub struct Tracker {
    width: usize,
    height: usize,
    cols: Axis,
    rows: Axis,
    col_sums: Vec<u32>,
}

impl Tracker {
    pub fn new((width, height): (u32, u32)) -> Tracker {
        let (width, height) = (width as usize, height as usize);
        Tracker { width, height, cols: Axis::default(), rows: Axis::default(), col_sums: vec![0; width] }
    }

    /// The next frame's luma plane (`width × height`, 8 bits).
    pub fn push(&mut self, luma: &[u8]) {
        let (w, h) = (self.width, self.height);
        self.col_sums.fill(0);
        let mut rows = Vec::with_capacity(h);
        for row in luma[..w * h].chunks_exact(w) {
            let mut sum = 0u32;
            for (c, v) in self.col_sums.iter_mut().zip(row) {
                *c += u32::from(*v);
                sum += u32::from(*v);
            }
            rows.push(f64::from(sum) / w as f64);
        }
        let cols: Vec<f64> = self.col_sums.iter().map(|s| f64::from(*s) / h as f64).collect();
        self.cols.step(&cols);
        self.rows.step(&rows);
    }

    pub fn finish(self) -> Jitter {
        let tracks: Vec<Track> = [self.cols, self.rows].into_iter().flat_map(|a| a.done.into_iter().chain(a.active)).collect();
        let (mut ssr, mut samples, mut fitted) = (0.0, 0usize, 0usize);
        for t in tracks.iter().filter(|t| t.pos.len() >= MIN_TRACK) {
            ssr += quadratic_residuals(&t.pos).iter().map(|r| r * r).sum::<f64>();
            samples += t.pos.len();
            fitted += 1;
        }
        let dof = samples.saturating_sub(3 * fitted);
        let rms = if dof == 0 { f64::NAN } else { (ssr / dof as f64).sqrt() };
        Jitter { rms, tracks: fitted, samples }
    }
}

/// Sub-pixel positions of the dips of `p` (a profile in 8-bit levels).
fn detect(p: &[f64]) -> Vec<f64> {
    if p.len() < 2 * EDGE + 1 {
        return Vec::new();
    }
    let mut dips: Vec<(usize, f64)> = (EDGE..p.len() - EDGE)
        .filter(|&i| p[i] < p[i - 1] && p[i] <= p[i + 1])
        .map(|i| (i, (p[i - HALF - 1] + p[i + HALF + 1]) / 2.0 - p[i]))
        .filter(|(_, depth)| *depth >= MIN_DEPTH)
        .collect();
    // The deepest dip of a neighbourhood wins (noise makes shallow twins).
    dips.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<usize> = Vec::new();
    for (i, _) in dips {
        if kept.iter().all(|k| k.abs_diff(i) > 2 * HALF) {
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept.into_iter().map(|i| centroid(p, i)).collect()
}

/// Centroid of the dip around `m`, over a straight-line background.
pub fn centroid(p: &[f64], m: usize) -> f64 {
    let (lo, hi) = (m - HALF, m + HALF);
    let left = (p[lo - 1] + p[lo - BG]) / 2.0;
    let right = (p[hi + 1] + p[hi + BG]) / 2.0;
    let (xl, xr) = (lo as f64 - (1.0 + BG as f64) / 2.0, hi as f64 + (1.0 + BG as f64) / 2.0);
    let (mut sw, mut sx) = (0.0, 0.0);
    for (x, v) in p.iter().enumerate().take(hi + 1).skip(lo) {
        let x = x as f64;
        let d = left + (right - left) * (x - xl) / (xr - xl) - v;
        sw += d;
        sx += d * x;
    }
    sx / sw
}

/// Residuals of the least-squares quadratic through `y` (sampled at 0, 1, 2, …).
fn quadratic_residuals(y: &[f64]) -> Vec<f64> {
    let n = y.len();
    let half = (n as f64 - 1.0).max(1.0) / 2.0;
    let s = |i: usize| (i as f64 - half) / half;
    // Normal equations for [1, s, s²].
    let mut m = [[0.0f64; 4]; 3];
    for (i, v) in y.iter().enumerate() {
        let b = [1.0, s(i), s(i) * s(i)];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += b[r] * b[c];
            }
            m[r][3] += b[r] * v;
        }
    }
    let coef = solve3(m);
    y.iter().enumerate().map(|(i, v)| v - (coef[0] + coef[1] * s(i) + coef[2] * s(i) * s(i))).collect()
}

/// Gaussian elimination with partial pivoting on an augmented 3×4 matrix.
fn solve3(mut m: [[f64; 4]; 3]) -> [f64; 3] {
    for c in 0..3 {
        let p = (c..3).max_by(|a, b| m[*a][c].abs().total_cmp(&m[*b][c].abs())).unwrap_or(c);
        m.swap(c, p);
        if m[c][c].abs() < 1e-300 {
            continue;
        }
        let pivot = m[c];
        for (r, row) in m.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    std::array::from_fn(|i| if m[i][i].abs() < 1e-300 { 0.0 } else { m[i][3] / m[i][i] })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark Gaussian line (σ in px) at `pos` on a sloped background, sampled.
    fn profile(len: usize, lines: &[f64], sigma: f64) -> Vec<f64> {
        (0..len)
            .map(|i| {
                let x = i as f64;
                let dark: f64 = lines.iter().map(|c| (-(x - c).powi(2) / (2.0 * sigma * sigma)).exp()).sum();
                180.0 + 0.05 * x - 120.0 * dark.min(1.0)
            })
            .collect()
    }

    #[test]
    fn centroid_recovers_subpixel_shifts() {
        for sigma in [0.6, 0.8, 1.2] {
            for k in 0..=40 {
                let pos = 50.0 + f64::from(k) / 40.0;
                let p = profile(100, &[pos], sigma);
                let found = detect(&p);
                assert_eq!(found.len(), 1, "{found:?}");
                assert!((found[0] - pos).abs() < 0.01, "σ {sigma}: {} for {pos}", found[0]);
            }
        }
    }

    /// 8-bit frames of a grid zooming about the centre, each line offset by `jitter(t)`.
    fn frames(n: usize, jitter: impl Fn(usize) -> f64) -> Vec<Vec<u8>> {
        let (w, h) = (320usize, 180usize);
        (0..n)
            .map(|t| {
                let z = 1.0 + 0.3 * t as f64 / (n.max(2) - 1) as f64;
                let at = |p: f64, c: f64| c + (p - c) * z + jitter(t);
                let xs: Vec<f64> = (0..8).map(|k| at(17.3 + 40.0 * f64::from(k), 160.0)).collect();
                let ys: Vec<f64> = (0..5).map(|k| at(11.6 + 40.0 * f64::from(k), 90.0)).collect();
                let line = |v: f64, cs: &[f64]| cs.iter().map(|c| (-(v - c).powi(2) / (2.0 * 0.8 * 0.8)).exp()).sum::<f64>().min(1.0);
                let mut f = vec![0u8; w * h];
                for y in 0..h {
                    let ly = line(y as f64, &ys);
                    for x in 0..w {
                        let lx = line(x as f64, &xs);
                        let tex = 4.0 * ((x as f64) * 0.05).sin() * ((y as f64) * 0.07).sin();
                        f[y * w + x] = (200.0 + tex - 150.0 * (lx + ly - lx * ly) + 0.5) as u8;
                    }
                }
                f
            })
            .collect()
    }

    fn track(frames: &[Vec<u8>]) -> Jitter {
        let mut t = Tracker::new((320, 180));
        for f in frames {
            t.push(f);
        }
        t.finish()
    }

    #[test]
    fn smooth_zoom_has_no_jitter() {
        let j = track(&frames(60, |_| 0.0));
        assert!(j.tracks >= 8, "{j:?}");
        assert!(j.rms < 0.01, "{j:?}");
    }

    #[test]
    fn known_jitter_is_recovered() {
        // ±0.1 px alternating: RMS 0.1 px, orthogonal to any smooth motion.
        let j = track(&frames(60, |t| if t % 2 == 0 { 0.1 } else { -0.1 }));
        assert!((j.rms - 0.1).abs() < 0.01, "{j:?}");
    }

    #[test]
    fn whole_frame_shifts_are_recovered() {
        // The same frame shifted by a known sub-pixel amount moves every line by it.
        let base = frames(1, |_| 0.0);
        for k in 1..10 {
            let shift = f64::from(k) / 10.0;
            let moved = frames(1, |_| shift);
            let (mut a, mut b) = (Tracker::new((320, 180)), Tracker::new((320, 180)));
            a.push(&base[0]);
            b.push(&moved[0]);
            for (ta, tb) in a.cols.active.iter().zip(&b.cols.active).chain(a.rows.active.iter().zip(&b.rows.active)) {
                let d = tb.pos[0] - ta.pos[0];
                assert!((d - shift).abs() < 0.01, "shift {shift}: {d}");
            }
            assert!(a.cols.active.len() >= 7 && a.rows.active.len() >= 4);
        }
    }

    #[test]
    fn quadratic_fit_is_exact_on_quadratics() {
        let y: Vec<f64> = (0..50).map(|i| 3.0 - 0.2 * f64::from(i) + 0.01 * f64::from(i * i)).collect();
        assert!(quadratic_residuals(&y).iter().all(|r| r.abs() < 1e-9));
    }
}
