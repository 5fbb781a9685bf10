//! The OpenAPI 3.1 document of the public API (`GET /openapi.json`), generated.
//!
//! Every schema under `components.schemas` comes from the `JsonSchema` derives of the
//! request and response types (schemars emits JSON Schema 2020-12, OpenAPI 3.1's schema
//! dialect), with the limits of [`crate::limits`] and the serde aliases
//! (`x-aliases`, also listed in each field's description). The paths are one `POST` per
//! [`Operation::ALL`] plus the job, status and discovery routes; only those small path
//! objects are written here by hand.

use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::formats::JOB_ID_PATTERN;
use crate::job::{JobStatus, JobView};
use crate::ops::*;
use crate::problem::Problem;
use crate::request::Operation;

/// Where the schemas live in the document.
const COMPONENTS: &str = "#/components/schemas/";

/// The body of every error answer.
#[derive(JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// The HTTP status text (`Bad Request`, `Unauthorized`, …).
    pub error: String,
    /// A stable kebab-case code clients may branch on (`validation-failed`, `unauthorized`, …).
    pub code: String,
    /// For humans; may change.
    pub message: String,
    /// Every problem of a rejected request (400 `validation-failed`), each with the JSON path
    /// of the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
}

// The body of an operation's request: its own fields and the `Common` ones. (A `//`
// comment: a doc comment would replace the operation's description.)
#[derive(JsonSchema)]
#[schemars(rename = "{T}Request")]
pub struct RequestBody<T> {
    #[serde(flatten)]
    pub op: T,
    #[serde(flatten)]
    pub common: Common,
}

/// Serde aliases in the schema. Each property with `x-aliases` gets "Also accepted as …"
/// in its description; a required one is required under any of its names (`required`
/// would refuse `{"video_url": …}` where serde accepts it as `url_video`), expressed as
/// `allOf: [{anyOf: [{required: [name]}, {required: [alias]}, …]}]`.
#[derive(Debug, Clone, Copy)]
struct Aliases;

impl Transform for Aliases {
    fn transform(&mut self, schema: &mut Schema) {
        let required: Vec<Value> = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut either = vec![];
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                let Value::Object(prop) = prop else { continue };
                let Some(Value::Array(aliases)) = prop.get("x-aliases") else { continue };
                let aliases: Vec<&str> = aliases.iter().filter_map(Value::as_str).collect();
                let listed: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
                let mut note = format!("Also accepted as {}.", listed.join(", "));
                if required.iter().any(|r| r == name.as_str()) {
                    note.push_str(" Required under one of these names.");
                    let names = std::iter::once(name.as_str()).chain(aliases.iter().copied());
                    either.push((name.clone(), json!({ "anyOf": names.map(|n| json!({ "required": [n] })).collect::<Vec<_>>() })));
                }
                let description = match prop.get("description").and_then(Value::as_str) {
                    Some(d) => format!("{d}\n\n{note}"),
                    None => note,
                };
                prop.insert("description".into(), description.into());
            }
        }
        if !either.is_empty() {
            // In declaration order (`properties` is sorted by name).
            either.sort_by_key(|(n, _)| required.iter().position(|r| r == n.as_str()));
            let required: Vec<Value> = required.into_iter().filter(|r| !either.iter().any(|(n, _)| r == n.as_str())).collect();
            if required.is_empty() {
                schema.remove("required");
            } else {
                schema.insert("required".into(), required.into());
            }
            let all_of = schema.ensure_object().entry("allOf").or_insert_with(|| json!([]));
            if let Value::Array(all_of) = all_of {
                all_of.extend(either.into_iter().map(|(_, any_of)| any_of));
            }
        }
        transform_subschemas(self, schema);
    }
}

/// Adds `null` to the `enum` of a nullable schema: `#[schemars(extend("enum" = …))]` on an
/// `Option` field lists only the values, but serde accepts `null` (= absent) too.
#[derive(Debug, Clone, Copy)]
struct NullInEnums;

impl Transform for NullInEnums {
    fn transform(&mut self, schema: &mut Schema) {
        let nullable = matches!(schema.get("type"), Some(Value::Array(types)) if types.iter().any(|t| t == "null"));
        if let (true, Some(Value::Array(values))) = (nullable, schema.get_mut("enum"))
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        transform_subschemas(self, schema);
    }
}

/// Any value is `{}`, not the boolean schema `true` schemars gives `serde_json::Value`
/// (`JobView.result`, `JobError.details`, `additionalProperties`): the two mean the same in
/// JSON Schema 2020-12, but code generators that model a schema as an object refuse `true`
/// (openapi-python-client stops at it, and generates nothing).
#[derive(Debug, Clone, Copy)]
struct AnyValueAsObject;

impl Transform for AnyValueAsObject {
    fn transform(&mut self, schema: &mut Schema) {
        if schema.as_bool() == Some(true) {
            *schema = Schema::from(Map::new());
        }
        transform_subschemas(self, schema);
    }
}

/// A property that may be left out has no `default`. Serde fills an absent `Option` with
/// `None` (schemars writes that as `"default": null`) and the worker applies the real
/// defaults, which the descriptions state; but openapi-typescript (with its
/// `defaultNonNullable`, on by default) types every property that has a `default` as
/// always present, so a TypeScript client would have to send `"easing": null`.
#[derive(Debug, Clone, Copy)]
struct NoDefaultWhenOptional;

impl Transform for NoDefaultWhenOptional {
    fn transform(&mut self, schema: &mut Schema) {
        let required: Vec<Value> = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                if let Value::Object(prop) = prop
                    && !required.iter().any(|r| r == name.as_str())
                {
                    prop.remove("default");
                }
            }
        }
        transform_subschemas(self, schema);
    }
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .with_transform(AnyValueAsObject)
        .with_transform(NoDefaultWhenOptional)
        .with_transform(Aliases)
        .with_transform(NullInEnums)
        .into_generator()
}

/// The `$ref` schema of the request body of `op`.
fn request_schema(g: &mut SchemaGenerator, op: Operation) -> Schema {
    match op {
        Operation::Img2vid => g.subschema_for::<RequestBody<Img2Vid>>(),
        Operation::Caption => g.subschema_for::<RequestBody<Caption>>(),
        Operation::CaptionStyle => g.subschema_for::<RequestBody<CaptionStyle>>(),
        Operation::AddAudio => g.subschema_for::<RequestBody<AddAudio>>(),
        Operation::Concatenate => g.subschema_for::<RequestBody<Concatenate>>(),
        Operation::ConcatVideoAudio => g.subschema_for::<RequestBody<ConcatVideoAudio>>(),
        Operation::VideoTrilhaSonora => g.subschema_for::<RequestBody<VideoTrilhaSonora>>(),
        Operation::AudioTrilhaSonora => g.subschema_for::<RequestBody<AudioTrilhaSonora>>(),
        Operation::AudioConcatenate => g.subschema_for::<RequestBody<AudioConcatenate>>(),
        Operation::AudioTrim => g.subschema_for::<RequestBody<AudioTrim>>(),
        Operation::Downsample => g.subschema_for::<RequestBody<Downsample>>(),
        Operation::Encode => g.subschema_for::<RequestBody<Encode>>(),
        Operation::Render => g.subschema_for::<RequestBody<Render>>(),
        Operation::Transcribe => g.subschema_for::<RequestBody<Transcribe>>(),
        Operation::ObjectsStage => g.subschema_for::<RequestBody<ObjectsStage>>(),
        Operation::PipelineSegment => g.subschema_for::<RequestBody<PipelineSegment>>(),
        Operation::TranscribeYoutube => g.subschema_for::<RequestBody<TranscribeYoutube>>(),
        Operation::ImagePrompts => g.subschema_for::<RequestBody<ImagePrompts>>(),
        Operation::ImageGenerate => g.subschema_for::<RequestBody<ImageGenerate>>(),
    }
}

/// The request schemas (deserialize contract) and the response schemas (serialize
/// contract, so that fields always present are `required`), merged. A name both define
/// keeps the request's schema; a test checks they agree.
fn schemas() -> (Vec<(Operation, Schema)>, Map<String, Value>) {
    let mut requests = generator(Contract::Deserialize);
    let bodies = Operation::ALL.into_iter().map(|op| (op, request_schema(&mut requests, op))).collect();
    let mut responses = generator(Contract::Serialize);
    responses.subschema_for::<JobView>();
    responses.subschema_for::<ErrorBody>();
    responses.subschema_for::<JobStatus>();
    let mut all = requests.take_definitions(true);
    for (name, schema) in responses.take_definitions(true) {
        all.entry(name).or_insert(schema);
    }
    (bodies, all)
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{COMPONENTS}{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn response(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn tag_of(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or_default()
}

/// `POST <op.path()>`.
fn submit_operation(op: Operation, body: Schema, description: Option<&str>) -> Value {
    let mut o = json!({
        "operationId": op.name().replace('/', "_"),
        "summary": op.name(),
        "tags": [tag_of(op.path())],
        "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
        "requestBody": { "required": true, "content": json_content(body.to_value()) },
        "responses": {
            "202": {
                "description": "Accepted: the job object, `QUEUED`. The job is submitted to the GPU backend after this \
                                answer; while the backend is unreachable or throttling it stays `QUEUED` (its `progress` says \
                                why) and is tried again with backoff until its deadline, then ends `TIMED_OUT` with \
                                `gpu-backend-unavailable` or `gpu-backend-busy`. A backend refusing it fails the job \
                                (`gpu-backend-refused`): read either from the job, never from this answer.",
                "content": json_content(schema_ref("JobView")),
            },
            "200": {
                "description": "A replay: the job of an earlier request with the same `Idempotency-Key` and body.",
                "headers": { "Idempotent-Replayed": { "schema": { "const": "true" } } },
                "content": json_content(schema_ref("JobView")),
            },
            "400": response("BadRequest"),
            "401": response("Unauthorized"),
            "409": response("Conflict"),
            "413": response("PayloadTooLarge"),
            "429": response("TooManyRequests"),
        },
    });
    let aliases = op.alias_paths();
    let mut text = description.unwrap_or_default().to_owned();
    if !aliases.is_empty() {
        let listed: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
        text.push_str(&format!("{}Also served at {}.", if text.is_empty() { "" } else { "\n\n" }, listed.join(", ")));
        o["x-aliases"] = json!(aliases);
    }
    if !text.is_empty() {
        o["description"] = text.into();
    }
    o
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema_ref("Error")) })
}

/// The OpenAPI 3.1 document; `server_url` (the edge's public origin) fills `servers`.
pub fn document(server_url: Option<&str>) -> Value {
    let (bodies, schemas) = schemas();
    let mut paths = Map::new();
    for (op, body) in bodies {
        let description = body
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(COMPONENTS))
            .and_then(|name| schemas.get(name))
            .and_then(|s| s.get("description"))
            .and_then(Value::as_str);
        paths.insert(op.path().into(), json!({ "post": submit_operation(op, body, description) }));
    }
    let job_id = json!({
        "name": "jobId", "in": "path", "required": true,
        "schema": { "type": "string", "pattern": JOB_ID_PATTERN },
    });
    let public = json!([]);
    paths.insert(
        "/jobs/{jobId}".into(),
        json!({ "get": {
            "operationId": "get_job", "summary": "The job object (the same one the webhook carries).", "tags": ["jobs"],
            "parameters": [job_id],
            "responses": {
                "200": { "description": "The job object.", "content": json_content(schema_ref("JobView")) },
                "401": response("Unauthorized"),
                "404": response("NotFound"),
            },
        }}),
    );
    paths.insert(
        "/jobs/{jobId}/cancel".into(),
        json!({ "post": {
            "operationId": "cancel_job", "summary": "Cancels queued or running work.", "tags": ["jobs"],
            "parameters": [job_id],
            "responses": {
                "200": { "description": "The job object after cancelling.", "content": json_content(schema_ref("JobView")) },
                "401": response("Unauthorized"),
                "404": response("NotFound"),
            },
        }}),
    );
    paths.insert(
        "/jobs".into(),
        json!({ "get": {
            "operationId": "list_jobs", "summary": "The tenant's recent jobs, newest first.", "tags": ["jobs"],
            "parameters": [
                { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } },
                { "name": "status", "in": "query", "description": "Only jobs in this state (case-insensitive).", "schema": schema_ref("JobStatus") },
            ],
            "responses": {
                "200": {
                    "description": "The jobs, newest first.",
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["jobs"],
                        "properties": { "jobs": { "type": "array", "items": {
                            "type": "object",
                            "required": ["jobId", "status", "operation", "createdAt", "updatedAt"],
                            "properties": {
                                "jobId": { "type": "string" },
                                "status": schema_ref("JobStatus"),
                                "operation": { "type": "string" },
                                "createdAt": { "type": "string" },
                                "updatedAt": { "type": "string" },
                                "idRoteiro": { "type": "integer" },
                            },
                        } } },
                    })),
                },
                "400": response("BadRequest"),
                "401": response("Unauthorized"),
            },
        }}),
    );
    paths.insert(
        "/queue/stats".into(),
        json!({ "get": {
            "operationId": "queue_stats", "summary": "The tenant's job counts by status and the GPU backend's health.", "tags": ["jobs"],
            "responses": {
                "200": { "description": "Counts and backend health.", "content": json_content(json!({
                    "type": "object",
                    "properties": {
                        "counts": {
                            "type": "object",
                            "description": "Jobs by status.",
                            "propertyNames": schema_ref("JobStatus"),
                            "additionalProperties": { "type": "integer", "minimum": 0 },
                        },
                        "slots_in_use": { "type": "integer", "minimum": 0 },
                        "waiting": { "type": "integer", "minimum": 0 },
                        "tenant": { "type": "string" },
                        "max_concurrent_jobs": { "type": "integer" },
                        "rate_limit_per_minute": { "type": "integer" },
                        "gpu_backend": {
                            "type": "object",
                            "required": ["reachable"],
                            "description": "The backend's last health check (at most 15 s old).",
                            "properties": {
                                "reachable": { "type": "boolean" },
                                "checked_at": { "type": "string" },
                                "age_s": { "type": "integer", "minimum": 0 },
                                "workers": {},
                                "jobs": {},
                                "error": { "type": "string" },
                            },
                        },
                    },
                })) },
                "401": response("Unauthorized"),
            },
        }}),
    );
    paths.insert(
        "/pipeline/status".into(),
        json!({ "get": {
            "operationId": "pipeline_status",
            "summary": "Which segments of a `/pipeline/segment` job exist in storage.",
            "description": "Looks for `pipelines/<job_id>/stage/segmentation/audio_segments/segment_<i>.wav` under the \
                            caller's prefix for i = 0 … expected − 1 (the first 64 when `expected` is absent) with a HEAD \
                            each; a ready segment has a download `url` and its `bytes`. Also served at `/api/pipeline/status`.",
            "tags": ["pipeline"],
            "x-aliases": ["/api/pipeline/status"],
            "parameters": [
                { "name": "job_id", "in": "query", "required": true, "description": "The `job_id` given to `/pipeline/segment`.",
                  "schema": { "type": "string", "minLength": 1, "maxLength": crate::media::MAX_FILENAME_BYTES, "pattern": crate::formats::FILENAME_PATTERN } },
                { "name": "expected", "in": "query", "description": "How many segments to look for (default: probe the first 64).",
                  "schema": { "type": "integer", "minimum": 1, "maximum": crate::limits::MAX_PIPELINE_EXPECTED } },
            ],
            "responses": {
                "200": { "description": "Readiness per index.", "content": json_content(json!({
                    "type": "object",
                    "required": ["job_id", "expected", "probed", "ready", "complete", "segments"],
                    "properties": {
                        "job_id": { "type": "string" },
                        "expected": { "type": ["integer", "null"], "description": "As asked; null when absent." },
                        "probed": { "type": "integer", "description": "Indices looked at." },
                        "ready": { "type": "integer", "minimum": 0, "description": "Segments that exist." },
                        "complete": { "type": "boolean", "description": "`expected` was given and every one of them exists." },
                        "segments": { "type": "array", "items": {
                            "type": "object",
                            "required": ["index", "ready"],
                            "properties": {
                                "index": { "type": "integer", "minimum": 0 },
                                "ready": { "type": "boolean" },
                                "key": { "type": "string" },
                                "url": { "type": "string", "description": "A download URL, when ready." },
                                "bytes": { "type": "integer", "minimum": 0, "description": "Its size, when ready." },
                            },
                        } },
                    },
                })) },
                "400": response("BadRequest"),
                "401": response("Unauthorized"),
            },
        }}),
    );
    let health = json!({
        "type": "object",
        "required": ["status", "edge", "gpu_backend"],
        "properties": {
            "status": { "enum": ["ok", "degraded"], "description": "`degraded` while the GPU backend is unreachable." },
            "edge": { "const": "ok" },
            "gpu_backend": {
                "type": "object",
                "required": ["reachable", "checked_at", "age_s"],
                "properties": {
                    "reachable": { "type": "boolean" },
                    "checked_at": { "type": "string", "description": "When the edge last asked the backend (RFC 3339)." },
                    "age_s": { "type": "integer", "minimum": 0 },
                },
            },
        },
    });
    paths.insert(
        "/health".into(),
        json!({ "get": {
            "operationId": "health",
            "summary": "Edge liveness, and whether the GPU backend was reachable at its last check.",
            "description": "Anonymous. Answers 200 whenever the edge runs. The backend's health is asked at most once every 15 s \
                            and answered from that check meanwhile; its worker and job counts are in the authenticated \
                            `GET /queue/stats`.",
            "tags": ["service"], "security": public,
            "responses": {
                "200": { "description": "The edge is up.", "content": json_content(health) },
            },
        }}),
    );
    paths.insert(
        "/".into(),
        json!({ "get": {
            "operationId": "root", "summary": "Service name, version and operation paths.", "tags": ["service"], "security": public,
            "responses": { "200": { "description": "About the service.", "content": json_content(json!({
                "type": "object",
                "required": ["name", "version", "operations"],
                "properties": {
                    "name": { "type": "string" },
                    "version": { "type": "string" },
                    "operations": { "type": "array", "items": { "type": "string" } },
                    "openapi": { "type": "string", "description": "Where this document is served." },
                },
            })) } },
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": {
            "operationId": "openapi", "summary": "This document.", "tags": ["service"], "security": public,
            "responses": { "200": { "description": "The OpenAPI 3.1 document.", "content": json_content(json!({ "type": "object" })) } },
        }}),
    );

    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "api-gpu",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "GPU media jobs: every operation answers 202 with a job object; poll `GET /jobs/{jobId}` or \
                            receive the same object at `webhook_url` (Standard Webhooks signature). Request fields keep \
                            the seed's names; the English aliases listed on each field are accepted too.",
        },
        "security": [{ "apiKey": [] }, { "bearer": [] }],
        "tags": [
            { "name": "video" }, { "name": "audio" }, { "name": "image" }, { "name": "objects" }, { "name": "pipeline" },
            { "name": "jobs" }, { "name": "service" },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`, the same key." },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "The same key and the same body within 24 h give the same job; the same key with a different body is refused (409).",
                    "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7E]+$" },
                },
            },
            "responses": {
                "BadRequest": error_response("The request is invalid; `details` lists every problem."),
                "Unauthorized": error_response("Missing or invalid API key."),
                "NotFound": error_response("No such job (or not this tenant's)."),
                "Conflict": error_response("`Idempotency-Key` reused with a different body."),
                "PayloadTooLarge": error_response("The body is too large."),
                "TooManyRequests": {
                    "description": "Rate limit reached (`rate-limited`); a tenant's concurrency cap queues jobs instead.",
                    "headers": { "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer", "minimum": 1 } } },
                    "content": json_content(schema_ref("Error")),
                },
            },
        },
    });
    if let Some(url) = server_url {
        doc["servers"] = json!([{ "url": url }]);
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::{DeserializeOwned, Visitor};

    use super::*;
    use crate::formats::MP4_FILENAME_PATTERN;
    use crate::job::{Execution, JobError, WebhookAttempt, WebhookView};
    use crate::limits::*;
    use crate::media::MAX_URL_BYTES;
    use crate::worker::Progress;

    fn doc() -> Value {
        document(Some("https://api.example.com"))
    }

    fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
        doc.pointer(&format!("/components/schemas/{name}")).unwrap_or_else(|| panic!("no component {name}"))
    }

    #[test]
    fn is_an_openapi_3_1_document() {
        let doc = doc();
        let text = serde_json::to_string(&doc).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "https://api.example.com");
        assert!(document(None).get("servers").is_none());
        assert_eq!(doc["components"]["securitySchemes"]["apiKey"]["name"], "X-API-Key");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        for path in ["/jobs/{jobId}", "/jobs/{jobId}/cancel", "/jobs", "/queue/stats", "/pipeline/status", "/health", "/", "/openapi.json"]
        {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        for path in ["/health", "/", "/openapi.json"] {
            assert_eq!(doc["paths"][path]["get"]["security"], json!([]), "{path} is public");
        }
        // /health is liveness: 200 whenever the edge runs.
        assert_eq!(doc["paths"]["/health"]["get"]["responses"].as_object().unwrap().keys().collect::<Vec<_>>(), ["200"]);
    }

    #[test]
    fn pipeline_routes_are_documented_as_served() {
        let doc = doc();
        let segment = &doc["paths"]["/pipeline/segment"]["post"];
        assert!(segment["responses"].get("202").is_some() && segment["responses"].get("501").is_none());
        let text = segment["description"].as_str().unwrap();
        assert!(text.contains("segment_<i>.wav") && !text.contains("501"), "{text}");
        let status = &doc["paths"]["/pipeline/status"]["get"];
        let params: Vec<&str> = status["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(params, ["job_id", "expected"]);
        assert_eq!(status["parameters"][1]["schema"]["maximum"], MAX_PIPELINE_EXPECTED);
        let item = &status["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["segments"]["items"];
        assert_eq!(item["required"], json!(["index", "ready"]));
    }

    #[test]
    fn every_operation_has_a_post_with_its_request_schema() {
        let doc = doc();
        for op in Operation::ALL {
            let post = &doc["paths"][op.path()]["post"];
            let body = &post["requestBody"]["content"]["application/json"]["schema"];
            let name = body["$ref"].as_str().and_then(|r| r.strip_prefix(COMPONENTS)).unwrap_or_else(|| panic!("{op:?}: {body}"));
            let schema = schema(&doc, name);
            assert_eq!(schema["type"], "object", "{name}");
            // The common fields are part of every request.
            for field in ["webhook_url", "id_roteiro", "metadata"] {
                assert!(schema["properties"].get(field).is_some(), "{name} lacks {field}");
            }
            assert_eq!(post["parameters"][0]["$ref"], "#/components/parameters/IdempotencyKey");
            for status in ["202", "400", "401", "409", "413", "429"] {
                assert!(post["responses"].get(status).is_some(), "{op:?} {status}");
            }
            // The GPU backend is never called before the 202: its failures are the job's.
            for status in ["502", "503"] {
                assert!(post["responses"].get(status).is_none(), "{op:?} {status}");
            }
            let accepted = post["responses"]["202"]["description"].as_str().unwrap_or_default();
            assert!(accepted.contains("gpu-backend-unavailable") && accepted.contains("QUEUED"), "{op:?}: {accepted}");
            assert!(post["description"].is_string(), "{op:?} has a description");
        }
    }

    /// Every `$ref` in the document points at something that exists.
    #[test]
    fn every_ref_resolves() {
        fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        refs.push(r);
                    }
                    o.values().for_each(|v| walk(v, refs));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
                _ => {}
            }
        }
        let doc = doc();
        let mut refs = vec![];
        walk(&doc, &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
    }

    #[test]
    fn limits_are_the_validation_constants() {
        let doc = doc();
        let img2vid = &schema(&doc, "Img2VidRequest")["properties"];
        assert_eq!(img2vid["images"]["maxItems"], json!(MAX_IMAGES));
        assert_eq!(img2vid["images"]["minItems"], 1);
        assert_eq!(img2vid["frame_rate"]["minimum"], json!(MIN_FPS));
        assert_eq!(img2vid["frame_rate"]["maximum"], json!(MAX_FPS));
        assert_eq!(img2vid["width"]["maximum"], json!(MAX_DIMENSION));
        assert_eq!(img2vid["orientation"]["enum"], json!(["landscape", "portrait", "horizontal", "vertical", null]));
        let image = &schema(&doc, "ImageItem")["properties"]["duracao"];
        assert_eq!(image["minimum"], json!(MIN_IMAGE_SECONDS));
        assert_eq!(image["maximum"], json!(MAX_IMAGE_SECONDS));
        assert_eq!(schema(&doc, "MediaRef")["maxLength"], json!(MAX_URL_BYTES));
        assert_eq!(schema(&doc, "PipelineSegmentRequest")["properties"]["segments"]["maxItems"], json!(MAX_SEGMENTS));
        assert_eq!(schema(&doc, "ConcatenateRequest")["properties"]["video_urls"]["maxItems"], json!(MAX_LIST));
        assert_eq!(schema(&doc, "AudioTrimRequest")["properties"]["start_sec"]["maximum"], json!(MAX_MEDIA_SECONDS));
        assert_eq!(
            schema(&doc, "VideoTrilhaSonoraRequest")["properties"]["volume_reduction_db"]["maximum"],
            json!(MAX_VOLUME_REDUCTION_DB)
        );
        assert_eq!(schema(&doc, "StyleOptions")["properties"]["words_per_line"]["maximum"], json!(MAX_WORDS_PER_LINE));
        assert_eq!(schema(&doc, "AddAudioRequest")["properties"]["sync"]["enum"], json!(["shortest", "stretch_video", "loop_video", null]));
        assert_eq!(schema(&doc, "ZoomType")["enum"], json!(["zoomin", "zoomout", "zoompanright"]));
        assert!(doc.pointer("/components/schemas/Common").is_none(), "Common is flattened into each request");
        let render = &schema(&doc, "RenderRequest")["properties"];
        assert_eq!(render["scenes"]["maxItems"], json!(MAX_SCENES));
        assert_eq!(render["scenes"]["minItems"], 1);
        assert_eq!(render["volume_reduction_db"]["maximum"], json!(MAX_VOLUME_REDUCTION_DB));
        assert_eq!(render["frame_rate"]["maximum"], json!(MAX_FPS));
        let scene = &schema(&doc, "SceneItem")["properties"];
        assert_eq!(scene["duration"]["maximum"], json!(MAX_IMAGE_SECONDS));
        assert_eq!(schema(&doc, "EasingType")["enum"], json!(["linear", "ease_in_out"]));
        assert_eq!(schema(&doc, "RenderCaptions")["properties"]["type"]["enum"], json!(["segments", "highlight"]));
        let mp4 = schema(&doc, "Mp4Filename");
        assert_eq!(mp4["x-extensions"], json!(["mp4"]));
        assert_eq!(mp4["pattern"], MP4_FILENAME_PATTERN);
        assert_eq!(schema(&doc, "CaptionRequest")["properties"]["metadata"]["x-max-json-bytes"], json!(MAX_METADATA_BYTES));
    }

    #[test]
    fn youtube_and_image_operations_are_documented() {
        let doc = doc();
        let yt = &doc["paths"]["/video/transcribe_youtube"]["post"];
        assert!(yt["x-aliases"].as_array().unwrap().contains(&json!("/vps/video/transcribe_youtube")));
        let text = yt["description"].as_str().unwrap();
        for code in ["word_timings", "video-unavailable", "no-captions-in-language", "request-blocked", "po-token-required"] {
            assert!(text.contains(code), "{code}: {text}");
        }
        let body = schema(&doc, "TranscribeYoutubeRequest");
        assert_eq!(
            body["allOf"][0],
            json!({ "anyOf": [{ "required": ["url"] }, { "required": ["video_url"] }, { "required": ["youtube_url"] }] })
        );
        assert_eq!(body["properties"]["language"]["pattern"], crate::formats::LANGUAGE_TAG_PATTERN);
        let prompts = &doc["paths"]["/image/prompts"]["post"];
        assert_eq!(prompts["x-aliases"], json!(["/vps/imagem/gerarPrompts"]));
        assert_eq!(prompts["tags"], json!(["image"]));
        let p = &schema(&doc, "ImagePromptsRequest")["properties"];
        assert_eq!(p["cenas"]["maxItems"], json!(MAX_PROMPT_SCENES));
        assert_eq!(p["roteiro"]["maxLength"], json!(MAX_SCRIPT_CHARS));
        assert!(p["estilo"]["description"].as_str().unwrap().contains("`style`"));
        assert_eq!(schema(&doc, "PromptScene")["properties"]["texto"]["maxLength"], json!(MAX_SCENE_TEXT_CHARS));
        let generate = &doc["paths"]["/image/generate"]["post"];
        assert_eq!(generate["x-aliases"], json!(["/vps/imagem/gerarImagens"]));
        let g = schema(&doc, "ImageGenerateRequest");
        assert_eq!(g["required"], json!(["prompts"]));
        assert_eq!(g["properties"]["prompts"]["maxItems"], json!(MAX_GENERATED_IMAGES));
        assert_eq!(g["properties"]["altura"]["multipleOf"], json!(IMAGE_DIMENSION_STEP));
        assert_eq!(g["properties"]["largura"]["maximum"], json!(MAX_IMAGE_DIMENSION));
        assert_eq!(g["properties"]["image_model"]["pattern"], crate::formats::IMAGE_MODEL_PATTERN);
        assert_eq!(g["properties"]["output_format"]["enum"], json!(["jpg", "png", "webp", null]));
        assert!(doc["tags"].as_array().unwrap().contains(&json!({ "name": "image" })));
    }

    /// Code generators read every schema: an any-value field is `{}`, never the boolean
    /// schema `true` (openapi-python-client refuses the whole document over one).
    #[test]
    fn any_value_is_an_empty_schema_not_true() {
        fn walk(v: &Value, at: &str, found: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    for (k, v) in o {
                        let here = format!("{at}/{k}");
                        let subschemas: Vec<&Value> = match k.as_str() {
                            "properties" | "patternProperties" => v.as_object().into_iter().flat_map(|m| m.values()).collect(),
                            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" => vec![v],
                            "allOf" | "anyOf" | "oneOf" | "prefixItems" => v.as_array().into_iter().flatten().collect(),
                            _ => vec![],
                        };
                        if subschemas.iter().any(|s| s.is_boolean() && *s == &Value::Bool(true)) {
                            found.push(here.clone());
                        }
                        walk(v, &here, found);
                    }
                }
                Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| walk(v, &format!("{at}/{i}"), found)),
                _ => {}
            }
        }
        let doc = doc();
        let mut found = vec![];
        walk(&doc, "", &mut found);
        assert!(found.is_empty(), "boolean `true` schemas at {found:?}");
        assert_eq!(schema(&doc, "JobView")["properties"]["result"], json!({}));
        assert_eq!(schema(&doc, "JobError")["properties"]["details"], json!({}));
    }

    /// A field a client may leave out is not `required` and has no `default`:
    /// openapi-typescript types a property with a `default` as always present, so
    /// `images[].id` and `easing` would have to be sent as `null`.
    #[test]
    fn optional_fields_have_no_default() {
        let doc = doc();
        let mut with_default = vec![];
        for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
            let required = s.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
            for (field, prop) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
                if prop.get("default").is_some() && !required.contains(&json!(field)) {
                    with_default.push(format!("{name}.{field}"));
                }
            }
        }
        assert!(with_default.is_empty(), "optional with a default: {with_default:?}");
        let image = schema(&doc, "ImageItem");
        assert!(image.get("required").is_none(), "{image}");
        for field in ["id", "easing"] {
            assert!(image["properties"].get(field).is_some(), "ImageItem.{field}");
        }
        let img2vid = schema(&doc, "Img2VidRequest");
        assert_eq!(img2vid["required"], json!(["images"]));
        // Null is still accepted where serde takes it as absent.
        assert_eq!(img2vid["properties"]["easing"]["anyOf"][1], json!({ "type": "null" }));
        // The defaults the worker applies stay in the descriptions.
        let transcribe = &schema(&doc, "TranscribeRequest")["properties"];
        for (field, text) in [("beam_size", "default 5"), ("enable_vad", "default true")] {
            assert!(transcribe[field]["description"].as_str().unwrap().contains(text), "{field}");
        }
        // Responses keep what is always there required.
        let job = schema(&doc, "JobView");
        for field in ["jobId", "status", "progress", "execution"] {
            assert!(job["required"].as_array().unwrap().contains(&json!(field)), "{field}");
        }
    }

    /// A name defined by both the request and the response generator means the same.
    #[test]
    fn request_and_response_schemas_agree() {
        let mut requests = generator(Contract::Deserialize);
        for op in Operation::ALL {
            request_schema(&mut requests, op);
        }
        let mut responses = generator(Contract::Serialize);
        responses.subschema_for::<JobView>();
        responses.subschema_for::<ErrorBody>();
        responses.subschema_for::<JobStatus>();
        let requests = requests.take_definitions(true);
        for (name, schema) in responses.take_definitions(true) {
            if let Some(other) = requests.get(&name) {
                assert_eq!(other, &schema, "{name}");
            }
        }
    }

    // ------------------------------------------------ aliases: the schema vs serde

    /// Captures the field names (aliases included) serde's derive passes to
    /// `deserialize_struct`.
    struct Probe;

    #[derive(Debug)]
    struct Fields(&'static [&'static str]);

    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }

    impl std::error::Error for Fields {}

    impl serde::de::Error for Fields {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Fields(&[])
        }
    }

    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Fields;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    fn serde_names<T: DeserializeOwned>() -> BTreeSet<String> {
        let Some(Fields(fields)) = T::deserialize(Probe).err() else { panic!("the probe never succeeds") };
        fields.iter().map(|f| (*f).to_owned()).collect()
    }

    fn schema_names<T: JsonSchema>() -> BTreeSet<String> {
        let schema = generator(Contract::Deserialize).into_root_schema_for::<T>();
        let mut names = BTreeSet::new();
        for (name, prop) in schema.get("properties").and_then(Value::as_object).expect("an object schema") {
            names.insert(name.clone());
            for alias in prop.get("x-aliases").and_then(Value::as_array).into_iter().flatten() {
                names.insert(alias.as_str().expect("a string alias").to_owned());
            }
        }
        names
    }

    fn same_names<T: JsonSchema + DeserializeOwned>() {
        assert_eq!(schema_names::<T>(), serde_names::<T>(), "{}", T::schema_name());
    }

    #[test]
    fn x_aliases_are_the_serde_aliases() {
        same_names::<Common>();
        same_names::<Img2Vid>();
        same_names::<ImageItem>();
        same_names::<Caption>();
        same_names::<CaptionStyle>();
        same_names::<StyleOptions>();
        same_names::<FontOptions>();
        same_names::<ColorOptions>();
        same_names::<OpacityOptions>();
        same_names::<BorderOptions>();
        same_names::<BordersOptions>();
        same_names::<AddAudio>();
        same_names::<Concatenate>();
        same_names::<ConcatVideoAudio>();
        same_names::<VideoTrilhaSonora>();
        same_names::<AudioTrilhaSonora>();
        same_names::<AudioConcatenate>();
        same_names::<AudioTrim>();
        same_names::<Downsample>();
        same_names::<Encode>();
        same_names::<Render>();
        same_names::<SceneItem>();
        same_names::<RenderCaptions>();
        same_names::<Transcribe>();
        same_names::<ObjectsStage>();
        same_names::<PipelineSegment>();
        same_names::<SegmentSpec>();
        same_names::<TranscribeYoutube>();
        same_names::<ImagePrompts>();
        same_names::<PromptScene>();
        same_names::<ImageGenerate>();
        same_names::<JobView>();
        same_names::<JobError>();
        same_names::<Execution>();
        same_names::<Progress>();
        same_names::<Problem>();
        same_names::<WebhookView>();
        same_names::<WebhookAttempt>();
        // An untagged enum is not probed this way: parse each alias of `UrlItem`'s object form.
        let doc = doc();
        let aliases = schema(&doc, "UrlItem")["anyOf"][1]["properties"]["url"]["x-aliases"].as_array().expect("url aliases").clone();
        assert_eq!(aliases.len(), 4);
        for alias in aliases {
            let item: UrlItem = serde_json::from_value(json!({ alias.as_str().unwrap(): "https://x.test/a.mp4" })).unwrap();
            assert_eq!(item, UrlItem::Object { url: "https://x.test/a.mp4".into() });
        }
        // Alias notes reach the descriptions, and a required field may be given under an alias.
        let caption = schema(&doc, "CaptionRequest");
        assert!(caption["properties"]["url_video"]["description"].as_str().unwrap().contains("`video_url`"));
        assert!(caption.get("required").is_none(), "url_video and url_srt both have aliases");
        assert_eq!(caption["allOf"][0], json!({ "anyOf": [{ "required": ["url_video"] }, { "required": ["video_url"] }] }));
        let url_item = &schema(&doc, "UrlItem")["anyOf"][1];
        assert_eq!(url_item["allOf"][0]["anyOf"][1], json!({ "required": ["video_url"] }));
        // `/video/render` is documented, and its required fields may come under their aliases.
        let post = &doc["paths"]["/video/render"]["post"];
        assert_eq!(post["operationId"], "video_render");
        assert!(post["description"].as_str().unwrap().contains("one pass"));
        assert_eq!(schema(&doc, "RenderRequest")["allOf"][0]["anyOf"][1], json!({ "required": ["cenas"] }));
        assert_eq!(schema(&doc, "SceneItem")["allOf"][1]["anyOf"][1], json!({ "required": ["duracao"] }));
        let job_id_only = schema(&doc, "PipelineSegmentRequest");
        assert_eq!(job_id_only["required"], json!(["job_id"]));
    }
}
