//! The Ken Burns renderer behind img2vid: the image is decoded once, turned into a
//! small planar Y'CbCr working image, and every frame resamples a floating-point crop
//! box of it ([`job_spec::kenburns`]) with a Catmull-Rom filter, so the motion is
//! sub-pixel smooth. Frames come out as raw yuv420p for ffmpeg's stdin.
//!
//! - Decoding: the `image` crate (JPEG, PNG, WebP, GIF, BMP, PNM), EXIF orientation
//!   applied; transparent pixels are composited over black (premultiplied).
//! - Working image: only the cover box (the source cropped to the output's aspect) is
//!   kept; a source larger than the working size (a zoom clip's largest zoom × the
//!   output, where its smallest crop box shows working pixels 1:1; 1.5 × for a pan, whose
//!   every frame is then a downscale) is resampled once (Lanczos3) to that size, so the
//!   per-frame work depends on the output size and the motion, not on the photo's size.
//! - Colour: BT.709 matrix, limited range (16–235 / 16–240), as the clip is tagged
//!   (see [`crate::ops::img2vid::clip_args`]). Chroma is averaged over 2×2 pixels and
//!   resampled with the luma box halved and shifted for H.264's default (left) chroma
//!   siting, so colour edges stay on luma edges.

use std::io::{self, Write};
use std::path::Path;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{Filter, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use job_spec::ZoomType;
use job_spec::kenburns::{self, CropBox, Easing};

/// The per-frame filter.
const FRAME_FILTER: FilterType = FilterType::CatmullRom;
/// The one-time reduction of large sources: Lanczos3.
fn reduce_filter() -> FilterType {
    Filter::new("lanczos3", lanczos3, 3.0).map_or(FilterType::Lanczos3, FilterType::Custom)
}
/// Pixels kept around the cover box when it is cut out without resampling, so the
/// frame filter (Catmull-Rom, 2 px at 1:1) sees the real neighbours at its edges.
const MARGIN: u32 = 2;

/// fast_image_resize 6.1 drops zero weights at the ends of an output pixel's window,
/// and its two-pass u8 resize sizes the intermediate image from the last output pixel's
/// window alone: when that pixel is centred exactly on a source pixel (Lanczos and
/// Catmull-Rom are 0 at whole-pixel distances) its window shrinks, and earlier windows
/// read past the intermediate image. The one two-pass resize here (the reduction of large
/// sources) uses its Lanczos3 with `f64::MIN_POSITIVE` for 0, which keeps every window
/// whole and changes no weight (it rounds to 0 in the 16-bit coefficients); the frame
/// passes ([`Resampler`]) go one direction at a time, where no intermediate image exists.
fn never_zero(w: f64) -> f64 {
    if w == 0.0 { f64::MIN_POSITIVE } else { w }
}

fn lanczos3(x: f64) -> f64 {
    let sinc = |x: f64| if x == 0.0 { 1.0 } else { (x * std::f64::consts::PI).sin() / (x * std::f64::consts::PI) };
    never_zero(if x.abs() < 3.0 { sinc(x) * sinc(x / 3.0) } else { 0.0 })
}

/// Most pixels a decoded image may have: 512 MiB as RGBA. A compressed file of a few
/// bytes can claim any size, and the decoders allocate the whole picture first.
pub const MAX_IMAGE_PIXELS: u64 = (512 << 20) / 4;

/// Decodes `path` upright (EXIF orientation applied) and composited over black. A
/// picture past [`MAX_IMAGE_PIXELS`] is refused from its header
/// (`ImageError::Limits`), before anything is allocated for it.
pub fn decode(path: &Path) -> image::ImageResult<RgbImage> {
    let mut decoder = ImageReader::open(path)?.with_guessed_format()?.into_decoder()?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(image::ImageError::Limits(image::error::LimitError::from_kind(image::error::LimitErrorKind::DimensionError)));
    }
    let orientation = decoder.orientation()?;
    let mut img = DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(over_black(img))
}

/// RGB with any alpha composited over black, i.e. colour × alpha.
pub fn over_black(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for p in rgba.as_raw().chunks_exact(4) {
        let a = u32::from(p[3]);
        rgb.extend(p[..3].iter().map(|c| ((u32::from(*c) * a + 127) / 255) as u8));
    }
    RgbImage::from_raw(w, h, rgb).unwrap_or_default()
}

/// One 8-bit plane.
#[derive(Debug, Clone)]
struct Plane {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Plane {
    fn new(width: u32, height: u32) -> Plane {
        Plane { width, height, data: vec![0; width as usize * height as usize] }
    }

    /// `b` moved and shrunk into the plane (it only leaves it by rounding errors).
    fn clamp(&self, b: CropBox) -> CropBox {
        let (pw, ph) = (f64::from(self.width), f64::from(self.height));
        let (width, height) = (b.width.min(pw), b.height.min(ph));
        CropBox { x: b.x.clamp(0.0, pw - width), y: b.y.clamp(0.0, ph - height), width, height }
    }
}

/// How much larger than the output (at zoom 1) the working image is. A zoom clip's is
/// its largest zoom ([`kenburns::max_zoom`]): its smallest crop box is shown 1:1, every
/// other frame is a downscale. A pan's crop box keeps one size, and at its own zoom every
/// frame would be 1:1 at another sub-pixel offset — sharp where the offset is whole,
/// softer between — a shimmer x264 makes worse (tests/ops.rs measured 0.108 px jumps of
/// a linear pan after encoding): a pan's frames are all a [`PAN_DOWNSCALE`] downscale.
fn oversample(zoom: ZoomType) -> f64 {
    match zoom {
        ZoomType::Zoompanright => kenburns::max_zoom(zoom) * PAN_DOWNSCALE,
        ZoomType::Zoomin | ZoomType::Zoomout => kenburns::max_zoom(zoom),
    }
}

/// Every frame of a pan is this much of a downscale of the working image (1.2 × 1.25 =
/// 1.5 times the output).
const PAN_DOWNSCALE: f64 = 1.25;

/// The decoded image, ready for per-frame resampling.
#[derive(Debug, Clone)]
pub struct Source {
    /// Size of the upright decoded image: the space of [`job_spec::kenburns`] boxes.
    size: (u32, u32),
    luma: Plane,
    cb: Plane,
    cr: Plane,
    /// Working luma pixel = (source pixel − origin) × scale.
    origin: (f64, f64),
    scale: (f64, f64),
}

impl Source {
    /// Prepares `rgb` for the frames of `output` size of a `zoom` clip: the working image
    /// is at most [`oversample`] times the output at zoom 1, so no frame is an upscale
    /// of it.
    pub fn new(rgb: &RgbImage, output: (u32, u32), zoom: ZoomType) -> Result<Source, String> {
        let size = rgb.dimensions();
        if size.0 == 0 || size.1 == 0 {
            return Err("the image is empty".into());
        }
        let c = kenburns::cover(size, output);
        let oversample = oversample(zoom);
        let target = (oversample * f64::from(output.0), oversample * f64::from(output.1));
        if c.width > target.0 && c.height > target.1 {
            // Resample the cover box once to the working size.
            let (w, h) = (even(target.0), even(target.1));
            let src = ImageRef::new(size.0, size.1, rgb.as_raw(), PixelType::U8x3).map_err(|e| e.to_string())?;
            let mut dst = Image::new(w, h, PixelType::U8x3);
            let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(reduce_filter())).crop(c.x, c.y, c.width, c.height);
            Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())?;
            let (luma, cb, cr) = to_ycbcr(dst.buffer(), w, (0, 0, w, h));
            Ok(Source { size, luma, cb, cr, origin: (c.x, c.y), scale: (f64::from(w) / c.width, f64::from(h) / c.height) })
        } else {
            // Cut out the whole pixels under the cover box (and a margin), 1:1.
            let lo = |v: f64| (v.floor() as u32).saturating_sub(MARGIN);
            let hi = |v: f64, max: u32| (v.ceil() as u32).saturating_add(MARGIN).min(max);
            let (x0, y0) = (lo(c.x), lo(c.y));
            let (x1, y1) = (hi(c.right(), size.0), hi(c.bottom(), size.1));
            let (luma, cb, cr) = to_ycbcr(rgb.as_raw(), size.0, (x0, y0, x1 - x0, y1 - y0));
            Ok(Source { size, luma, cb, cr, origin: (f64::from(x0), f64::from(y0)), scale: (1.0, 1.0) })
        }
    }

    /// Size of the upright decoded image.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Size of the working luma plane.
    pub fn working_size(&self) -> (u32, u32) {
        (self.luma.width, self.luma.height)
    }

    /// A source-space box in working luma pixels.
    fn luma_box(&self, b: CropBox) -> CropBox {
        let (sx, sy) = self.scale;
        self.luma.clamp(CropBox {
            x: (b.x - self.origin.0) * sx,
            y: (b.y - self.origin.1) * sy,
            width: b.width * sx,
            height: b.height * sy,
        })
    }
}

/// The nearest even integer ≥ 2.
fn even(v: f64) -> u32 {
    ((v / 2.0).round() as u32).max(1) * 2
}

/// BT.709, limited range: Y' 16–235, Cb/Cr 16–240 around 128.
const KR: f32 = 0.2126;
const KB: f32 = 0.0722;
const KG: f32 = 1.0 - KR - KB;

fn luma_of(r: f32, g: f32, b: f32) -> f32 {
    KR * r + KG * g + KB * b
}

fn to_u8(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

/// Y', Cb, Cr planes (4:2:0, chroma averaged over 2×2 pixels) of the `(x0, y0, w, h)`
/// region of packed RGB rows `stride` pixels long.
fn to_ycbcr(rgb: &[u8], stride: u32, (x0, y0, w, h): (u32, u32, u32, u32)) -> (Plane, Plane, Plane) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (mut luma, mut cb, mut cr) = (Plane::new(w, h), Plane::new(cw, ch), Plane::new(cw, ch));
    let (stride, x0, y0, w, h) = (stride as usize, x0 as usize, y0 as usize, w as usize, h as usize);
    let (y_scale, c_scale) = (219.0 / 255.0, 224.0 / 255.0);
    for cy in 0..ch as usize {
        for cx in 0..cw as usize {
            let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
            for row in (2 * cy)..(2 * cy + 2).min(h) {
                for col in (2 * cx)..(2 * cx + 2).min(w) {
                    let i = ((y0 + row) * stride + x0 + col) * 3;
                    let (r, g, b) = (f32::from(rgb[i]), f32::from(rgb[i + 1]), f32::from(rgb[i + 2]));
                    luma.data[row * w + col] = to_u8(16.0 + y_scale * luma_of(r, g, b));
                    sum[0] += r;
                    sum[1] += g;
                    sum[2] += b;
                    n += 1.0;
                }
            }
            let (r, g, b) = (sum[0] / n, sum[1] / n, sum[2] / n);
            let y = luma_of(r, g, b);
            cb.data[cy * cw as usize + cx] = to_u8(128.0 + c_scale * (b - y) / (2.0 * (1.0 - KB)));
            cr.data[cy * cw as usize + cx] = to_u8(128.0 + c_scale * (r - y) / (2.0 * (1.0 - KR)));
        }
    }
    (luma, cb, cr)
}

/// Renders frames of one size from one [`Source`], reusing its buffers.
pub struct Renderer<'a> {
    source: &'a Source,
    size: (u32, u32),
    resampler: Resampler,
    frame: Vec<u8>,
}

impl<'a> Renderer<'a> {
    /// Frames of `size` (even width and height).
    pub fn new(source: &'a Source, size: (u32, u32)) -> Renderer<'a> {
        let len = size.0 as usize * size.1 as usize * 3 / 2;
        Renderer { source, size, resampler: Resampler::default(), frame: vec![0; len] }
    }

    /// The yuv420p frame showing the source-space box `b`.
    pub fn render(&mut self, b: CropBox) -> io::Result<&[u8]> {
        let (w, h) = self.size;
        let s = self.source;
        let luma = s.luma_box(b);
        // Output chroma sample j sits on output luma column 2j (left siting) and between
        // rows 2j and 2j+1; source chroma sits at the centre of its 2×2 block.
        let chroma = s.cb.clamp(CropBox {
            x: luma.x / 2.0 - 0.25 * luma.width / f64::from(w),
            y: luma.y / 2.0,
            width: luma.width / 2.0,
            height: luma.height / 2.0,
        });
        let quarter = (w as usize / 2) * (h as usize / 2);
        let (y, uv) = self.frame.split_at_mut(w as usize * h as usize);
        let (u, v) = uv.split_at_mut(quarter);
        self.resampler.resample(&s.luma, luma, y, (w, h))?;
        self.resampler.resample(&s.cb, chroma, u, (w / 2, h / 2))?;
        self.resampler.resample(&s.cr, chroma, v, (w / 2, h / 2))?;
        Ok(&self.frame)
    }
}

/// Resamples a box of a plane in two single-direction passes of fast_image_resize (the
/// same filter, coefficients and rounding as its own two-pass resize): vertical on the
/// plane, then horizontal with four rows packed into the channels of one 4-channel row.
/// Its 1-channel horizontal pass is several times slower than its 4-channel one.
#[derive(Default)]
struct Resampler {
    resizer: Resizer,
    /// The vertical pass's output: the box's rows resampled, over the columns in reach.
    rows: Vec<u8>,
    /// `rows`, four rows to a row of 4-channel pixels; then the horizontal pass's output.
    packed: Vec<u8>,
    out4: Vec<u8>,
}

impl Resampler {
    fn resample(&mut self, plane: &Plane, b: CropBox, out: &mut [u8], (w, h): (u32, u32)) -> io::Result<()> {
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FRAME_FILTER)).use_alpha(false);
        // Columns the horizontal filter reads: its reach around the box, and 1 px spare.
        let reach = 2.0 * (b.width / f64::from(w)).max(1.0) + 1.0;
        let x0 = (b.x - reach).floor().max(0.0) as u32;
        let x1 = ((b.right() + reach).ceil() as u32).clamp(x0 + 1, plane.width);
        let (span, groups) = ((x1 - x0) as usize, h.div_ceil(4));

        let rows_buf = at_least(&mut self.rows, span * h as usize);
        let src = ImageRef::new(plane.width, plane.height, &plane.data, PixelType::U8).map_err(io::Error::other)?;
        let mut rows = Image::from_slice_u8(x1 - x0, h, rows_buf, PixelType::U8).map_err(io::Error::other)?;
        self.resizer.resize(&src, &mut rows, &options.crop(f64::from(x0), b.y, f64::from(x1 - x0), b.height)).map_err(io::Error::other)?;

        let packed = at_least(&mut self.packed, span * 4 * groups as usize);
        pack4(&self.rows[..span * h as usize], span, h as usize, packed);
        let out4 = at_least(&mut self.out4, w as usize * 4 * groups as usize);
        let src = ImageRef::new(x1 - x0, groups, packed, PixelType::U8x4).map_err(io::Error::other)?;
        let mut dst = Image::from_slice_u8(w, groups, out4, PixelType::U8x4).map_err(io::Error::other)?;
        let crop = options.crop(b.x - f64::from(x0), 0.0, b.width, f64::from(groups));
        self.resizer.resize(&src, &mut dst, &crop).map_err(io::Error::other)?;
        unpack4(out4, w as usize, h as usize, out);
        Ok(())
    }
}

/// The first `len` bytes of `buf`, grown (never shrunk) to hold them: the planes of a
/// frame take turns with one resampler's buffers, which are zeroed only when they grow.
fn at_least(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    &mut buf[..len]
}

/// Rows `4g..4g+4` of `rows` (`h` rows of `span`) as the channels of row `g` of `packed`;
/// a last group short of rows repeats the last row. Written as whole-word arithmetic
/// (byte `c` of a little-endian word is channel `c`) so that it compiles to vector code.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn pack4(rows: &[u8], span: usize, h: usize, packed: &mut [u8]) {
    for (g, dst) in packed.chunks_exact_mut(span * 4).enumerate() {
        let row = |c: usize| {
            let r = (4 * g + c).min(h - 1);
            &rows[r * span..(r + 1) * span]
        };
        let (a, b, c, d) = (row(0), row(1), row(2), row(3));
        for (i, px) in dst.chunks_exact_mut(4).enumerate() {
            let word = u32::from(a[i]) | u32::from(b[i]) << 8 | u32::from(c[i]) << 16 | u32::from(d[i]) << 24;
            px.copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// The inverse of [`pack4`] into `h` rows of `w`.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn unpack4(packed: &[u8], w: usize, h: usize, out: &mut [u8]) {
    // Whole groups: each word read once, its four bytes to four rows.
    for (src, rows) in packed.chunks_exact(w * 4).zip(out[..w * h].chunks_exact_mut(w * 4)) {
        let (a, rest) = rows.split_at_mut(w);
        let (b, rest) = rest.split_at_mut(w);
        let (c, d) = rest.split_at_mut(w);
        for ((((px, a), b), c), d) in src.chunks_exact(4).zip(a).zip(b).zip(c).zip(d) {
            let word = u32::from_le_bytes([px[0], px[1], px[2], px[3]]);
            (*a, *b, *c, *d) = (word as u8, (word >> 8) as u8, (word >> 16) as u8, (word >> 24) as u8);
        }
    }
    // The last group, short of rows when `h` is not a multiple of 4.
    let g = h / 4;
    for c in 0..h % 4 {
        let (r, src) = (4 * g + c, &packed[g * w * 4..(g + 1) * w * 4]);
        for (o, px) in out[r * w..(r + 1) * w].iter_mut().zip(src.chunks_exact(4)) {
            *o = px[c];
        }
    }
}

/// Writes the `frames` yuv420p frames of a `zoom` clip of `size` to `out`.
pub fn write_clip(source: &Source, size: (u32, u32), zoom: ZoomType, frames: u32, easing: Easing, out: &mut impl Write) -> io::Result<()> {
    let mut renderer = Renderer::new(source, size);
    for b in kenburns::path(source.size, size, zoom, frames, easing) {
        out.write_all(renderer.render(b)?)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(w, h, |_, _| image::Rgb(rgb))
    }

    #[test]
    fn bt709_limited_range_colours() {
        let frame = |rgb| {
            let s = Source::new(&solid(64, 36, rgb), (32, 18), ZoomType::Zoomin).unwrap();
            let mut r = Renderer::new(&s, (32, 18));
            let f = r.render(kenburns::cover((64, 36), (32, 18))).unwrap().to_vec();
            (f[0], f[32 * 18], f[32 * 18 + 16 * 9])
        };
        assert_eq!(frame([0, 0, 0]), (16, 128, 128));
        assert_eq!(frame([255, 255, 255]), (235, 128, 128));
        // BT.709 red: Y' = 16 + 219 × 0.2126, Cr = 240.
        assert_eq!(frame([255, 0, 0]), (63, 102, 240));
        assert_eq!(frame([0, 0, 255]), (32, 240, 118));
    }

    #[test]
    fn transparent_pixels_become_black() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(2, 1, |x, _| image::Rgba([255, 255, 255, [0, 128][x as usize]])));
        assert_eq!(over_black(img).as_raw(), &[0, 0, 0, 128, 128, 128]);
    }

    #[test]
    fn huge_sources_are_reduced_to_the_cover_box_once() {
        let s = Source::new(&solid(1500, 1000, [10, 20, 30]), (640, 360), ZoomType::Zoomin).unwrap();
        assert_eq!(s.working_size(), (832, 468));
        assert_eq!(s.size(), (1500, 1000));
        // The zoom-1 box is the whole working image; the last zoomin box its centre, 1:1.
        let c = s.luma_box(kenburns::cover((1500, 1000), (640, 360)));
        assert!(c.x.abs() < 1e-9 && c.y.abs() < 1e-9 && (c.width - 832.0).abs() < 1e-9 && (c.height - 468.0).abs() < 1e-9, "{c:?}");
        let b = s.luma_box(kenburns::crop_box((1500, 1000), (640, 360), ZoomType::Zoomin, 1, 2, Easing::Linear));
        assert!((b.centre().0 - 416.0).abs() < 1e-9 && (b.width - 640.0).abs() < 1e-9 && (b.height - 360.0).abs() < 1e-9, "{b:?}");
        // A pan's zoom stays at 1.2; its working image is 1.5× the output, so each of its
        // crop boxes is a 1.25× downscale, never 1:1.
        let s = Source::new(&solid(1500, 1000, [10, 20, 30]), (640, 360), ZoomType::Zoompanright).unwrap();
        assert_eq!(s.working_size(), (960, 540));
        let b = s.luma_box(kenburns::crop_box((1500, 1000), (640, 360), ZoomType::Zoompanright, 0, 2, Easing::Linear));
        assert!((b.width - 800.0).abs() < 1e-9 && (b.height - 450.0).abs() < 1e-9, "{b:?}");
        // A small source is cut 1:1 around its cover box.
        let s = Source::new(&solid(800, 600, [0; 3]), (640, 360), ZoomType::Zoomin).unwrap();
        assert_eq!((s.working_size(), s.origin), ((800, 454), (0.0, 73.0)));
        let s = Source::new(&solid(15, 9, [0; 3]), (360, 640), ZoomType::Zoomout).unwrap();
        assert_eq!((s.working_size(), s.cb.width, s.cb.height), ((11, 9), 6, 5));
    }

    #[test]
    fn windows_ending_on_a_source_pixel_stay_inside_the_image() {
        // This box centres the last output column exactly on a source pixel, which made
        // fast_image_resize's two-pass resize read past its intermediate image (caught
        // by the debug build's precondition checks); the frame passes don't go there.
        let plane = Plane { width: 320, height: 180, data: (0..320 * 180).map(|i| (i % 251) as u8).collect() };
        let b = CropBox { x: 9.561224489795936, y: 5.510204081632665, width: 300.4081632653061, height: 168.97959183673467 };
        let mut out = vec![0; 320 * 180];
        Resampler::default().resample(&plane, b, &mut out, (320, 180)).unwrap();
        // Lanczos3, never exactly 0.
        assert!((lanczos3(0.5) - 0.6079271018540267).abs() < 1e-12 && lanczos3(1.0).abs() < 1e-15);
        assert_eq!((lanczos3(3.0), lanczos3(-4.0)), (f64::MIN_POSITIVE, f64::MIN_POSITIVE));
    }

    #[test]
    fn two_pass_resampling_matches_a_direct_resize() {
        // The packed two-pass resample computes what fast_image_resize's own 2-D resize
        // does (up to the rounding of its intermediate rows), for any box and size.
        let plane = Plane { width: 97, height: 61, data: (0..97 * 61).map(|i| ((i * 37) % 256) as u8).collect() };
        for (b, size) in [
            (CropBox { x: 3.25, y: 1.5, width: 80.0, height: 45.0 }, (64, 36)),
            (CropBox { x: 0.0, y: 0.0, width: 97.0, height: 61.0 }, (30, 18)),
            (CropBox { x: 10.1, y: 7.7, width: 21.0, height: 13.0 }, (62, 38)),
        ] {
            let mut packed = vec![0; (size.0 * size.1) as usize];
            Resampler::default().resample(&plane, b, &mut packed, size).unwrap();
            let src = ImageRef::new(97, 61, &plane.data, PixelType::U8).unwrap();
            let mut direct = Image::new(size.0, size.1, PixelType::U8);
            let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FRAME_FILTER)).crop(b.x, b.y, b.width, b.height);
            Resizer::new().resize(&src, &mut direct, &options).unwrap();
            let worst = packed.iter().zip(direct.buffer()).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(worst <= Some(1), "{b:?} → {size:?}: off by {worst:?}");
        }
    }

    #[test]
    fn clips_are_exactly_the_frames_asked_for() {
        let s = Source::new(&solid(100, 80, [200, 100, 50]), (64, 36), ZoomType::Zoompanright).unwrap();
        let mut out = Vec::new();
        write_clip(&s, (64, 36), ZoomType::Zoompanright, 7, Easing::Linear, &mut out).unwrap();
        assert_eq!(out.len(), 7 * 64 * 36 * 3 / 2);
    }

    #[test]
    fn pictures_past_the_pixel_limit_are_refused_from_their_header() {
        // A PNG whose header claims 12000×12000 (144 Mpx) over a few bytes of data.
        let crc = |bytes: &[u8]| {
            let mut c = !0u32;
            for b in bytes {
                c ^= u32::from(*b);
                for _ in 0..8 {
                    c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
                }
            }
            !c
        };
        let chunk = |kind: &[u8], data: &[u8]| {
            let body = [kind, data].concat();
            [(data.len() as u32).to_be_bytes().as_slice(), &body, &crc(&body).to_be_bytes()].concat()
        };
        let png = |side: u32| {
            let ihdr = [side.to_be_bytes().as_slice(), &side.to_be_bytes(), &[8, 6, 0, 0, 0]].concat();
            let idat = [0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01];
            [b"\x89PNG\r\n\x1a\n".as_slice(), &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &idat), &chunk(b"IEND", &[])].concat()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.png");
        std::fs::write(&path, png(12_000)).unwrap();
        assert!(matches!(decode(&path), Err(image::ImageError::Limits(_))), "{:?}", decode(&path).map(|i| i.dimensions()));
        // Within the limit the same header is decoded (and its missing data reported).
        std::fs::write(&path, png(100)).unwrap();
        assert!(matches!(decode(&path), Err(image::ImageError::Decoding(_))), "{:?}", decode(&path).map(|i| i.dimensions()));
    }
}
