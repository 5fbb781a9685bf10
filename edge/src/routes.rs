//! The route table: method + path → [`Route`]. Pure, so it is tested natively.

use job_spec::Operation;
use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Root,
    Health,
    OpenApi,
    /// `POST /video/<op>`, `/audio/<op>`, `/objects/<op>`, `/pipeline/<op>` and the
    /// `/runpod/…` aliases.
    Submit(Operation),
    GetJob(String),
    CancelJob(String),
    ListJobs,
    QueueStats,
    /// `GET /pipeline/status?job_id=…&expected=N` (also `/api/pipeline/status`).
    PipelineStatus,
    /// RunPod's completion webhook: `POST /internal/runpod/{job_id}/{token}`.
    RunpodWebhook {
        job_id: String,
        token: String,
    },
    /// The worker's progress reports: `POST /internal/progress/{job_id}/{token}`
    /// (`?part=…&attempt=…`).
    WorkerProgress {
        job_id: String,
        token: String,
    },
}

impl Route {
    /// Whether the route needs an API key. Anonymous: the service's description, the
    /// edge's liveness (`/health`, whose backend check is cached), the OpenAPI document,
    /// and RunPod's webhook and the worker's progress reports (each authenticated by the
    /// HMAC token in its URL). Everything else, `/queue/stats` included, is a tenant's.
    pub fn needs_api_key(&self) -> bool {
        !matches!(self, Route::Root | Route::Health | Route::OpenApi | Route::RunpodWebhook { .. } | Route::WorkerProgress { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    MethodNotAllowed(&'static str),
}

pub fn route(method: &str, path: &str) -> Result<Route, RouteError> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let only = |allowed: &'static str, r: Route| if method == allowed { Ok(r) } else { Err(RouteError::MethodNotAllowed(allowed)) };
    match segs.as_slice() {
        [] => only("GET", Route::Root),
        ["health"] => only("GET", Route::Health),
        ["openapi.json"] => only("GET", Route::OpenApi),
        ["jobs"] => only("GET", Route::ListJobs),
        ["queue", "stats"] => only("GET", Route::QueueStats),
        ["pipeline", "status"] | ["api", "pipeline", "status"] => only("GET", Route::PipelineStatus),
        // `/job/…`: the seed's first job routes (api-gpu README, migration report).
        ["jobs" | "job", id] => only("GET", Route::GetJob((*id).to_owned())),
        ["jobs" | "job", id, "cancel"] => only("POST", Route::CancelJob((*id).to_owned())),
        ["internal", "runpod", job_id, token] => {
            only("POST", Route::RunpodWebhook { job_id: (*job_id).to_owned(), token: (*token).to_owned() })
        }
        ["internal", "progress", job_id, token] => {
            only("POST", Route::WorkerProgress { job_id: (*job_id).to_owned(), token: (*token).to_owned() })
        }
        _ => match Operation::from_path(&format!("/{}", segs.join("/"))) {
            Some(op) => only("POST", Route::Submit(op)),
            None => Err(RouteError::NotFound),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(route("GET", "/"), Ok(Route::Root));
        assert_eq!(route("GET", "/health"), Ok(Route::Health));
        assert_eq!(route("POST", "/video/img2vid"), Ok(Route::Submit(Operation::Img2vid)));
        assert_eq!(route("POST", "/runpod/video/img2vid/"), Ok(Route::Submit(Operation::Img2vid)));
        assert_eq!(route("POST", "/video/background_music"), Ok(Route::Submit(Operation::VideoTrilhaSonora)));
        assert_eq!(route("POST", "/runpod/video/render"), Ok(Route::Submit(Operation::Render)));
        assert_eq!(route("GET", "/video/img2vid"), Err(RouteError::MethodNotAllowed("POST")));
        assert_eq!(route("GET", "/jobs/abc"), Ok(Route::GetJob("abc".into())));
        assert_eq!(route("POST", "/jobs/abc/cancel"), Ok(Route::CancelJob("abc".into())));
        assert_eq!(route("GET", "/job/abc"), Ok(Route::GetJob("abc".into())));
        assert_eq!(route("POST", "/job/abc/cancel"), Ok(Route::CancelJob("abc".into())));
        assert_eq!(route("POST", "/vps/video/caption_style"), Ok(Route::Submit(Operation::CaptionStyle)));
        assert_eq!(route("POST", "/vps/audio/trilhasonora"), Ok(Route::Submit(Operation::AudioTrilhaSonora)));
        assert_eq!(route("POST", "/runpod/audio/transcribe-whisper"), Ok(Route::Submit(Operation::Transcribe)));
        assert_eq!(route("POST", "/api/pipeline/segment"), Ok(Route::Submit(Operation::PipelineSegment)));
        assert_eq!(route("GET", "/jobs"), Ok(Route::ListJobs));
        assert_eq!(route("GET", "/queue/stats"), Ok(Route::QueueStats));
        assert_eq!(route("GET", "/pipeline/status"), Ok(Route::PipelineStatus));
        assert_eq!(route("GET", "/api/pipeline/status/"), Ok(Route::PipelineStatus));
        assert_eq!(route("POST", "/pipeline/status"), Err(RouteError::MethodNotAllowed("GET")));
        assert_eq!(route("POST", "/pipeline/segment"), Ok(Route::Submit(Operation::PipelineSegment)));
        assert_eq!(route("POST", "/internal/runpod/j%31/t"), Ok(Route::RunpodWebhook { job_id: "j1".into(), token: "t".into() }));
        assert_eq!(route("POST", "/internal/progress/j1/t"), Ok(Route::WorkerProgress { job_id: "j1".into(), token: "t".into() }));
        assert_eq!(route("GET", "/internal/progress/j1/t"), Err(RouteError::MethodNotAllowed("POST")));
        assert_eq!(route("GET", "/nope"), Err(RouteError::NotFound));
        assert_eq!(route("POST", "/video/img2vid/extra"), Err(RouteError::NotFound));
    }

    #[test]
    fn only_liveness_description_and_the_runpod_webhook_are_anonymous() {
        for (m, p) in [
            ("GET", "/"),
            ("GET", "/health"),
            ("GET", "/openapi.json"),
            ("POST", "/internal/runpod/j/t"),
            ("POST", "/internal/progress/j/t"),
        ] {
            assert!(!route(m, p).unwrap().needs_api_key(), "{p}");
        }
        for (m, p) in [
            ("GET", "/queue/stats"),
            ("GET", "/jobs"),
            ("GET", "/jobs/abc"),
            ("POST", "/jobs/abc/cancel"),
            ("GET", "/pipeline/status"),
            ("POST", "/video/img2vid"),
            ("POST", "/objects/stage"),
        ] {
            assert!(route(m, p).unwrap().needs_api_key(), "{p}");
        }
    }
}
