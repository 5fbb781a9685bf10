//! The n8n workflows in `examples/n8n/` against the API they call, without n8n or a server:
//! every workflow parses; every HTTP Request node calls a route and method of the OpenAPI
//! document (`job_spec::openapi::document`, what `GET /openapi.json` serves) with the API
//! key from a credential, never inline; every request body, its n8n expressions (`{{ … }}`)
//! replaced by sample values (the Input node's own values where a body reads them, else
//! values typed from the route's schema), names only fields the schema
//! knows (or their aliases) and passes the edge's own parse and plan (`Operation::parse_value`
//! then `job_spec::plan`, which validates); every connection names existing nodes; every
//! Wait node resumed by webhook follows a submission whose `webhook_url` is
//! `{{ $execution.resumeUrl }}`, and every such submission is followed by one.
//!
//! [`check`] returns every problem of a workflow, so the second test shows that a wrong
//! route, a misspelt or missing field, a bad value, an inline key, a dangling connection and
//! a Wait without its webhook are each caught.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use job_spec::{Operation, PlanError, RefContext};
use serde_json::{Map, Value, json};

const HTTP: &str = "n8n-nodes-base.httpRequest";
const WAIT: &str = "n8n-nodes-base.wait";
/// What the faceless workflow runs, in order (README: the faceless chain).
const FACELESS_CHAIN: [&str; 6] =
    ["/video/img2vid", "/video/concatenate", "/video/addaudio", "/video/trilhasonora", "/audio/transcribe", "/video/caption_style"];
/// The sample for `$execution.resumeUrl`: an https URL, as n8n's are in production.
const RESUME_URL: &str = "https://n8n.example.com/webhook-waiting/4242";
// Private-use characters mark where an expression stood: they cannot occur in the workflows.
const IN_STRING: (char, char) = ('\u{E000}', '\u{E001}');
const BARE: (char, char) = ('\u{E002}', '\u{E003}');

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/n8n")
}

fn workflows() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("examples/n8n exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            let wf = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, wf)
        })
        .collect()
}

// ------------------------------------------------------------------ the OpenAPI document

struct Api {
    doc: Value,
}

impl Api {
    fn new() -> Api {
        Api { doc: job_spec::openapi::document(None) }
    }

    /// Follows `$ref`s to the schema they name.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
            s = &self.doc["components"]["schemas"][name];
        }
        s
    }

    /// The OpenAPI path template and method a request reaches: a path of the document or
    /// one of its `x-aliases`, `{param}` matching any one segment.
    fn route(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let matches = |template: &str| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segs.len() && t.iter().zip(&segs).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        };
        let method = method.to_ascii_lowercase();
        for (template, item) in self.doc["paths"].as_object()? {
            let Some(op) = item.get(&method) else { continue };
            let aliases = op.get("x-aliases").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
            if matches(template) || aliases.into_iter().any(matches) {
                return Some((template.clone(), op));
            }
        }
        None
    }

    /// The variant of `s` a value of this JSON type takes (`anyOf`/`oneOf`), resolved.
    fn pick<'a>(&'a self, s: &'a Value, v: &Value) -> &'a Value {
        let s = self.resolve(s);
        let Some(variants) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) else { return s };
        variants.iter().map(|x| self.pick(x, v)).find(|x| accepts(x, v)).unwrap_or(s)
    }

    /// An object schema's properties with their aliases, `allOf` parts included; `None`
    /// when any property goes (`metadata`).
    fn properties<'a>(&'a self, s: &'a Value) -> Option<Vec<(String, &'a Value)>> {
        let mut out = vec![];
        let mut parts = vec![s];
        parts.extend(s.get("allOf").and_then(Value::as_array).into_iter().flatten().map(|p| self.resolve(p)));
        for part in parts {
            for (name, prop) in part.get("properties").and_then(Value::as_object).into_iter().flatten() {
                out.push((name.clone(), prop));
                for alias in prop.get("x-aliases").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    out.push((alias.to_owned(), prop));
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// A sample value of schema `s` (what an n8n expression stands for in the test).
    fn sample(&self, s: &Value) -> Value {
        let s = self.resolve(s);
        if let Some(v) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            let first = v.iter().map(|x| self.resolve(x)).find(|x| x.get("type") != Some(&json!("null")));
            return first.map_or(Value::Null, |x| self.sample(x));
        }
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array).and_then(|e| e.iter().find(|x| !x.is_null())) {
            return e.clone();
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(t)) => t.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
            _ if s.get("properties").is_some() => "object",
            _ => "string",
        };
        let number = |default: f64| {
            let min = s.get("minimum").and_then(Value::as_f64).unwrap_or(f64::MIN);
            let max = s.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
            default.clamp(min, max)
        };
        match ty {
            "integer" => {
                let n = number(2.0) as i64;
                json!(n + n % 2)
            }
            "number" => json!(number(2.5)),
            "boolean" => json!(true),
            "array" => {
                let n = s.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
                Value::Array((0..n).map(|_| self.sample(&s["items"])).collect())
            }
            "object" => {
                let mut o = Map::new();
                let required = s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
                // A field required under any of its names (`allOf: [{anyOf: [{required: [name]}, …]}]`).
                let either = s
                    .get("allOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("anyOf")?.as_array()?.first()?.get("required")?.as_array()?.first()?.as_str());
                for name in required.chain(either) {
                    o.insert(name.to_owned(), self.sample(&s["properties"][name]));
                }
                Value::Object(o)
            }
            _ => Value::String(sample_string(s)),
        }
    }

    /// Replaces the expression marks of `v` (a body at schema `s`) with samples and lists
    /// the fields the schema does not know.
    fn fill(&self, s: Option<&Value>, v: &mut Value, at: &str, e: &Exprs<'_>, problems: &mut Vec<String>) {
        let exprs = &e.exprs;
        if let Value::String(text) = v
            && let Some(i) = whole_mark(text, BARE)
        {
            *v = match exprs[i].as_str() {
                "$execution.resumeUrl" => json!(RESUME_URL),
                x => e.known(x).unwrap_or_else(|| s.map_or(json!("sample"), |s| self.sample(s))),
            };
            // What it stands for is checked like a literal (the Input node's scenes).
            if let Some(s) = s {
                self.fill(Some(s), v, at, &Exprs::default(), problems);
            }
            return;
        }
        let Some(s) = s.map(|s| self.pick(s, v)) else {
            // No schema below (`metadata`): any JSON, but its marks still get values.
            fill_strings(v, exprs);
            return;
        };
        match v {
            Value::String(text) => {
                if let Some(i) = whole_mark(text, IN_STRING) {
                    *text = match exprs[i].as_str() {
                        "$execution.resumeUrl" => RESUME_URL.to_owned(),
                        x => match e.known(x).unwrap_or_else(|| self.sample(s)) {
                            Value::String(x) => x,
                            // A number or a boolean written in quotes stays a string, so the
                            // parse reports it (`invalid-type`).
                            other => other.to_string(),
                        },
                    };
                } else {
                    *text = replace_marks(text, IN_STRING, |_| "sample".to_owned());
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.fill(s.get("items"), item, &format!("{at}[{i}]"), e, problems);
                }
            }
            Value::Object(fields) => {
                let props = self.properties(s);
                for (k, field) in fields.iter_mut() {
                    let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    match &props {
                        None => self.fill(None, field, &path, e, problems),
                        Some(props) => match props.iter().find(|(n, _)| n == k) {
                            Some((_, p)) => self.fill(Some(p), field, &path, e, problems),
                            None => {
                                problems.push(format!("`{path}` is not a field of this request (the API ignores it)"));
                                fill_strings(field, exprs);
                            }
                        },
                    }
                }
            }
            _ => {}
        }
    }
}

/// The expressions of one template, and the output of the workflow's Set nodes in raw
/// mode (a literal JSON, like the Input node's), by node name.
#[derive(Default)]
struct Exprs<'a> {
    exprs: Vec<String>,
    literals: Option<&'a BTreeMap<String, Value>>,
}

impl Exprs<'_> {
    /// The value of `$('Node').first().json.a.b` (or `.item`, or inside `JSON.stringify(…)`)
    /// when node `Node` outputs a literal that has it.
    fn known(&self, expr: &str) -> Option<Value> {
        let inner = expr.strip_prefix("JSON.stringify(").and_then(|x| x.strip_suffix(')')).unwrap_or(expr);
        let (node, rest) = inner.strip_prefix("$('")?.split_once("')")?;
        let path = rest.strip_prefix(".first().json.").or_else(|| rest.strip_prefix(".item.json."))?;
        let mut v = self.literals?.get(node)?;
        for k in path.split('.') {
            v = v.get(k)?;
        }
        (!v.is_null()).then(|| v.clone())
    }
}

/// Whether a schema variant takes a value of `v`'s JSON type.
fn accepts(s: &Value, v: &Value) -> bool {
    let ty = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let ok = |t: &str| t == ty || (t == "number" && ty == "integer");
    match s.get("type") {
        Some(Value::String(t)) => ok(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(ok),
        _ if s.get("properties").is_some() => ty == "object",
        _ => true,
    }
}

fn sample_string(s: &Value) -> String {
    let pattern = s.get("pattern").and_then(Value::as_str).unwrap_or_default();
    if s.get("format").and_then(Value::as_str) == Some("uri") || pattern.contains("://") {
        "https://media.example.com/sample".into()
    } else if pattern.contains("[0-9A-Fa-f]{6}") {
        "#FFFFFF".into()
    } else if let Some(ext) = s.get("x-extensions").and_then(|e| e.get(0)).and_then(Value::as_str) {
        format!("sample.{ext}")
    } else {
        "sample".into()
    }
}

fn mark(kind: (char, char), i: usize) -> String {
    format!("{}{i}{}", kind.0, kind.1)
}

/// The expression index when `text` is exactly one mark of `kind`.
fn whole_mark(text: &str, kind: (char, char)) -> Option<usize> {
    text.strip_prefix(kind.0)?.strip_suffix(kind.1)?.parse().ok()
}

fn replace_marks(text: &str, kind: (char, char), f: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(kind.0) {
        out.push_str(&rest[..start]);
        let after = &rest[start + kind.0.len_utf8()..];
        let end = after.find(kind.1).expect("a closed mark");
        out.push_str(&f(after[..end].parse().expect("a mark index")));
        rest = &after[end + kind.1.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Values a node computes (a bare expression) are not known before it runs: `null`.
fn unknown_bare(v: &mut Value) {
    match v {
        Value::String(t) if whole_mark(t, BARE).is_some() => *v = Value::Null,
        Value::Array(a) => a.iter_mut().for_each(unknown_bare),
        Value::Object(o) => o.values_mut().for_each(unknown_bare),
        _ => {}
    }
}

/// Gives every mark below `v` a value without a schema: `sample` (an https URL where the
/// expression is `$execution.resumeUrl`).
fn fill_strings(v: &mut Value, exprs: &[String]) {
    let value = |i: usize| if exprs[i] == "$execution.resumeUrl" { RESUME_URL.to_owned() } else { "sample".to_owned() };
    match v {
        Value::String(t) => match whole_mark(t, BARE) {
            Some(i) => *v = json!(value(i)),
            None => *t = replace_marks(t, IN_STRING, value),
        },
        Value::Array(a) => a.iter_mut().for_each(|x| fill_strings(x, exprs)),
        Value::Object(o) => o.values_mut().for_each(|x| fill_strings(x, exprs)),
        _ => {}
    }
}

/// An n8n JSON body template (`={ "a": "{{ x }}", "b": {{ y }} }`) as JSON, each
/// expression replaced by a mark — inside a string literal an [`IN_STRING`] mark, elsewhere
/// a string holding a [`BARE`] mark (the value it will become) — and the expressions.
fn parse_template(template: &str) -> Result<(Value, Vec<String>), String> {
    let body = template.strip_prefix('=').unwrap_or(template);
    let (mut text, mut exprs, mut in_string, mut escaped) = (String::new(), vec![], false, false);
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") {
            let end = rest.find("}}").ok_or("an expression `{{` without its `}}`")?;
            exprs.push(rest[2..end].trim().to_owned());
            let m = mark(if in_string { IN_STRING } else { BARE }, exprs.len() - 1);
            text.push_str(&if in_string { m } else { format!("\"{m}\"") });
            rest = &rest[end + 2..];
            continue;
        }
        if c == '"' && !(in_string && escaped) {
            in_string = !in_string;
        }
        escaped = in_string && !escaped && c == '\\';
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    let value = serde_json::from_str(&text).map_err(|e| format!("the body is not a JSON template: {e}"))?;
    Ok((value, exprs))
}

// ------------------------------------------------------------------ one workflow

fn ctx() -> RefContext {
    RefContext {
        allow_loopback_http: false,
        bucket: Some("media".into()),
        tenant_prefix: Some("t/n8n/".into()),
        other_prefixes: vec!["t/other/".into()],
    }
}

/// Every problem of one workflow; empty when it is fine.
fn check(api: &Api, wf: &Value) -> Vec<String> {
    let mut problems = vec![];
    let nodes = wf["nodes"].as_array().cloned().unwrap_or_default();
    if nodes.is_empty() || wf.get("connections").and_then(Value::as_object).is_none() {
        return vec!["not an n8n workflow: `nodes` and `connections` are required".into()];
    }
    let by_name: BTreeMap<&str, &Value> = nodes.iter().filter_map(|n| Some((n["name"].as_str()?, n))).collect();
    if by_name.len() != nodes.len() {
        problems.push("node names must be present and unique (connections refer to them)".into());
    }
    let ids: BTreeSet<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    if ids.len() != nodes.len() {
        problems.push("node ids must be present and unique".into());
    }
    for n in &nodes {
        let name = n["name"].as_str().unwrap_or("?");
        if !n["type"].as_str().is_some_and(|t| t.starts_with("n8n-nodes-base.")) || !n["typeVersion"].is_number() {
            problems.push(format!("{name}: `type` (n8n-nodes-base.*) and `typeVersion` are required"));
        }
        if !n["position"].as_array().is_some_and(|p| p.len() == 2 && p.iter().all(Value::is_number)) {
            problems.push(format!("{name}: `position` must be [x, y]"));
        }
    }

    // Connections: from and to existing nodes; every node but the trigger has an input.
    let mut incoming: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut outgoing: BTreeMap<&str, Vec<Vec<&str>>> = BTreeMap::new();
    for (src, kinds) in wf["connections"].as_object().into_iter().flatten() {
        if !by_name.contains_key(src.as_str()) {
            problems.push(format!("a connection starts at `{src}`, which is not a node"));
        }
        for (kind, outputs) in kinds.as_object().into_iter().flatten() {
            for output in outputs.as_array().into_iter().flatten() {
                let mut targets = vec![];
                for target in output.as_array().into_iter().flatten() {
                    let to = target["node"].as_str().unwrap_or_default();
                    if !by_name.contains_key(to) {
                        problems.push(format!("a connection from `{src}` goes to `{to}`, which is not a node"));
                    }
                    if target["type"] != json!(kind) || !target["index"].is_u64() {
                        problems.push(format!("the connection `{src}` → `{to}` needs `type` {kind} and an `index`"));
                    }
                    incoming.entry(to).or_default().push(src);
                    targets.push(to);
                }
                outgoing.entry(src.as_str()).or_default().push(targets);
            }
        }
    }
    let triggers: Vec<&str> = nodes
        .iter()
        .filter(|n| n["type"].as_str().is_some_and(|t| t.ends_with("Trigger") || t.ends_with(".webhook")))
        .filter_map(|n| n["name"].as_str())
        .collect();
    if triggers.len() != 1 {
        problems.push(format!("one trigger node expected, found {triggers:?}"));
    }
    for name in by_name.keys() {
        if !triggers.contains(name) && !incoming.contains_key(name) {
            problems.push(format!("`{name}` has no input: it would never run"));
        }
    }

    // What Set nodes in raw mode output (the Input node): samples where bodies read them.
    let mut literals = BTreeMap::new();
    for n in nodes.iter().filter(|n| n["type"] == "n8n-nodes-base.set" && n["parameters"]["mode"] == "raw") {
        let name = n["name"].as_str().unwrap_or("?");
        match parse_template(n["parameters"]["jsonOutput"].as_str().unwrap_or_default()) {
            Ok((mut v, exprs)) => {
                unknown_bare(&mut v);
                fill_strings(&mut v, &exprs);
                literals.insert(name.to_owned(), v);
            }
            Err(e) => problems.push(format!("{name}: its JSON output: {e}")),
        }
    }

    // Secrets: never inline, anywhere in the file.
    secrets(wf, "", &mut problems);

    // HTTP Request nodes.
    let mut resume_submits = BTreeSet::new();
    for n in nodes.iter().filter(|n| n["type"] == HTTP) {
        let name = n["name"].as_str().unwrap_or("?");
        let p = &n["parameters"];
        if n["typeVersion"].as_f64().is_none_or(|v| v < 4.0) {
            problems.push(format!("{name}: HTTP Request typeVersion 4.x expected (its parameter names)"));
        }
        if p["authentication"] != "genericCredentialType" || p["genericAuthType"] != "httpHeaderAuth" {
            problems.push(format!(
                "{name}: the API key must come from a Header Auth credential (authentication genericCredentialType, httpHeaderAuth)"
            ));
        }
        let cred = &n["credentials"]["httpHeaderAuth"];
        if !cred["name"].is_string() || !cred["id"].is_string() || n["credentials"].as_object().is_some_and(|c| c.len() != 1) {
            problems.push(format!("{name}: `credentials` must reference the httpHeaderAuth credential by id and name, and only it"));
        }
        for h in p["headerParameters"]["parameters"].as_array().into_iter().flatten() {
            let header = h["name"].as_str().unwrap_or_default().to_ascii_lowercase();
            if header == "x-api-key" || header == "authorization" {
                problems.push(format!("{name}: the `{header}` header is set inline; use the credential"));
            }
        }
        if let Ok((body, exprs)) = parse_template(p["jsonBody"].as_str().unwrap_or_default())
            && body
                .get("webhook_url")
                .and_then(Value::as_str)
                .and_then(|t| whole_mark(t, IN_STRING))
                .is_some_and(|i| exprs[i] == "$execution.resumeUrl")
        {
            resume_submits.insert(name);
        }
        let method = p["method"].as_str().unwrap_or("GET");
        let url = p["url"].as_str().unwrap_or_default();
        let Some(path) = api_path(url) else {
            problems.push(format!("{name}: the URL must be `={{{{ <base URL expression> }}}}/<route>`, got {url:?}"));
            continue;
        };
        let Some((template, op)) = api.route(method, &path) else {
            problems.push(format!("{name}: {method} {path} is not a route of /openapi.json"));
            continue;
        };
        let has_body = p["sendBody"] == json!(true);
        let Some(body_schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() else {
            if has_body {
                problems.push(format!("{name}: {method} {template} takes no body"));
            }
            continue;
        };
        if !has_body || p["specifyBody"] != "json" || p["contentType"].as_str().is_some_and(|c| c != "json") {
            problems.push(format!("{name}: {method} {template} needs a JSON body (sendBody, specifyBody \"json\", jsonBody)"));
            continue;
        }
        let (mut body, exprs) = match parse_template(p["jsonBody"].as_str().unwrap_or_default()) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        if !body.is_object() {
            problems.push(format!("{name}: the body must be a JSON object template (`={{ \"field\": … }}`), so its fields can be checked"));
            continue;
        }
        let mut fields = vec![];
        let e = Exprs { exprs, literals: Some(&literals) };
        api.fill(Some(&Value::Object(body_schema.clone())), &mut body, "", &e, &mut fields);
        problems.extend(fields.into_iter().map(|f| format!("{name}: {f}")));
        let op = Operation::from_path(&template).expect("a POST route with a body is an operation");
        let planned = op.parse_value(body.clone()).and_then(|req| match job_spec::plan(&req, &"ab".repeat(32), &ctx()) {
            Ok(_) => Ok(()),
            Err(PlanError::Invalid(p)) => Err(p),
            Err(PlanError::NotImplemented(op)) => panic!("{} is not implemented", op.path()),
        });
        if let Err(ps) = planned {
            for pr in ps {
                problems.push(format!("{name}: {template} refuses `{}`: {} ({}); body {body}", pr.field, pr.code, pr.message));
            }
        }
    }

    // Wait nodes resumed by webhook: after a submission that gives the API resumeUrl.
    for n in nodes.iter().filter(|n| n["type"] == WAIT && n["parameters"]["resume"] == "webhook") {
        let name = n["name"].as_str().unwrap_or("?");
        if n["parameters"]["httpMethod"] != "POST" {
            problems.push(format!("{name}: the API's webhook is a POST (httpMethod \"POST\")"));
        }
        if !n["webhookId"].is_string() {
            problems.push(format!("{name}: a `webhookId` is required"));
        }
        let from: Vec<&str> = incoming.get(name).cloned().unwrap_or_default();
        let http_from: Vec<&str> = from.iter().copied().filter(|f| by_name.get(f).is_some_and(|n| n["type"] == HTTP)).collect();
        if http_from.is_empty() {
            problems.push(format!("{name}: waits for a webhook but follows no API submission"));
        }
        for f in http_from {
            if !resume_submits.contains(f) {
                problems
                    .push(format!("{name}: follows `{f}`, whose body does not set \"webhook_url\": \"{{{{ $execution.resumeUrl }}}}\""));
            }
        }
    }
    for s in &resume_submits {
        let next = outgoing.get(s).into_iter().flatten().flatten();
        if !next.into_iter().any(|t| by_name.get(t).is_some_and(|n| n["type"] == WAIT && n["parameters"]["resume"] == "webhook")) {
            problems.push(format!("{s}: sends the resumeUrl but no Wait node (resume: webhook) follows it"));
        }
    }
    problems
}

/// The route part of an HTTP node's URL: after the leading base-URL expression, its own
/// expressions (`/jobs/{{ … }}`) standing for one segment each.
fn api_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("={{")?;
    let rest = &rest[rest.find("}}")? + 2..];
    if !rest.starts_with('/') || rest.contains('?') {
        return None;
    }
    let mut out = String::new();
    let mut rest = rest;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        out.push('x');
        rest = &rest[start + rest[start..].find("}}")? + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Keys and values that would be a secret written into the workflow.
fn secrets(v: &Value, at: &str, problems: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            for needle in ["whsec_", "Bearer ", "X-API-Key:"] {
                if s.contains(needle) {
                    problems.push(format!("`{at}` holds what looks like a secret ({needle}…); keep it in a credential"));
                }
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| secrets(x, &format!("{at}[{i}]"), problems)),
        Value::Object(o) => {
            for (k, x) in o {
                let key = k.to_ascii_lowercase().replace(['-', '_'], "");
                let named = ["apikey", "xapikey", "secret", "password", "token", "authorization"].iter().any(|s| key.contains(s));
                if named && x.as_str().is_some_and(|s| !s.is_empty()) {
                    problems.push(format!("`{at}.{k}` is set inline; keep it in a credential"));
                }
                secrets(x, &format!("{at}.{k}"), problems);
            }
        }
        _ => {}
    }
}

/// The API routes a workflow calls, in the order its nodes are first reached from the trigger.
fn routes_in_order(wf: &Value) -> Vec<String> {
    let nodes: BTreeMap<&str, &Value> =
        wf["nodes"].as_array().into_iter().flatten().filter_map(|n| Some((n["name"].as_str()?, n))).collect();
    let start = nodes.values().find(|n| n["type"].as_str().is_some_and(|t| t.ends_with("Trigger"))).expect("a trigger")["name"]
        .as_str()
        .expect("a name");
    let (mut seen, mut queue, mut out) = (BTreeSet::from([start]), VecDeque::from([start]), vec![]);
    while let Some(name) = queue.pop_front() {
        let n = nodes[name];
        if n["type"] == HTTP {
            out.push(format!(
                "{} {}",
                n["parameters"]["method"].as_str().unwrap_or("GET"),
                api_path(n["parameters"]["url"].as_str().unwrap_or_default()).unwrap_or_default()
            ));
        }
        for output in wf["connections"][name]["main"].as_array().into_iter().flatten() {
            for t in output.as_array().into_iter().flatten() {
                let t = t["node"].as_str().unwrap_or_default();
                if seen.insert(t) {
                    queue.push_back(t);
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------ tests

#[test]
fn every_workflow_calls_real_routes_with_valid_bodies_and_the_key_in_a_credential() {
    let api = Api::new();
    let all = workflows();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["faceless-video-webhooks.json", "transcribe-polling.json"], "the workflows checked");
    let mut failures = vec![];
    for (name, wf) in &all {
        failures.extend(check(&api, wf).into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The faceless chain, in order, each step resumed by its webhook.
    let faceless = &all[0].1;
    let expected: Vec<String> = FACELESS_CHAIN.iter().map(|r| format!("POST {r}")).collect();
    assert_eq!(routes_in_order(faceless), expected);
    let waits = faceless["nodes"].as_array().unwrap().iter().filter(|n| n["type"] == WAIT && n["parameters"]["resume"] == "webhook");
    assert_eq!(waits.count(), FACELESS_CHAIN.len(), "one Wait per step");

    // The polling flow: one submission without a webhook, then GET /jobs/{id} after a timed Wait.
    let polling = &all[1].1;
    assert_eq!(routes_in_order(polling), ["POST /audio/transcribe", "GET /jobs/x"]);
    let nodes = polling["nodes"].as_array().unwrap();
    assert!(!nodes.iter().any(|n| n["parameters"]["jsonBody"].as_str().is_some_and(|b| b.contains("webhook_url"))));
    assert!(nodes.iter().any(|n| n["type"] == WAIT && n["parameters"]["resume"] == "timeInterval"));
}

/// Edits the faceless workflow the way a mistake would and returns its problems.
fn broken(edit: impl FnOnce(&mut Value)) -> String {
    let mut wf = workflows().into_iter().find(|(n, _)| n.starts_with("faceless")).expect("the faceless workflow").1;
    edit(&mut wf);
    check(&Api::new(), &wf).join("\n")
}

/// A change to a workflow.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn node_mut<'a>(wf: &'a mut Value, name: &str) -> &'a mut Value {
    wf["nodes"].as_array_mut().expect("nodes").iter_mut().find(|n| n["name"] == name).unwrap_or_else(|| panic!("no node {name}"))
}

fn edit_body(wf: &mut Value, node: &str, from: &str, to: &str) {
    edit_param(wf, node, "jsonBody", from, to);
}

fn edit_param(wf: &mut Value, node: &str, param: &str, from: &str, to: &str) {
    let body = &mut node_mut(wf, node)["parameters"][param];
    let text = body.as_str().expect("a text parameter");
    assert!(text.contains(from), "{node}'s {param} has {from}");
    *body = json!(text.replacen(from, to, 1));
}

#[test]
fn a_wrong_route_a_bad_field_an_inline_key_or_a_loose_wait_is_caught() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a route that does not exist",
            Box::new(|wf| {
                let url = &mut node_mut(wf, "Submit img2vid")["parameters"]["url"];
                *url = json!(url.as_str().unwrap().replace("/video/img2vid", "/video/img2video"));
            }),
            "POST /video/img2video is not a route",
        ),
        (
            "the right path with the wrong method",
            Box::new(|wf| node_mut(wf, "Submit concatenate")["parameters"]["method"] = json!("PUT")),
            "PUT /video/concatenate is not a route",
        ),
        (
            "a required field under a wrong name",
            Box::new(|wf| edit_body(wf, "Submit trilhasonora", "\"trilha_sonora\"", "\"trilha\"")),
            "`trilha` is not a field",
        ),
        (
            "a required field missing",
            Box::new(|wf| edit_body(wf, "Submit trilhasonora", "\"trilha_sonora\"", "\"music\"")),
            "refuses `trilha_sonora`: required",
        ),
        (
            "an optional field misspelt",
            Box::new(|wf| edit_body(wf, "Submit addaudio", "\"output_filename\"", "\"output_filname\"")),
            "`output_filname` is not a field",
        ),
        (
            "a nested style field misspelt",
            Box::new(|wf| edit_body(wf, "Submit caption_style", "\"tamanho_fonte\"", "\"tamanho_da_fonte\"")),
            "`style.tamanho_da_fonte` is not a field",
        ),
        (
            "a scene of the Input node with a field img2vid does not know",
            Box::new(|wf| edit_param(wf, "Input", "jsonOutput", "\"duracao\": 5", "\"duracao\": 5, \"duration_s\": 5")),
            "Submit img2vid: `images[0].duration_s` is not a field",
        ),
        (
            "a scene of the Input node without its duration",
            Box::new(|wf| edit_param(wf, "Input", "jsonOutput", "\"duracao\": 4.5", "\"seconds\": 4.5")),
            "refuses `images[1].duracao`: required",
        ),
        (
            "a value the API refuses",
            Box::new(|wf| edit_body(wf, "Submit caption_style", "\"highlight\"", "\"karaoke\"")),
            "refuses `type`: invalid-value",
        ),
        (
            "a number out of range",
            Box::new(|wf| edit_body(wf, "Submit img2vid", "\"frame_rate\": 30", "\"frame_rate\": 240")),
            "refuses `frame_rate`: out-of-range",
        ),
        (
            "an expression in quotes where a number goes",
            Box::new(|wf| {
                edit_body(wf, "Submit trilhasonora", "\"volume_reduction_db\": 20", "\"volume_reduction_db\": \"{{ $json.db }}\"")
            }),
            "refuses `volume_reduction_db`: invalid-type",
        ),
        (
            "the API key inline",
            Box::new(|wf| {
                let p = &mut node_mut(wf, "Submit img2vid")["parameters"];
                p["authentication"] = json!("none");
                p["sendHeaders"] = json!(true);
                p["headerParameters"] = json!({"parameters": [{"name": "X-API-Key", "value": "agk_live_123"}]});
            }),
            "the `x-api-key` header is set inline",
        ),
        (
            "a connection to a node that is not there",
            Box::new(|wf| wf["connections"]["Submit addaudio"]["main"][0][0]["node"] = json!("Wait for add_audio")),
            "goes to `Wait for add_audio`, which is not a node",
        ),
        (
            "a Wait after a submission without the resumeUrl",
            Box::new(|wf| edit_body(wf, "Submit transcribe", "\"webhook_url\": \"{{ $execution.resumeUrl }}\"", "\"path\": \"x\"")),
            "Wait for transcribe: follows `Submit transcribe`, whose body does not set \"webhook_url\"",
        ),
        (
            "a webhook_url that is not the resumeUrl",
            Box::new(|wf| edit_body(wf, "Submit concatenate", "{{ $execution.resumeUrl }}", "https://hooks.example.com/x")),
            "Wait for concatenate: follows `Submit concatenate`, whose body does not set",
        ),
        (
            "a body built by one expression (no fields to check)",
            Box::new(|wf| node_mut(wf, "Submit addaudio")["parameters"]["jsonBody"] = json!("={{ JSON.stringify($json.body) }}")),
            "the body must be a JSON object template",
        ),
    ];
    for (what, edit, expected) in cases {
        let problems = broken(edit);
        assert!(problems.contains(expected), "{what}: expected a problem containing {expected:?}, got:\n{problems}");
    }
}

#[test]
fn templates_become_typed_samples() {
    let api = Api::new();
    let (mut body, exprs) = parse_template(
        r#"={ "images": {{ JSON.stringify($json.images) }}, "path": "{{ $json.p }}/clips", "frame_rate": {{ $json.fps }},
             "webhook_url": "{{ $execution.resumeUrl }}", "metadata": {"run": "{{ $execution.id }}"} }"#,
    )
    .unwrap();
    assert_eq!(exprs, ["JSON.stringify($json.images)", "$json.p", "$json.fps", "$execution.resumeUrl", "$execution.id"]);
    let (_, op) = api.route("POST", "/video/img2vid").unwrap();
    let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    let mut problems = vec![];
    api.fill(Some(&schema), &mut body, "", &Exprs { exprs, literals: None }, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        body,
        json!({"images": [{"image_url": "https://media.example.com/sample", "duracao": 2.5}], "path": "sample/clips",
               "frame_rate": 2, "webhook_url": RESUME_URL, "metadata": {"run": "sample"}})
    );
    assert_eq!(api_path("={{ $('Input').first().json.api_base_url }}/jobs/{{ $json.jobId }}").as_deref(), Some("/jobs/x"));
    assert_eq!(api.route("GET", "/jobs/x").map(|r| r.0).as_deref(), Some("/jobs/{jobId}"));
    assert_eq!(api.route("POST", "/vps/video/img2vid").map(|r| r.0).as_deref(), Some("/video/img2vid"));
    assert!(api.route("GET", "/video/img2vid").is_none());
}
