//! The wasm-bindgen exports: JSON text in and out (the npm package's `index.js` turns
//! values into text and back), an unknown route is a thrown `Error`.

use wasm_bindgen::prelude::*;

fn route(route: &str) -> Result<job_spec::Operation, JsError> {
    crate::operation(route).ok_or_else(|| JsError::new(&format!("unknown operation `{route}`: operations() lists the routes")))
}

/// The canonical path of a route (`/runpod/video/img2vid` → `/video/img2vid`), or
/// `undefined` when the edge routes it to no operation.
#[wasm_bindgen(js_name = operationPath)]
pub fn operation_path(name: &str) -> Option<String> {
    crate::operation(name).map(|op| op.path().to_owned())
}

/// The edge's 400 body (JSON text) for `body` (the request's JSON text), or `undefined`
/// when the edge would accept it.
#[wasm_bindgen(js_name = validateJson)]
pub fn validate_json(operation: &str, body: &str) -> Result<Option<String>, JsError> {
    Ok(crate::validate(route(operation)?, body.as_bytes()).map(|v| v.to_string()))
}

/// `[{path, name, aliases}]` as JSON text.
#[wasm_bindgen(js_name = operationsJson)]
pub fn operations_json() -> String {
    crate::operations().to_string()
}

/// The OpenAPI document as JSON text.
#[wasm_bindgen(js_name = openapiJson)]
pub fn openapi_json() -> String {
    crate::openapi().to_string()
}
