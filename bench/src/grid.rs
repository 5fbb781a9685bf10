//! The synthetic grid photo and exact renders of it.
//!
//! The photo is a continuous image defined in source pixels (pixel `i` spans `[i, i+1)`)
//! of a 6000×4000 frame: a light, smooth texture (a sum of separable sine products)
//! minus thin dark grid lines (3 px bands every 150 px, off the integer grid). Every
//! pixel of the JPEG, and every pixel of a reference frame, is the exact area average
//! of that image over the pixel's footprint: the bands' covered fraction and the sines'
//! means have closed forms, so no supersampling error enters the reference.
//!
//! The image is neutral grey (R = G = B), so BT.601 and BT.709 give the same Y' and
//! chroma is flat: the seed (ffmpeg's JPEG decoder, full → limited range in swscale)
//! and ours (the `image` crate, BT.709 limited range) agree on the colour of every pixel.

/// Size of the grid photo.
pub const SOURCE: (u32, u32) = (6000, 4000);

/// One texture term: `amp · sin(2π u / pu + phu) · sin(2π v / pv + phv)`.
struct Wave {
    amp: f64,
    pu: f64,
    phu: f64,
    pv: f64,
    phv: f64,
}

/// The continuous grid image.
pub struct Grid {
    /// Centre of the first line, and the distance between lines (both axes).
    first: f64,
    period: f64,
    half_width: f64,
    /// Darkness of a line (8-bit levels), subtracted from the texture.
    depth: f64,
    base: f64,
    waves: [Wave; 4],
}

/// The bench's grid: lines 3 px wide every 150 px, texture 200 ± 21 levels with periods
/// from 500 px down to 17 px (well below the output's Nyquist limit at 1080p, so an
/// area-sampled reference is the ideal render, not an aliased one).
pub const GRID: Grid = Grid {
    first: 37.25,
    period: 150.0,
    half_width: 1.5,
    depth: 150.0,
    base: 200.0,
    waves: [
        Wave { amp: 8.0, pu: 533.0, phu: 0.3, pv: 411.0, phv: 1.1 },
        Wave { amp: 6.0, pu: 97.0, phu: 2.0, pv: 131.0, phv: 0.4 },
        Wave { amp: 4.0, pu: 31.0, phu: 0.7, pv: 23.0, phv: 2.5 },
        Wave { amp: 3.0, pu: 17.0, phu: 1.9, pv: 19.0, phv: 0.2 },
    ],
};

/// Where output pixels fall in the source: pixel `(X, Y)` covers
/// `[ox + X·sx, ox + (X+1)·sx) × [oy + Y·sy, oy + (Y+1)·sy)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mapping {
    pub ox: f64,
    pub oy: f64,
    pub sx: f64,
    pub sy: f64,
}

/// Per-axis closed forms over one pixel footprint `[a, b)`.
struct AxisTerms {
    /// Fraction of the footprint covered by line bands.
    cover: Vec<f64>,
    /// Mean of each wave's sine along this axis.
    sines: [Vec<f64>; 4],
}

impl Grid {
    /// Line centres along an axis of `extent` source pixels.
    pub fn lines(&self, extent: u32) -> impl Iterator<Item = f64> + '_ {
        let extent = f64::from(extent);
        (0..).map(|k| self.first + f64::from(k) * self.period).take_while(move |c| c + self.half_width < extent)
    }

    /// Length of `[a, b)` covered by line bands (bands never overlap).
    fn band_length(&self, a: f64, b: f64, extent: u32) -> f64 {
        let count = self.lines(extent).count() as i64;
        let k0 = ((a - self.first - self.half_width) / self.period).floor().max(0.0) as i64;
        let k1 = (((b - self.first + self.half_width) / self.period).ceil() as i64).min(count - 1);
        (k0..=k1)
            .map(|k| {
                let c = self.first + k as f64 * self.period;
                (b.min(c + self.half_width) - a.max(c - self.half_width)).max(0.0)
            })
            .sum()
    }

    fn axis(&self, origin: f64, step: f64, n: u32, extent: u32, horizontal: bool) -> AxisTerms {
        let spans: Vec<(f64, f64)> = (0..n).map(|i| (origin + f64::from(i) * step, origin + f64::from(i + 1) * step)).collect();
        let cover = spans.iter().map(|&(a, b)| self.band_length(a, b, extent) / (b - a)).collect();
        let sines = std::array::from_fn(|k| {
            let w = &self.waves[k];
            let (period, phase) = if horizontal { (w.pu, w.phu) } else { (w.pv, w.phv) };
            let omega = std::f64::consts::TAU / period;
            spans.iter().map(|&(a, b)| ((omega * a + phase).cos() - (omega * b + phase).cos()) / (omega * (b - a))).collect()
        });
        AxisTerms { cover, sines }
    }

    /// Area-averaged intensities (8-bit levels, unrounded) of a `size` raster through
    /// `map`, row by row into `emit(y, row)`.
    pub fn render(&self, map: Mapping, (w, h): (u32, u32), mut emit: impl FnMut(usize, &[f64])) {
        let cols = self.axis(map.ox, map.sx, w, SOURCE.0, true);
        let rows = self.axis(map.oy, map.sy, h, SOURCE.1, false);
        let mut line = vec![0.0; w as usize];
        for y in 0..h as usize {
            let cy = rows.cover[y];
            let r: [f64; 4] = std::array::from_fn(|k| self.waves[k].amp * rows.sines[k][y]);
            for (x, v) in line.iter_mut().enumerate() {
                let cx = cols.cover[x];
                let texture =
                    self.base + r[0] * cols.sines[0][x] + r[1] * cols.sines[1][x] + r[2] * cols.sines[2][x] + r[3] * cols.sines[3][x];
                *v = texture - self.depth * (cx + cy - cx * cy);
            }
            emit(y, &line);
        }
    }

    /// The photo as 8-bit grey: every source pixel the exact average over its square,
    /// rounded; row-major, [`SOURCE`] in size.
    pub fn photo(&self) -> Vec<u8> {
        let w = SOURCE.0 as usize;
        let mut grey = vec![0u8; w * SOURCE.1 as usize];
        self.render(Mapping { ox: 0.0, oy: 0.0, sx: 1.0, sy: 1.0 }, SOURCE, |y, row| {
            for (px, v) in grey[y * w..(y + 1) * w].iter_mut().zip(row) {
                *px = level(*v);
            }
        });
        grey
    }

    /// A yuv420p frame (BT.709 limited range; the image is grey, so chroma is 128).
    pub fn frame(&self, map: Mapping, (w, h): (u32, u32), out: &mut Vec<u8>) {
        out.clear();
        out.resize(w as usize * h as usize * 3 / 2, 128);
        self.render(map, (w, h), |y, row| {
            for (o, v) in out[y * w as usize..(y + 1) * w as usize].iter_mut().zip(row) {
                *o = level(16.0 + 219.0 / 255.0 * v);
            }
        });
    }
}

fn level(v: f64) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms_match_supersampling() {
        // Footprints averaged by brute force at 600×600 points per pixel (midpoint rule:
        // ≤ 0.125 levels of error per band edge).
        let map = Mapping { ox: 33.7, oy: 181.2, sx: 3.3, sy: 2.9 };
        let mut exact = Vec::new();
        GRID.render(map, (4, 3), |_, row| exact.extend_from_slice(row));
        let n = 600;
        for y in 0..3 {
            for x in 0..4 {
                let mut sum = 0.0;
                for j in 0..n {
                    for i in 0..n {
                        let u = map.ox + (f64::from(x) + (f64::from(i) + 0.5) / f64::from(n)) * map.sx;
                        let v = map.oy + (f64::from(y) + (f64::from(j) + 0.5) / f64::from(n)) * map.sy;
                        let on = |p: f64| {
                            let c = GRID.first + ((p - GRID.first) / GRID.period).round() * GRID.period;
                            (p - c).abs() < GRID.half_width
                        };
                        let texture: f64 = GRID.base
                            + GRID
                                .waves
                                .iter()
                                .map(|w| {
                                    w.amp
                                        * (std::f64::consts::TAU * u / w.pu + w.phu).sin()
                                        * (std::f64::consts::TAU * v / w.pv + w.phv).sin()
                                })
                                .sum::<f64>();
                        sum += texture - if on(u) || on(v) { GRID.depth } else { 0.0 };
                    }
                }
                let brute = sum / f64::from(n * n);
                let e = exact[(y * 4 + x) as usize];
                assert!((brute - e).abs() < 0.3, "({x}, {y}): {brute} vs {e}");
            }
        }
    }

    #[test]
    fn lines_stay_inside_the_photo() {
        assert_eq!(GRID.lines(6000).count(), 40);
        assert_eq!(GRID.lines(4000).count(), 27);
        assert!((GRID.band_length(30.0, 40.0, 6000) - 3.0).abs() < 1e-12);
        assert!((GRID.band_length(35.5, 36.0, 6000) - 0.25).abs() < 1e-12);
        assert!((GRID.band_length(36.0, 37.0, 6000) - 1.0).abs() < 1e-12);
        assert_eq!(GRID.band_length(100.0, 120.0, 6000), 0.0);
    }
}
