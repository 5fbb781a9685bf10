//! Operations: each a typed argument builder (tested for exact output) plus the code
//! that runs it on real files.

pub mod img2vid;
