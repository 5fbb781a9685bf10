//! `/image/prompts` through OpenRouter's chat completions (any OpenAI-compatible
//! endpoint): one request for every scene, the script sent once, `response_format`
//! `json_schema` asking for `{prompts: [{index, prompt}]}`; scenes missing from the
//! answer are asked again alone. Pure: the request body, and the answer read into
//! prompts by scene index, token usage, or a classified [`ProviderError`].
//!
//! OpenRouter answers errors as `{error: {code, message, metadata?}}` — with that
//! status when the request itself failed, and with HTTP 200 when the model failed
//! after it started; both are errors here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{HttpAnswer, ProviderError, Usage, excerpt};

/// One scene of the script (`cenas[]`: `index`, `texto`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scene {
    pub index: u32,
    pub text: String,
}

/// What `/image/prompts` asks (the seed's `cenas`, `estilo`, `detalhe_estilo`,
/// `roteiro`, `agente`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptsInput {
    pub scenes: Vec<Scene>,
    pub style: String,
    pub style_detail: String,
    pub script: String,
    /// The agent's instructions: the system message.
    pub agent: String,
}

/// The system message when the request gives no `agente`.
pub const DEFAULT_AGENT: &str = "You are an art director for narrated videos. For each scene of a script you write one \
prompt for a text-to-image model: a single paragraph in English that describes what the picture shows (subject, setting, \
composition, lighting, mood) in the requested visual style, consistent with the rest of the script, with no text or \
captions in the image.";

/// Completion tokens allowed per scene asked (prompts are a few sentences).
pub const TOKENS_PER_SCENE: u32 = 400;
/// The most completion tokens one request asks for.
pub const MAX_COMPLETION_TOKENS: u32 = 32_000;

/// The `response_format` asking for `{prompts: [{index, prompt}]}` and nothing else.
pub fn response_format() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "scene_prompts",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "prompts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": {"type": "integer", "description": "the scene's index, as given"},
                                "prompt": {"type": "string", "description": "the image prompt for that scene"}
                            },
                            "required": ["index", "prompt"],
                            "additionalProperties": false
                        }
                    }
                },
                "required": ["prompts"],
                "additionalProperties": false
            }
        }
    })
}

/// The user message: style, style details and the whole script once, then the scenes
/// asked (`only`, in index order), then what to answer.
pub fn user_message(input: &PromptsInput, only: &BTreeSet<u32>) -> String {
    let mut s = format!(
        "###VISUAL STYLE\n{}\n\n###STYLE DETAILS\n{}\n\n###FULL_SCRIPT\n{}\n\n###SCENES\n",
        input.style, input.style_detail, input.script
    );
    let mut scenes: Vec<&Scene> = input.scenes.iter().filter(|sc| only.contains(&sc.index)).collect();
    scenes.sort_by_key(|sc| sc.index);
    for sc in &scenes {
        s.push_str(&format!("[scene {}]\n{}\n\n", sc.index, sc.text));
    }
    let indexes: Vec<String> = scenes.iter().map(|sc| sc.index.to_string()).collect();
    s.push_str(&format!(
        "###TASK\nWrite one image prompt for each scene above, in the visual style and with the style details, \
         consistent with the full script. Answer with JSON: {{\"prompts\": [{{\"index\": <scene index>, \"prompt\": \"<image prompt>\"}}]}}, \
         exactly one entry for each of the scene indexes {}.",
        indexes.join(", ")
    ));
    s
}

/// The chat completions body for the scenes in `only`.
pub fn request_body(model: &str, input: &PromptsInput, only: &BTreeSet<u32>) -> Value {
    let max_tokens = (only.len() as u32).saturating_mul(TOKENS_PER_SCENE).saturating_add(200).min(MAX_COMPLETION_TOKENS);
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": input.agent},
            {"role": "user", "content": user_message(input, only)},
        ],
        "response_format": response_format(),
        "temperature": 0.7,
        "max_tokens": max_tokens,
    })
}

/// A readable answer: the prompts it holds for the scenes asked, and its token usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub prompts: BTreeMap<u32, String>,
    pub usage: Usage,
}

impl Answer {
    /// The scenes asked that the answer has no prompt for.
    pub fn missing(&self, asked: &BTreeSet<u32>) -> BTreeSet<u32> {
        asked.iter().copied().filter(|i| !self.prompts.contains_key(i)).collect()
    }
}

/// Reads an answer to a request for the scenes `asked`. Prompts for scenes not asked,
/// empty prompts and repeats (the first one counts) are dropped; scenes without a
/// prompt are left for the caller to ask again ([`Answer::missing`]).
pub fn parse_answer(http: &HttpAnswer<'_>, asked: &BTreeSet<u32>) -> Result<Answer, ProviderError> {
    let body: Option<Value> = serde_json::from_str(http.body).ok();
    // An error body, with its own status or with 200.
    if let Some(err) = body.as_ref().and_then(|b| b.get("error")).filter(|e| !e.is_null()) {
        return Err(body_error(err, http));
    }
    if let Some(e) = http.status_error() {
        return Err(e);
    }
    let body = body.ok_or_else(|| ProviderError::BadAnswer { message: format!("the answer is not JSON: {}", excerpt(http.body)) })?;
    let usage = read_usage(&body);
    let choice = body.get("choices").and_then(|c| c.get(0)).ok_or_else(|| bad("the answer has no choices"))?;
    if let Some(err) = choice.get("error").filter(|e| !e.is_null()) {
        return Err(body_error(err, http));
    }
    let content = choice.pointer("/message/content").and_then(Value::as_str).unwrap_or_default();
    if content.trim().is_empty() {
        let why = choice.pointer("/message/refusal").and_then(Value::as_str).map_or_else(
            || format!("the model answered no content (finish_reason {})", choice.get("finish_reason").unwrap_or(&Value::Null)),
            |r| format!("the model refused: {}", excerpt(r)),
        );
        return Err(ProviderError::BadAnswer { message: why });
    }
    let parsed: Value = serde_json::from_str(strip_fences(content))
        .map_err(|e| ProviderError::BadAnswer { message: format!("the model's content is not JSON ({e}): {}", excerpt(content)) })?;
    // The schema's object, or a bare array of entries from models that ignore the wrapper.
    let entries = match &parsed {
        Value::Object(m) => m.get("prompts").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    }
    .ok_or_else(|| ProviderError::BadAnswer { message: format!("the model's JSON has no `prompts` list: {}", excerpt(content)) })?;
    let mut prompts = BTreeMap::new();
    for e in entries {
        let index = e.get("index").and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())));
        let prompt = e.get("prompt").and_then(Value::as_str).map(str::trim).filter(|p| !p.is_empty());
        if let (Some(i), Some(p)) = (index.and_then(|i| u32::try_from(i).ok()), prompt)
            && asked.contains(&i)
        {
            prompts.entry(i).or_insert_with(|| p.to_owned());
        }
    }
    Ok(Answer { prompts, usage })
}

fn bad(m: &str) -> ProviderError {
    ProviderError::BadAnswer { message: m.to_owned() }
}

/// `{code, message, metadata?}`: `code` is an HTTP status (a number, sometimes a string).
fn body_error(err: &Value, http: &HttpAnswer<'_>) -> ProviderError {
    let code = err.get("code").and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok()))).map(|c| c as u16);
    let message = err.get("message").and_then(Value::as_str).map_or_else(|| excerpt(&err.to_string()), excerpt);
    let status = match (code, http.status) {
        (Some(c), _) if (400..600).contains(&c) => c,
        (_, s) if !(200..300).contains(&s) => s,
        // An error the model hit after it started, without a usable code.
        _ => 502,
    };
    ProviderError::from_status(status, http.retry_after_secs(), format!("{status}: {message}"))
}

fn read_usage(body: &Value) -> Usage {
    let n = |k: &str| body.pointer(&format!("/usage/{k}")).and_then(Value::as_u64).unwrap_or(0);
    Usage { prompt_tokens: n("prompt_tokens"), completion_tokens: n("completion_tokens"), total_tokens: n("total_tokens"), calls: 1 }
}

/// Models that ignore `response_format` sometimes wrap the JSON in a Markdown fence.
fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else { return t };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PromptsInput {
        PromptsInput {
            scenes: vec![
                Scene { index: 2, text: "A storm reaches the harbour.".into() },
                Scene { index: 0, text: "A fisherman wakes before dawn.".into() },
                Scene { index: 1, text: "He rows out past the lighthouse.".into() },
            ],
            style: "oil painting".into(),
            style_detail: "muted blues, heavy brush strokes".into(),
            script: "THE WHOLE SCRIPT".into(),
            agent: "You write prompts for an image model.".into(),
        }
    }

    fn all() -> BTreeSet<u32> {
        [0, 1, 2].into()
    }

    fn ok(body: &str) -> HttpAnswer<'_> {
        HttpAnswer { status: 200, retry_after: None, body, now_ms: 0 }
    }

    fn completion(content: &str) -> String {
        json!({
            "id": "gen-1", "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020}
        })
        .to_string()
    }

    #[test]
    fn one_request_carries_the_script_once_and_every_scene_with_the_schema() {
        let body = request_body("google/gemini-2.0-flash-001", &input(), &all());
        assert_eq!(body["model"], "google/gemini-2.0-flash-001");
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "You write prompts for an image model."}));
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert_eq!(user.matches("THE WHOLE SCRIPT").count(), 1);
        let (a, b, c) = (user.find("[scene 0]").unwrap(), user.find("[scene 1]").unwrap(), user.find("[scene 2]").unwrap());
        assert!(a < b && b < c, "scenes in index order");
        assert!(user.contains("oil painting") && user.contains("muted blues") && user.contains("indexes 0, 1, 2."));
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        let item = &body["response_format"]["json_schema"]["schema"]["properties"]["prompts"]["items"];
        assert_eq!(item["required"], json!(["index", "prompt"]));
        assert_eq!(body["max_tokens"], 3 * TOKENS_PER_SCENE + 200);
        // A re-ask carries only the scene asked.
        let solo = request_body("m", &input(), &[1].into());
        let user = solo["messages"][1]["content"].as_str().unwrap();
        assert!(user.contains("[scene 1]") && !user.contains("[scene 0]") && !user.contains("[scene 2]"));
    }

    #[test]
    fn a_complete_answer_gives_every_prompt_and_the_usage() {
        let body = completion(r#"{"prompts":[{"index":1,"prompt":" rowing "},{"index":0,"prompt":"dawn"},{"index":2,"prompt":"storm"}]}"#);
        let a = parse_answer(&ok(&body), &all()).unwrap();
        assert_eq!(a.prompts, BTreeMap::from([(0, "dawn".into()), (1, "rowing".into()), (2, "storm".into())]));
        assert_eq!(a.usage, Usage { prompt_tokens: 900, completion_tokens: 120, total_tokens: 1020, calls: 1 });
        assert!(a.missing(&all()).is_empty());
    }

    #[test]
    fn missing_empty_unasked_and_repeated_scenes_are_left_to_ask_again() {
        let body = completion(
            r#"{"prompts":[{"index":0,"prompt":"dawn"},{"index":0,"prompt":"again"},{"index":2,"prompt":"  "},{"index":7,"prompt":"x"}]}"#,
        );
        let a = parse_answer(&ok(&body), &all()).unwrap();
        assert_eq!(a.prompts, BTreeMap::from([(0, "dawn".into())]));
        assert_eq!(a.missing(&all()), BTreeSet::from([1, 2]));
    }

    #[test]
    fn fenced_json_bare_arrays_and_string_indexes_are_read() {
        let body = completion("```json\n[{\"index\":\"1\",\"prompt\":\"rowing\"}]\n```");
        assert_eq!(parse_answer(&ok(&body), &all()).unwrap().prompts, BTreeMap::from([(1, "rowing".into())]));
    }

    #[test]
    fn an_error_body_with_http_200_is_an_error() {
        let body = r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"X"}}}"#;
        let e = parse_answer(&ok(body), &all()).unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("provider-unavailable", true));
        assert!(e.message().contains("Provider returned error"));
        // An error inside the choice, without a status code.
        let body = r#"{"choices":[{"finish_reason":"error","error":{"message":"model crashed"},"message":{"content":""}}]}"#;
        assert_eq!(parse_answer(&ok(body), &all()).unwrap_err().code(), "provider-unavailable");
        // A moderation refusal (403 inside the body) is not retried.
        let body = r#"{"error":{"code":403,"message":"flagged"}}"#;
        assert!(!parse_answer(&ok(body), &all()).unwrap_err().is_retryable());
    }

    #[test]
    fn http_errors_keep_their_status_and_retry_after() {
        let body = r#"{"error":{"code":401,"message":"No auth credentials found"}}"#;
        let e = parse_answer(&HttpAnswer { status: 401, retry_after: None, body, now_ms: 0 }, &all()).unwrap_err();
        assert_eq!(e.code(), "provider-auth-failed");
        let body = r#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#;
        let e = parse_answer(&HttpAnswer { status: 429, retry_after: Some("3"), body, now_ms: 0 }, &all()).unwrap_err();
        assert_eq!((e.code(), e.retry_after_secs()), ("provider-rate-limited", Some(3)));
        let e = parse_answer(&HttpAnswer { status: 503, retry_after: None, body: "<html>down</html>", now_ms: 0 }, &all()).unwrap_err();
        assert_eq!(e.code(), "provider-unavailable");
        let e = parse_answer(&HttpAnswer { status: 402, retry_after: None, body: "{}", now_ms: 0 }, &all()).unwrap_err();
        assert_eq!(e.code(), "provider-credits-exhausted");
    }

    #[test]
    fn malformed_answers_are_bad_answers_and_retryable() {
        for body in [
            "not json".to_owned(),
            r#"{"choices":[]}"#.to_owned(),
            completion("Sure! Here are your prompts: 1. dawn"),
            completion(r#"{"answer": "dawn"}"#),
            completion(""),
        ] {
            let e = parse_answer(&ok(&body), &all()).unwrap_err();
            assert_eq!((e.code(), e.is_retryable()), ("provider-bad-answer", true), "{body}");
        }
    }
}
