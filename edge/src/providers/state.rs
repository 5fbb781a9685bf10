//! A provider job's progress, per scene or image index: what is waiting, being asked,
//! generated, being copied, done or failed; the claims that keep two events of the
//! Durable Object from doing the same call; retries with backoff (or the provider's
//! `Retry-After`) and their bounds; the next wake; the result. Pure: times are epoch
//! milliseconds passed in. The job's object saves it in SQLite beside the record after
//! every step (`wasm/provider_job.rs`).
//!
//! Prompts: one call carries every scene; scenes missing from its answer are asked
//! again alone, at most [`MAX_REASKS`] times each. Images: up to `IMAGES_IN_FLIGHT`
//! images are generated (one request, a task each) or copied into storage at once.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::openrouter::Answer;
use super::runware::TaskOutcome;
use super::{ProviderError, ProviderSettings, Usage};

/// How often a scene missing from answers is asked again alone.
pub const MAX_REASKS: u32 = 2;
/// A call or copy claimed this long past the provider timeout is taken to be lost
/// (the object was evicted while it waited) and is made again.
pub const STALE_GRACE_MS: i64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Prompts,
    Images,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for its (next) provider call, not before `not_before_ms`.
    Pending,
    /// In a provider call claimed at `since_ms`.
    Calling,
    /// Images: generated at the provider, waiting to be copied into storage.
    Generated,
    /// Images: being copied, claimed at `since_ms`.
    Copying,
    Done,
    Failed,
}

/// Why a scene or image failed: a stable code and the provider's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

impl From<&ProviderError> for ItemError {
    fn from(e: &ProviderError) -> Self {
        ItemError { code: e.code().into(), message: e.message().into() }
    }
}

/// An image copied into the tenant's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub key: String,
    pub bytes: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub index: u32,
    pub stage: Stage,
    /// Provider calls that carried it (for prompts: since the one call for every scene).
    pub attempts: u32,
    pub not_before_ms: i64,
    /// The claim of the call or copy in progress.
    pub since_ms: Option<i64>,
    /// Prompts: the prompt generated. Images: the prompt asked.
    pub prompt: Option<String>,
    /// Images: the provider's URL of the generated image (it expires).
    pub provider_url: Option<String>,
    pub copy_attempts: u32,
    pub stored: Option<Stored>,
    /// The failure (final when `Failed`; the last one while it is retried).
    pub error: Option<ItemError>,
}

impl Item {
    fn new(index: u32, prompt: Option<String>) -> Item {
        Item {
            index,
            stage: Stage::Pending,
            attempts: 0,
            not_before_ms: 0,
            since_ms: None,
            prompt,
            provider_url: None,
            copy_attempts: 0,
            stored: None,
            error: None,
        }
    }

    fn unfinished(&self) -> bool {
        !matches!(self.stage, Stage::Done | Stage::Failed)
    }

    fn fail(&mut self, e: ItemError) {
        self.stage = Stage::Failed;
        self.since_ms = None;
        self.error = Some(e);
    }
}

/// Prompts: the one call that carries every scene, until it is answered or given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub attempts: u32,
    pub not_before_ms: i64,
    pub since_ms: Option<i64>,
}

/// One provider call or copy to make now, under `claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Ask prompts for these scenes (every scene in the first call; then one alone).
    Prompts { claim: i64, indexes: BTreeSet<u32> },
    /// Generate these images (one request, a task each); `attempt` of each for its task id.
    Generate { claim: i64, images: Vec<(u32, u32)> },
    /// Copy image `index` from the provider into storage.
    Copy { claim: i64, index: u32 },
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Running,
    /// Every index is done or failed, and at least one is done.
    Completed,
    /// Every index failed: the job fails with this error.
    Failed(ItemError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderJob {
    pub kind: JobKind,
    /// By index, ascending.
    pub items: Vec<Item>,
    pub batch: Option<Batch>,
    pub usage: Usage,
    /// Images: the provider's reported cost, summed.
    pub cost: f64,
    /// Prompts: the model that answered (the configured one when the calls were made).
    #[serde(default)]
    pub model: Option<String>,
}

impl ProviderJob {
    /// Scene indexes to prompt for (duplicates once).
    pub fn prompts(indexes: impl IntoIterator<Item = u32>) -> ProviderJob {
        let set: BTreeSet<u32> = indexes.into_iter().collect();
        ProviderJob {
            kind: JobKind::Prompts,
            items: set.into_iter().map(|i| Item::new(i, None)).collect(),
            batch: Some(Batch { attempts: 0, not_before_ms: 0, since_ms: None }),
            usage: Usage::default(),
            cost: 0.0,
            model: None,
        }
    }

    /// `(index, prompt)` of each image to generate (a repeated index once, its first prompt).
    pub fn images(prompts: impl IntoIterator<Item = (u32, String)>) -> ProviderJob {
        let mut items: Vec<Item> = vec![];
        for (i, p) in prompts {
            if !items.iter().any(|it| it.index == i) {
                items.push(Item::new(i, Some(p)));
            }
        }
        items.sort_by_key(|it| it.index);
        ProviderJob { kind: JobKind::Images, items, batch: None, usage: Usage::default(), cost: 0.0, model: None }
    }

    fn item(&mut self, index: u32) -> Option<&mut Item> {
        self.items.iter_mut().find(|it| it.index == index)
    }

    fn stale_ms(s: &ProviderSettings) -> i64 {
        s.timeout.as_millis() as i64 + STALE_GRACE_MS
    }

    /// Claims the calls and copies to make now and marks them in progress (the caller
    /// saves before making them). Calls and copies whose claim went stale are released
    /// first.
    pub fn claim(&mut self, now_ms: i64, s: &ProviderSettings) -> Vec<Work> {
        let stale = Self::stale_ms(s);
        for it in &mut self.items {
            if it.since_ms.is_some_and(|t| t + stale <= now_ms) {
                it.since_ms = None;
                it.stage = if it.stage == Stage::Copying { Stage::Generated } else { Stage::Pending };
            }
        }
        if let Some(b) = &mut self.batch
            && b.since_ms.is_some_and(|t| t + stale <= now_ms)
        {
            b.since_ms = None;
        }
        let due = |it: &Item, stage: Stage| it.stage == stage && it.not_before_ms <= now_ms;
        match self.kind {
            JobKind::Prompts => {
                if let Some(b) = &mut self.batch {
                    if b.since_ms.is_some() || b.not_before_ms > now_ms {
                        return vec![];
                    }
                    b.since_ms = Some(now_ms);
                    let mut indexes = BTreeSet::new();
                    for it in self.items.iter_mut().filter(|it| it.stage == Stage::Pending) {
                        it.stage = Stage::Calling;
                        it.since_ms = Some(now_ms);
                        indexes.insert(it.index);
                    }
                    return vec![Work::Prompts { claim: now_ms, indexes }];
                }
                let mut busy = self.items.iter().filter(|it| it.stage == Stage::Calling).count();
                let mut work = vec![];
                for it in &mut self.items {
                    if busy >= s.images_in_flight {
                        break;
                    }
                    if due(it, Stage::Pending) {
                        it.stage = Stage::Calling;
                        it.since_ms = Some(now_ms);
                        it.attempts += 1;
                        busy += 1;
                        work.push(Work::Prompts { claim: now_ms, indexes: [it.index].into() });
                    }
                }
                work
            }
            JobKind::Images => {
                let mut busy = self.items.iter().filter(|it| matches!(it.stage, Stage::Calling | Stage::Copying)).count();
                let mut work = vec![];
                for it in &mut self.items {
                    if busy < s.images_in_flight && due(it, Stage::Generated) {
                        it.stage = Stage::Copying;
                        it.since_ms = Some(now_ms);
                        busy += 1;
                        work.push(Work::Copy { claim: now_ms, index: it.index });
                    }
                }
                let mut images = vec![];
                for it in &mut self.items {
                    if busy < s.images_in_flight && due(it, Stage::Pending) {
                        it.stage = Stage::Calling;
                        it.since_ms = Some(now_ms);
                        it.attempts += 1;
                        busy += 1;
                        images.push((it.index, it.attempts));
                    }
                }
                if !images.is_empty() {
                    work.push(Work::Generate { claim: now_ms, images });
                }
                work
            }
        }
    }

    /// The index is in a call under `claim` (not released as stale, not ended since).
    fn holds(&self, index: u32, stage: Stage, claim: i64) -> bool {
        self.items.iter().any(|it| it.index == index && it.stage == stage && it.since_ms == Some(claim))
    }

    /// A failed call for `index`: tried again after the backoff while attempts remain
    /// and the error may pass, failed otherwise.
    fn retry_or_fail(&mut self, index: u32, e: &ProviderError, now_ms: i64, s: &ProviderSettings) {
        let Some(it) = self.item(index) else { return };
        it.since_ms = None;
        it.error = Some(e.into());
        if e.is_retryable() && it.attempts < s.max_attempts {
            it.stage = Stage::Pending;
            it.not_before_ms = s.retry_at(now_ms, it.attempts, e.retry_after_secs());
        } else {
            it.stage = Stage::Failed;
        }
    }

    /// A bad key or no credit: nothing else can succeed either.
    fn fail_all(&mut self, e: &ProviderError) {
        for it in self.items.iter_mut().filter(|it| it.unfinished()) {
            it.fail(e.into());
        }
        self.batch = None;
    }

    /// The answer to a [`Work::Prompts`] call (`indexes` asked under `claim`).
    pub fn prompts_answered(
        &mut self,
        claim: i64,
        indexes: &BTreeSet<u32>,
        answer: Result<Answer, ProviderError>,
        now_ms: i64,
        s: &ProviderSettings,
    ) {
        let held: Vec<u32> = indexes.iter().copied().filter(|&i| self.holds(i, Stage::Calling, claim)).collect();
        let batch = self.batch.as_ref().is_some_and(|b| b.since_ms == Some(claim));
        match answer {
            Ok(a) => {
                self.usage.add(&a.usage);
                if batch {
                    self.batch = None;
                }
                for i in held {
                    let Some(it) = self.item(i) else { continue };
                    it.since_ms = None;
                    match a.prompts.get(&i) {
                        Some(p) => {
                            it.stage = Stage::Done;
                            it.prompt = Some(p.clone());
                        }
                        // Missing after the one call: asked alone now. After that, bounded.
                        None if batch => {
                            it.stage = Stage::Pending;
                            it.attempts = 0;
                            it.not_before_ms = now_ms;
                        }
                        None if it.attempts < MAX_REASKS => {
                            it.stage = Stage::Pending;
                            it.not_before_ms = now_ms;
                        }
                        None => it.fail(ItemError {
                            code: "prompt-missing".into(),
                            message: format!("the model gave no prompt for this scene in {} answers", it.attempts + 1),
                        }),
                    }
                }
            }
            Err(e) if e.is_fatal() => self.fail_all(&e),
            Err(e) if batch => {
                let Some(b) = &mut self.batch else { return };
                b.attempts += 1;
                b.since_ms = None;
                let retry = e.is_retryable() && b.attempts < s.max_attempts;
                b.not_before_ms = s.retry_at(now_ms, b.attempts, e.retry_after_secs());
                for i in held {
                    let Some(it) = self.item(i) else { continue };
                    it.since_ms = None;
                    it.error = Some((&e).into());
                    it.stage = if retry { Stage::Pending } else { Stage::Failed };
                }
                if !retry {
                    self.batch = None;
                }
            }
            Err(e) => {
                for i in held {
                    self.retry_or_fail(i, &e, now_ms, s);
                }
            }
        }
    }

    /// The answer to a [`Work::Generate`] request: each image's outcome by index, or
    /// the whole request's error.
    pub fn generated(
        &mut self,
        claim: i64,
        indexes: &[u32],
        answer: Result<Vec<(u32, TaskOutcome)>, ProviderError>,
        now_ms: i64,
        s: &ProviderSettings,
    ) {
        let held: Vec<u32> = indexes.iter().copied().filter(|&i| self.holds(i, Stage::Calling, claim)).collect();
        match answer {
            Err(e) if e.is_fatal() => self.fail_all(&e),
            Err(e) => {
                for i in held {
                    self.retry_or_fail(i, &e, now_ms, s);
                }
            }
            Ok(outcomes) => {
                if let Some(e) = outcomes.iter().find_map(|(_, o)| match o {
                    TaskOutcome::Failed(e) if e.is_fatal() => Some(e.clone()),
                    _ => None,
                }) {
                    return self.fail_all(&e);
                }
                for (i, o) in outcomes {
                    if !held.contains(&i) {
                        continue;
                    }
                    match o {
                        TaskOutcome::Image { url, cost } => {
                            self.cost += cost.unwrap_or(0.0);
                            let Some(it) = self.item(i) else { continue };
                            it.stage = Stage::Generated;
                            it.since_ms = None;
                            it.not_before_ms = now_ms;
                            it.provider_url = Some(url);
                        }
                        TaskOutcome::Failed(e) => self.retry_or_fail(i, &e, now_ms, s),
                    }
                }
            }
        }
    }

    /// A [`Work::Copy`] ended: stored, or why not (retried, bounded: `image-copy-failed`).
    pub fn copied(&mut self, claim: i64, index: u32, result: Result<Stored, String>, now_ms: i64, s: &ProviderSettings) {
        if !self.holds(index, Stage::Copying, claim) {
            return;
        }
        let Some(it) = self.item(index) else { return };
        it.since_ms = None;
        match result {
            Ok(stored) => {
                it.stage = Stage::Done;
                it.stored = Some(stored);
            }
            Err(message) => {
                it.copy_attempts += 1;
                let e = ItemError { code: "image-copy-failed".into(), message };
                if it.copy_attempts < s.max_attempts {
                    it.stage = Stage::Generated;
                    it.not_before_ms = s.retry_at(now_ms, it.copy_attempts, None);
                    it.error = Some(e);
                } else {
                    it.fail(e);
                }
            }
        }
    }

    /// When the job's alarm should come back for it: the next retry, or a claim going stale.
    pub fn next_wake(&self, s: &ProviderSettings) -> Option<i64> {
        let stale = Self::stale_ms(s);
        let batch = self.batch.as_ref().map(|b| b.since_ms.map_or(b.not_before_ms, |t| t + stale));
        let items = self.items.iter().filter_map(|it| match it.stage {
            Stage::Pending if self.batch.is_none() => Some(it.not_before_ms),
            Stage::Generated => Some(it.not_before_ms),
            Stage::Calling | Stage::Copying if self.batch.is_none() || it.stage == Stage::Copying => it.since_ms.map(|t| t + stale),
            _ => None,
        });
        batch.into_iter().chain(items).min()
    }

    /// Indexes done, and in all.
    pub fn counts(&self) -> (usize, usize) {
        (self.items.iter().filter(|it| it.stage == Stage::Done).count(), self.items.len())
    }

    pub fn outcome(&self) -> Outcome {
        if self.items.iter().any(Item::unfinished) {
            return Outcome::Running;
        }
        if self.items.iter().any(|it| it.stage == Stage::Done) {
            return Outcome::Completed;
        }
        let codes: BTreeSet<&str> = self.items.iter().filter_map(|it| it.error.as_ref()).map(|e| e.code.as_str()).collect();
        let what = match self.kind {
            JobKind::Prompts => "scene",
            JobKind::Images => "image",
        };
        let first = self.items.iter().find_map(|it| it.error.clone());
        match (codes.len(), first) {
            (1, Some(e)) => ItemError { code: e.code, message: format!("every {what} failed: {}", e.message) },
            _ => ItemError {
                code: format!("{}-generation-failed", if self.kind == JobKind::Prompts { "prompt" } else { "image" }),
                message: format!("every {what} failed ({})", codes.into_iter().collect::<Vec<_>>().join(", ")),
            },
        }
        .into_failed()
    }

    /// `[{index, code, message}]` of the indexes that failed.
    pub fn failures(&self) -> Vec<Value> {
        self.items
            .iter()
            .filter(|it| it.stage == Stage::Failed)
            .map(|it| {
                let e = it.error.clone().unwrap_or(ItemError { code: "failed".into(), message: String::new() });
                json!({"index": it.index, "code": e.code, "message": e.message})
            })
            .collect()
    }

    fn success_rate(&self) -> String {
        let (done, total) = self.counts();
        format!("{:.1}%", if total == 0 { 0.0 } else { done as f64 * 100.0 / total as f64 })
    }

    /// `/image/prompts`' result fields: `prompts[{index, prompt}]` sorted, `failed`,
    /// `stats{totalScenes, promptsGenerated, successRate}` (the seed's), `usage`.
    pub fn prompts_result(&self, model: &str) -> Value {
        let prompts: Vec<Value> = self
            .items
            .iter()
            .filter(|it| it.stage == Stage::Done)
            .filter_map(|it| Some(json!({"index": it.index, "prompt": it.prompt.as_ref()?})))
            .collect();
        let (done, total) = self.counts();
        json!({
            "prompts": prompts,
            "failed": self.failures(),
            "stats": {"totalScenes": total, "promptsGenerated": done, "successRate": self.success_rate()},
            "usage": self.usage,
            "model": model,
        })
    }
}

impl ItemError {
    fn into_failed(self) -> Outcome {
        Outcome::Failed(self)
    }
}

#[cfg(test)]
mod tests;
