//! How the Ken Burns renderer scales with cores: `W` workers each render whole 1080p
//! clips (a 6000×4000 synthetic photo, zoomin, 156 frames = 6.48 s at 24 fps) from their
//! own decoded source, as a batch's clips are rendered side by side. Frames go to a
//! sink (no encoder), so this measures the renderer alone and needs no ffmpeg: it is the
//! binary carried to the GPU machine for the README's scaling table.
//!
//!   cargo run --release -p gpu-worker --example kenburns_scale -- 1 4 16
//!
//! Prints one line per worker count: frames, wall seconds, frames per second, speed-up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use gpu_worker::kenburns::{Renderer, Source};
use job_spec::ZoomType;
use job_spec::kenburns::{Easing, path};

const OUT: (u32, u32) = (1920, 1080);
const FRAMES: u32 = 156;
const CLIPS_PER_WORKER: u32 = 2;

/// A light photo-like test card: a fine grid over gradients and texture.
fn photo() -> image::RgbImage {
    image::RgbImage::from_fn(6000, 4000, |x, y| {
        if x % 100 < 3 || y % 100 < 3 {
            return image::Rgb([30, 30, 40]);
        }
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        image::Rgb([(x / 24) as u8 ^ n as u8, (y / 16) as u8, ((x + y) / 40) as u8])
    })
}

fn clip(source: &Source) -> u64 {
    let mut r = Renderer::new(source, OUT);
    let mut check = 0u64;
    for b in path(source.size(), OUT, ZoomType::Zoomin, FRAMES, Easing::Linear) {
        let f = r.render(b).unwrap();
        check = check.wrapping_add(u64::from(f[f.len() / 2]));
    }
    check
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("worker counts")).collect();
    let counts = if counts.is_empty() { vec![1, 2] } else { counts };
    let rgb = photo();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "renderer scaling: {}x{} frames from a 6000x4000 photo, {CLIPS_PER_WORKER} clips of {FRAMES} frames per worker, {cores} cores",
        OUT.0, OUT.1
    );
    let mut base = None;
    for w in counts {
        let start = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..w)
                .map(|_| {
                    s.spawn(|| {
                        // Each clip prepares its own source, as the worker does.
                        (0..CLIPS_PER_WORKER)
                            .map(|_| clip(&Source::new(&rgb, OUT, ZoomType::Zoomin).unwrap()))
                            .fold(0u64, u64::wrapping_add)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).fold(0, u64::wrapping_add)
        });
        let secs = start.elapsed().as_secs_f64();
        let frames = (w as u32 * CLIPS_PER_WORKER * FRAMES) as f64;
        let fps = frames / secs;
        let speedup = fps / *base.get_or_insert(fps);
        println!("workers {w:>3}  frames {frames:>6}  wall {secs:>7.2} s  {fps:>8.1} fps  speed-up {speedup:>5.2}x  (checksum {total})");
    }
}
