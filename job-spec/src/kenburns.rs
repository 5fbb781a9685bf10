//! Ken Burns paths: where the crop box lies in the source image, frame by frame.
//!
//! Pure geometry, in floating-point source pixels (edges: pixel `i` spans `[i, i+1)`),
//! so a renderer can resample a sub-pixel box and the motion has no whole-pixel jitter.
//! The source is first cropped to the output's aspect ([`cover`], centred); zoom `z`
//! shows `1/z` of that cover box:
//!
//! - `zoomin`: zoom 1 → [`MAX_ZOOM`], centred;
//! - `zoomout`: zoom [`MAX_ZOOM`] → 1, centred (the reverse of zoomin);
//! - `zoompanright`: zoom fixed at [`PAN_ZOOM`], vertically centred, the box moving
//!   from the cover box's left edge to its right edge.
//!
//! Frame `i` of `n` is at progress `i / (n - 1)` (0 for a single frame), so the first
//! and last frames sit exactly at the ends of the motion. Zoom is linear in progress
//! (after easing), as ffmpeg's zoompan rendered it before.

use crate::values::{EasingType, ZoomType};

/// Zoom at the far end of zoomin/zoomout.
pub const MAX_ZOOM: f64 = 1.3;
/// Constant zoom while panning right.
pub const PAN_ZOOM: f64 = 1.2;

/// How progress through the clip maps to progress of the motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Easing {
    /// Constant speed.
    #[default]
    Linear,
    /// Starts and ends at rest (smoothstep: `3t² − 2t³`), symmetric around the middle.
    EaseInOut,
}

impl Easing {
    /// Eased progress for `t` in `[0, 1]` (clamped); 0 ↦ 0 and 1 ↦ 1 exactly.
    pub fn apply(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Easing::Linear => t,
            Easing::EaseInOut => t * t * (3.0 - 2.0 * t),
        }
    }
}

impl From<EasingType> for Easing {
    fn from(e: EasingType) -> Self {
        match e {
            EasingType::Linear => Easing::Linear,
            EasingType::EaseInOut => Easing::EaseInOut,
        }
    }
}

/// A crop box in source pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl CropBox {
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }

    pub fn centre(&self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }
}

/// Progress of frame `i` of `n`: `i / (n - 1)`, 0 when `n <= 1`.
pub fn progress(i: u32, n: u32) -> f64 {
    if n <= 1 { 0.0 } else { f64::from(i.min(n - 1)) / f64::from(n - 1) }
}

/// The largest centred box of the output's aspect inside the source: what zoom 1 shows.
/// A source of the output's exact aspect (compared in integers) is kept whole.
pub fn cover((sw, sh): (u32, u32), (w, h): (u32, u32)) -> CropBox {
    let (fsw, fsh) = (f64::from(sw), f64::from(sh));
    let (src_wide, out_wide) = (u64::from(sw) * u64::from(h), u64::from(w) * u64::from(sh));
    if src_wide > out_wide {
        // Wider than the output: full height, sides cropped.
        let width = fsh * f64::from(w) / f64::from(h);
        CropBox { x: (fsw - width) / 2.0, y: 0.0, width, height: fsh }
    } else if src_wide < out_wide {
        // Taller than the output: full width, top and bottom cropped.
        let height = fsw * f64::from(h) / f64::from(w);
        CropBox { x: 0.0, y: (fsh - height) / 2.0, width: fsw, height }
    } else {
        CropBox { x: 0.0, y: 0.0, width: fsw, height: fsh }
    }
}

/// Zoom (1 = the whole cover box) at eased progress `e` in `[0, 1]`.
pub fn zoom_at(zoom: ZoomType, e: f64) -> f64 {
    match zoom {
        ZoomType::Zoomin => 1.0 + (MAX_ZOOM - 1.0) * e,
        ZoomType::Zoomout => MAX_ZOOM - (MAX_ZOOM - 1.0) * e,
        ZoomType::Zoompanright => PAN_ZOOM,
    }
}

/// The largest zoom a `zoom` clip reaches (its smallest crop box is the cover box
/// divided by it).
pub fn max_zoom(zoom: ZoomType) -> f64 {
    match zoom {
        ZoomType::Zoomin | ZoomType::Zoomout => MAX_ZOOM,
        ZoomType::Zoompanright => PAN_ZOOM,
    }
}

/// The crop box of frame `i` of `n` for a `source`-sized image shown at `output` size.
pub fn crop_box(source: (u32, u32), output: (u32, u32), zoom: ZoomType, i: u32, n: u32, easing: Easing) -> CropBox {
    box_at(cover(source, output), zoom, easing.apply(progress(i, n)))
}

/// Every frame's crop box, in order.
pub fn path(source: (u32, u32), output: (u32, u32), zoom: ZoomType, n: u32, easing: Easing) -> impl Iterator<Item = CropBox> {
    let c = cover(source, output);
    (0..n).map(move |i| box_at(c, zoom, easing.apply(progress(i, n))))
}

fn box_at(c: CropBox, zoom: ZoomType, e: f64) -> CropBox {
    let z = zoom_at(zoom, e);
    let (width, height) = (c.width / z, c.height / z);
    let y = c.y + (c.height - height) / 2.0;
    let x = match zoom {
        ZoomType::Zoomin | ZoomType::Zoomout => c.x + (c.width - width) / 2.0,
        ZoomType::Zoompanright => c.x + (c.width - width) * e,
    };
    CropBox { x, y, width, height }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= EPS * b.abs().max(1.0)
    }

    #[track_caller]
    fn assert_box(b: CropBox, (x, y, w, h): (f64, f64, f64, f64)) {
        assert!(close(b.x, x) && close(b.y, y) && close(b.width, w) && close(b.height, h), "{b:?} != ({x}, {y}, {w}, {h})");
    }

    const SIZES: [((u32, u32), (u32, u32)); 6] = [
        ((6000, 4000), (1920, 1080)),
        ((800, 600), (640, 360)),
        ((16, 16), (360, 640)),
        ((3840, 2160), (1920, 1080)),
        ((1000, 20000), (1080, 1920)),
        ((321, 123), (1280, 720)),
    ];

    #[test]
    fn kenburns_progress_and_easing() {
        assert_eq!(progress(0, 1), 0.0);
        assert_eq!(progress(0, 2), 0.0);
        assert_eq!(progress(1, 2), 1.0);
        assert_eq!(progress(60, 121), 0.5);
        assert_eq!(progress(200, 121), 1.0);
        for e in [Easing::Linear, Easing::EaseInOut] {
            assert_eq!((e.apply(0.0), e.apply(1.0), e.apply(0.5)), (0.0, 1.0, 0.5));
            assert_eq!((e.apply(-1.0), e.apply(2.0)), (0.0, 1.0));
            for k in 0..=1000 {
                let t = f64::from(k) / 1000.0;
                assert!(close(e.apply(t) + e.apply(1.0 - t), 1.0), "{e:?} symmetric at {t}");
                assert!(k == 0 || e.apply(t) > e.apply(t - 0.001), "{e:?} increasing at {t}");
            }
        }
        // Ease-in-out starts and ends at rest: the first step is far smaller than linear's.
        assert!(Easing::EaseInOut.apply(0.01) < 0.001 && close(Easing::EaseInOut.apply(0.25), 0.15625));
    }

    #[test]
    fn easing_from_the_request_easing_type() {
        assert_eq!(Easing::from(EasingType::EaseInOut), Easing::EaseInOut);
        assert_eq!(Easing::from(EasingType::default()), Easing::Linear);
    }

    #[test]
    fn kenburns_cover_box_has_the_output_aspect() {
        assert_box(cover((6000, 4000), (1920, 1080)), (0.0, 312.5, 6000.0, 3375.0));
        assert_box(cover((800, 600), (640, 360)), (0.0, 75.0, 800.0, 450.0));
        assert_box(cover((16, 16), (360, 640)), (3.5, 0.0, 9.0, 16.0));
        assert_box(cover((3840, 2160), (1920, 1080)), (0.0, 0.0, 3840.0, 2160.0));
        assert_box(cover((4000, 1000), (1920, 1080)), (2000.0 - 8000.0 / 9.0, 0.0, 16000.0 / 9.0, 1000.0));
    }

    #[test]
    fn kenburns_zoomin_first_middle_last() {
        let (s, o) = ((6000, 4000), (1920, 1080));
        let b = |i| crop_box(s, o, ZoomType::Zoomin, i, 121, Easing::Linear);
        assert_box(b(0), (0.0, 312.5, 6000.0, 3375.0));
        let (w, h) = (6000.0 / 1.15, 3375.0 / 1.15);
        assert_box(b(60), (3000.0 - w / 2.0, 2000.0 - h / 2.0, w, h));
        let (w, h) = (6000.0 / 1.3, 3375.0 / 1.3);
        assert_box(b(120), (3000.0 - w / 2.0, 2000.0 - h / 2.0, w, h));
        // A single frame is the first frame.
        assert_box(crop_box(s, o, ZoomType::Zoomin, 0, 1, Easing::Linear), (0.0, 312.5, 6000.0, 3375.0));
    }

    #[test]
    fn kenburns_zoomout_is_zoomin_reversed() {
        for (s, o) in SIZES {
            for easing in [Easing::Linear, Easing::EaseInOut] {
                let zin: Vec<_> = path(s, o, ZoomType::Zoomin, 37, easing).collect();
                let zout: Vec<_> = path(s, o, ZoomType::Zoomout, 37, easing).collect();
                for (a, b) in zin.iter().zip(zout.iter().rev()) {
                    assert_box(*a, (b.x, b.y, b.width, b.height));
                }
            }
        }
        let c = cover((800, 600), (640, 360));
        assert_box(crop_box((800, 600), (640, 360), ZoomType::Zoomout, 23, 24, Easing::Linear), (c.x, c.y, c.width, c.height));
    }

    #[test]
    fn kenburns_zooms_stay_centred_and_monotonic() {
        for (s, o) in SIZES {
            let c = cover(s, o);
            for easing in [Easing::Linear, Easing::EaseInOut] {
                let zin: Vec<_> = path(s, o, ZoomType::Zoomin, 48, easing).collect();
                let zout: Vec<_> = path(s, o, ZoomType::Zoomout, 48, easing).collect();
                for b in zin.iter().chain(&zout) {
                    let ((cx, cy), (bx, by)) = (c.centre(), b.centre());
                    assert!(close(bx, cx) && close(by, cy), "{b:?} centred on {:?}", c.centre());
                }
                for w in zin.windows(2) {
                    assert!(w[1].width < w[0].width && w[1].height < w[0].height && w[1].x > w[0].x && w[1].y > w[0].y);
                }
                for w in zout.windows(2) {
                    assert!(w[1].width > w[0].width && w[1].height > w[0].height && w[1].x < w[0].x && w[1].y < w[0].y);
                }
            }
        }
    }

    #[test]
    fn kenburns_pan_right_moves_at_constant_zoom() {
        let (s, o) = ((800, 600), (640, 360));
        let (w, h) = (800.0 / PAN_ZOOM, 450.0 / PAN_ZOOM);
        let y = 300.0 - h / 2.0;
        let b = |i| crop_box(s, o, ZoomType::Zoompanright, i, 25, Easing::Linear);
        assert_box(b(0), (0.0, y, w, h));
        assert_box(b(12), ((800.0 - w) / 2.0, y, w, h));
        assert_box(b(24), (800.0 - w, y, w, h));
        // Linear: equal steps; ease-in-out: increasing steps, mirrored in the second half.
        let xs: Vec<f64> = path(s, o, ZoomType::Zoompanright, 25, Easing::Linear).map(|b| b.x).collect();
        let step = (800.0 - w) / 24.0;
        assert!(xs.windows(2).all(|p| close(p[1] - p[0], step)));
        let xs: Vec<f64> = path(s, o, ZoomType::Zoompanright, 25, Easing::EaseInOut).map(|b| b.x).collect();
        let steps: Vec<f64> = xs.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(steps.iter().all(|d| *d > 0.0));
        assert!(steps[..12].windows(2).all(|p| p[1] > p[0]), "accelerates: {steps:?}");
        for k in 0..steps.len() {
            assert!(close(steps[k], steps[steps.len() - 1 - k]), "symmetric: {steps:?}");
        }
    }

    #[test]
    fn kenburns_boxes_stay_inside_the_source_with_the_output_aspect() {
        for (s, o) in SIZES {
            let aspect = f64::from(o.0) / f64::from(o.1);
            for zoom in ZoomType::ALL {
                for easing in [Easing::Linear, Easing::EaseInOut] {
                    for n in [1, 2, 3, 48, 157] {
                        for b in path(s, o, zoom, n, easing) {
                            assert!(b.x >= 0.0 && b.y >= 0.0, "{b:?}");
                            assert!(b.right() <= f64::from(s.0) + EPS && b.bottom() <= f64::from(s.1) + EPS, "{b:?} in {s:?}");
                            assert!(close(b.width / b.height, aspect), "{b:?} aspect {aspect}");
                        }
                    }
                }
            }
        }
    }
}
