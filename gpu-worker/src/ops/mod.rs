//! Operations: each a typed argument builder (tested for exact output) plus the code
//! that runs it on real files (in `executor`).

pub mod addaudio;
pub mod audio;
pub mod av;
pub mod burn;
pub mod concat;
pub mod cut;
pub mod downsample;
pub mod img2vid;
pub mod music;
pub mod render;
pub mod segment;
pub mod transcribe;
pub mod transcribe_youtube;
