//! The worker refuses inputs at the addresses job-spec's check refuses (the edge runs the
//! same check): IPv6 ranges that tunnel or translate to IPv4, and cloud metadata hosts.
//! Refused before any connection, with the job's error naming why.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::env;
use job_spec::worker::{AudioFormat, AudioTrimTask, InputUrl, OUTPUT, OutputTarget};
use job_spec::{Task, WorkerJob};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn inputs_at_tunnelled_and_metadata_addresses_are_refused() {
    let e = env().await;
    for host in [
        "168.63.129.16",
        "[2002:a9fe:a9fe::1]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        "[64:ff9b:1::a9fe:a9fe]",
        "[::ffff:0:a00:1]",
        "[::ffff:8.8.8.8]",
    ] {
        let job = WorkerJob {
            progress_url: None,
            job_id: "ranges".into(),
            attempt: 1,
            inputs: vec![InputUrl { name: "audio".into(), url: format!("https://{host}/a.wav") }],
            outputs: vec![OutputTarget {
                name: OUTPUT.into(),
                key: "out".into(),
                put_url: e.storage.url("out"),
                content_type: "audio/mpeg".into(),
            }],
            task: Task::AudioTrim(AudioTrimTask { start_sec: 0.0, duration_sec: 1.0, format: AudioFormat::Mp3 }),
        };
        let err = e.exec.execute(&job, Arc::new(|_| {}), &CancellationToken::new()).await.unwrap_err().to_worker_error();
        assert_eq!((err.code.as_str(), err.retryable), ("input-refused", false), "{host}: {err:?}");
        assert!(err.message.contains("private-address"), "{host}: {}", err.message);
    }
}
