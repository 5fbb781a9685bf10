//! The model registry (name → directory, from the environment), the compute type the
//! models run in (`WHISPER_COMPUTE_TYPE`), and the loaded models, each loaded once and kept
//! warm for later jobs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ct2rs::sys::{self, Config, Device, Whisper};

use super::TranscribeError;
use super::tokens::Vocab;

/// Where the models are, by name, and the names that stand for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub models: BTreeMap<String, PathBuf>,
    pub default: Option<String>,
    /// Operator-set aliases (`WHISPER_MODEL_ALIASES`): a name requests ask for (the seed's
    /// `large-v3`, `turbo`, …) → the configured model that runs in its place.
    pub aliases: BTreeMap<String, String>,
}

impl Registry {
    /// `WHISPER_MODELS_DIR` (default `$API_GPU_CACHE/models`, else `~/.cache/api-gpu/models`):
    /// each subdirectory holding a `model.bin` is a model named after the subdirectory.
    /// `WHISPER_MODELS="name=/dir,name2=/dir2"` adds or overrides entries.
    /// `WHISPER_DEFAULT_MODEL` names the default; else the first name in sorted order.
    /// `WHISPER_MODEL_ALIASES="large-v3=large-v3-turbo,medium=base"` lets requests name a
    /// model this worker does not carry and get the configured one in its place.
    pub fn from_env() -> Registry {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let root = var("WHISPER_MODELS_DIR").map(PathBuf::from).or_else(|| {
            var("API_GPU_CACHE")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache/api-gpu")))
                .map(|c| c.join("models"))
        });
        Registry::new(root.as_deref(), var("WHISPER_MODELS").as_deref(), var("WHISPER_DEFAULT_MODEL"))
            .with_aliases(var("WHISPER_MODEL_ALIASES").as_deref())
    }

    pub fn new(root: Option<&Path>, list: Option<&str>, default: Option<String>) -> Registry {
        let mut models = BTreeMap::new();
        if let Some(Ok(entries)) = root.map(std::fs::read_dir) {
            for entry in entries.flatten() {
                let dir = entry.path();
                if dir.join("model.bin").is_file()
                    && let Some(name) = dir.file_name().and_then(|n| n.to_str())
                {
                    models.insert(name.to_owned(), dir.clone());
                }
            }
        }
        for item in list.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some((name, dir)) = item.split_once('=') {
                models.insert(name.trim().to_owned(), PathBuf::from(dir.trim()));
            }
        }
        let default = default.or_else(|| models.keys().next().cloned());
        Registry { models, default, aliases: BTreeMap::new() }
    }

    /// Adds `alias=model` pairs (comma-separated). A configured model keeps its own name:
    /// an alias never shadows a model that is there.
    pub fn with_aliases(mut self, list: Option<&str>) -> Registry {
        for item in list.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some((alias, target)) = item.split_once('=') {
                self.aliases.insert(alias.trim().to_owned(), target.trim().to_owned());
            }
        }
        self
    }

    /// The configured model a request's name (or the default, for none) runs on: the name
    /// itself when configured, else its alias's target when that is configured.
    pub fn resolve<'a>(&'a self, requested: Option<&'a str>) -> Option<(&'a str, &'a Path)> {
        let name = requested.or(self.default.as_deref())?;
        if let Some((name, dir)) = self.models.get_key_value(name) {
            return Some((name.as_str(), dir.as_path()));
        }
        let target = self.aliases.get(name)?;
        self.models.get_key_value(target.as_str()).map(|(name, dir)| (name.as_str(), dir.as_path()))
    }

    /// Every name a request may give: the models and the aliases that lead to one, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.models.keys().cloned().collect();
        names.extend(
            self.aliases
                .iter()
                .filter(|(a, t)| !self.models.contains_key(*a) && self.models.contains_key(*t))
                .map(|(a, t)| format!("{a}→{t}")),
        );
        names
    }
}

/// The numeric types CTranslate2 computes in (`WHISPER_COMPUTE_TYPE`), the choice
/// faster-whisper's `compute_type` offers. Weights are converted at load time from what the
/// model holds (float16 for the `faster-whisper-*` models). On a CPU: `float32` (the
/// default; the model's float16 weights widened), `int8` (8-bit weights, half the CPU work
/// and a quarter of the memory; with float32 activations on a CPU, so it runs as
/// `int8_float32`), `int8_float32`. On CUDA: `float16` (the default) and the others
/// CTranslate2 offers there; `bfloat16` needs compute capability 8.0 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeType {
    Float32,
    Int8,
    Int8Float32,
    Float16,
    Int8Float16,
    Bfloat16,
    Int8Bfloat16,
}

impl ComputeType {
    /// The types a CPU build accepts, the default first.
    pub const CPU: &'static [ComputeType] = &[ComputeType::Float32, ComputeType::Int8, ComputeType::Int8Float32];
    /// The types a `cuda` build accepts, the default first.
    pub const CUDA: &'static [ComputeType] = &[
        ComputeType::Float16,
        ComputeType::Int8Float16,
        ComputeType::Int8,
        ComputeType::Float32,
        ComputeType::Int8Float32,
        ComputeType::Bfloat16,
        ComputeType::Int8Bfloat16,
    ];

    /// The types a build runs: [`Self::CUDA`] for the `cuda` build, else [`Self::CPU`].
    pub const fn supported(cuda: bool) -> &'static [ComputeType] {
        if cuda { Self::CUDA } else { Self::CPU }
    }

    /// CTranslate2's (and faster-whisper's) name.
    pub const fn name(self) -> &'static str {
        match self {
            ComputeType::Float32 => "float32",
            ComputeType::Int8 => "int8",
            ComputeType::Int8Float32 => "int8_float32",
            ComputeType::Float16 => "float16",
            ComputeType::Int8Float16 => "int8_float16",
            ComputeType::Bfloat16 => "bfloat16",
            ComputeType::Int8Bfloat16 => "int8_bfloat16",
        }
    }

    /// `WHISPER_COMPUTE_TYPE`'s value (case and surrounding blanks ignored), among the types
    /// the build (`cuda` or not) runs; the error names the variable and the choices.
    pub fn parse(value: &str, cuda: bool) -> Result<ComputeType, String> {
        let supported = Self::supported(cuda);
        let wanted = value.trim().to_ascii_lowercase();
        supported.iter().copied().find(|t| t.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = supported.iter().map(|t| t.name()).collect();
            format!(
                "WHISPER_COMPUTE_TYPE={value:?} is not a compute type {} runs; use one of {} (default {}), or unset it",
                if cuda { "the CUDA build" } else { "a CPU build" },
                names.join(", "),
                supported[0]
            )
        })
    }

    const fn ct2(self) -> sys::ComputeType {
        match self {
            ComputeType::Float32 => sys::ComputeType::FLOAT32,
            ComputeType::Int8 => sys::ComputeType::INT8,
            ComputeType::Int8Float32 => sys::ComputeType::INT8_FLOAT32,
            ComputeType::Float16 => sys::ComputeType::FLOAT16,
            ComputeType::Int8Float16 => sys::ComputeType::INT8_FLOAT16,
            ComputeType::Bfloat16 => sys::ComputeType::BFLOAT16,
            ComputeType::Int8Bfloat16 => sys::ComputeType::INT8_BFLOAT16,
        }
    }
}

impl Default for ComputeType {
    /// `float32` on a CPU build, `float16` on the `cuda` build.
    fn default() -> Self {
        Self::supported(cfg!(feature = "cuda"))[0]
    }
}

impl std::fmt::Display for ComputeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded model: CTranslate2's Whisper and its vocabulary.
pub struct Model {
    pub name: String,
    pub whisper: Whisper,
    pub vocab: Vocab,
    /// English-only (`.en`) models take no language or task tokens.
    pub multilingual: bool,
    pub n_mels: usize,
    /// What it was loaded to compute in.
    pub compute_type: ComputeType,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("multilingual", &self.multilingual)
            .field("compute_type", &self.compute_type)
            .finish()
    }
}

fn device_config(compute_type: ComputeType) -> Config {
    // The `cuda` build runs on the GPU.
    let device = if cfg!(feature = "cuda") { Device::CUDA } else { Device::CPU };
    Config { device, compute_type: compute_type.ct2(), ..Config::default() }
}

impl Model {
    pub fn load(name: &str, dir: &Path, compute_type: ComputeType) -> Result<Model, TranscribeError> {
        let fail = |e: String| TranscribeError::new("model-load-failed", format!("model {name} ({}): {e}", dir.display()));
        let vocab = Vocab::load(dir).map_err(fail)?;
        let whisper =
            Whisper::new(dir, device_config(compute_type)).map_err(|e| fail(format!("{e} (WHISPER_COMPUTE_TYPE={compute_type})")))?;
        let multilingual = whisper.is_multilingual();
        let n_mels = whisper.n_mels();
        Ok(Model { name: name.to_owned(), whisper, vocab, multilingual, n_mels, compute_type })
    }
}

/// Loaded models by name. One lock: a second job for a model being loaded waits for it
/// rather than loading it twice.
#[derive(Debug, Default)]
pub struct Cache {
    loaded: Mutex<HashMap<String, Arc<Model>>>,
}

impl Cache {
    /// The model, loading it first if needed; also the milliseconds spent loading (0 when warm).
    pub fn get(&self, name: &str, dir: &Path, compute_type: ComputeType) -> Result<(Arc<Model>, u64), TranscribeError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(model) = loaded.get(name) {
            return Ok((Arc::clone(model), 0));
        }
        let started = Instant::now();
        let model = Arc::new(Model::load(name, dir, compute_type)?);
        loaded.insert(name.to_owned(), Arc::clone(&model));
        Ok((model, started.elapsed().as_millis() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_from_a_root_and_a_list() {
        let Ok(root) = tempfile::tempdir() else { panic!("tempdir") };
        for name in ["tiny.en", "base", "empty"] {
            let Ok(()) = std::fs::create_dir(root.path().join(name)) else { panic!("mkdir") };
        }
        for name in ["tiny.en", "base"] {
            let Ok(()) = std::fs::write(root.path().join(name).join("model.bin"), b"x") else { panic!("write") };
        }
        let r = Registry::new(Some(root.path()), Some("large-v3=/models/lv3, base=/elsewhere"), None);
        let names: Vec<&str> = r.models.keys().map(String::as_str).collect();
        assert_eq!(names, vec!["base", "large-v3", "tiny.en"]);
        assert_eq!(r.models["base"], PathBuf::from("/elsewhere"));
        assert_eq!(r.default.as_deref(), Some("base"));
        let r = Registry::new(None, Some("a=/x"), Some("tiny.en".into()));
        assert_eq!(r.default.as_deref(), Some("tiny.en"));
        assert!(Registry::new(Some(Path::new("/nonexistent")), None, None).models.is_empty());
    }

    #[test]
    fn compute_types_by_build() {
        assert_eq!(ComputeType::parse("float32", false), Ok(ComputeType::Float32));
        assert_eq!(ComputeType::parse(" INT8 ", false), Ok(ComputeType::Int8));
        assert_eq!(ComputeType::parse("int8_float32", false), Ok(ComputeType::Int8Float32));
        assert_eq!(ComputeType::parse("float16", true), Ok(ComputeType::Float16));
        assert_eq!(ComputeType::parse("int8_bfloat16", true), Ok(ComputeType::Int8Bfloat16));
        // float16 has no CPU kernels in CTranslate2: refused at start, not at the first job.
        let e = ComputeType::parse("float16", false).unwrap_err();
        assert_eq!(
            e,
            "WHISPER_COMPUTE_TYPE=\"float16\" is not a compute type a CPU build runs; use one of float32, int8, int8_float32 (default float32), or unset it"
        );
        let e = ComputeType::parse("fp16", true).unwrap_err();
        assert!(e.contains("the CUDA build") && e.contains("(default float16)"), "{e}");
        for t in ComputeType::CUDA {
            assert_eq!(ComputeType::parse(t.name(), true), Ok(*t), "names round-trip");
            assert_eq!(t.ct2().to_string(), t.name(), "our name is CTranslate2's");
        }
        let default = if cfg!(feature = "cuda") { ComputeType::Float16 } else { ComputeType::Float32 };
        assert_eq!(ComputeType::default(), default);
    }

    #[test]
    fn aliases_lead_to_configured_models_only() {
        let r = Registry::new(None, Some("base=/m/base,tiny.en=/m/tiny"), Some("tiny.en".into()))
            .with_aliases(Some("large-v3=base, turbo = base,medium=missing,base=tiny.en"));
        assert_eq!(r.resolve(Some("large-v3")), Some(("base", Path::new("/m/base"))));
        assert_eq!(r.resolve(Some("turbo")), Some(("base", Path::new("/m/base"))));
        // A configured model keeps its own name even when an alias claims it.
        assert_eq!(r.resolve(Some("base")), Some(("base", Path::new("/m/base"))));
        assert_eq!(r.resolve(None), Some(("tiny.en", Path::new("/m/tiny"))));
        // An alias to a model that is not there resolves to nothing.
        assert_eq!(r.resolve(Some("medium")), None);
        assert_eq!(r.resolve(Some("small")), None);
        assert_eq!(r.names(), vec!["base", "tiny.en", "large-v3→base", "turbo→base"]);
    }
}
