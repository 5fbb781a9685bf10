//! Progress pushed to the job's progress URL (`progress_push`), from real img2vid jobs
//! through `Executor::execute`: the posts arrive, at most about one a second besides
//! stage changes, none in a job's first second and none after it ended (a job that
//! ends within a second posts nothing), and a progress endpoint that is down or hangs
//! neither fails nor delays the job.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use common::{Env, env, spawn_server, still};
use job_spec::worker::{ClipTask, Img2VidTask, InputUrl, OutputTarget};
use job_spec::{Progress, Task, WorkerJob, ZoomType};
use tokio_util::sync::CancellationToken;

/// One test at a time: two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Posts = Arc<Mutex<Vec<(Instant, Option<String>, Progress)>>>;

/// A progress endpoint recording every POST (when, query, body); `delay` before answering.
async fn receiver(delay: Duration) -> (String, Posts) {
    let posts: Posts = Arc::default();
    let app = Router::new()
        .route(
            "/internal/progress/job/tok",
            post(|State((posts, delay)): State<(Posts, Duration)>, RawQuery(q): RawQuery, Json(p): Json<Progress>| async move {
                posts.lock().unwrap().push((Instant::now(), q, p));
                tokio::time::sleep(delay).await;
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state((posts.clone(), delay));
    (spawn_server(app).await, posts)
}

/// img2vid of `clips` clips of 96 frames at 640×360 (a few seconds on two cores),
/// pushing to `progress_url`; returns the updates the callback saw and the wall time.
async fn run(e: &Env, progress_url: Option<String>, clips: u32) -> (Vec<(Instant, Progress)>, Duration) {
    let (seen, took, result) = run_job(e, progress_url, clips, "img").await;
    result.unwrap();
    (seen, took)
}

/// [`run`] with the image read from `input`, which may not exist; also returns the outcome.
async fn run_job(
    e: &Env,
    progress_url: Option<String>,
    clips: u32,
    input: &str,
) -> (Vec<(Instant, Progress)>, Duration, Result<(), String>) {
    e.storage.put("img", still(e.dir.path(), "img.png", "1280x720"));
    let job = WorkerJob {
        job_id: "job".into(),
        attempt: 1,
        inputs: vec![InputUrl { name: "image".into(), url: e.storage.url(input) }],
        outputs: (1..=clips)
            .map(|i| OutputTarget {
                name: format!("video_{i}"),
                key: format!("out/{i}"),
                put_url: e.storage.url(&format!("out/{i}")),
                content_type: "video/mp4".into(),
            })
            .collect(),
        task: Task::Img2vid(Img2VidTask {
            width: 640,
            height: 360,
            frame_rate: 24,
            clips: (1..=clips)
                .map(|i| ClipTask {
                    id: i.to_string(),
                    input: "image".into(),
                    output: format!("video_{i}"),
                    frames: 96,
                    zoom: ZoomType::Zoomin,
                    easing: Default::default(),
                })
                .collect(),
        }),
        progress_url,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let clock = Instant::now();
    let result = e.exec.execute(&job, Arc::new(move |p| log.lock().unwrap().push((Instant::now(), p))), &CancellationToken::new()).await;
    let took = clock.elapsed();
    let seen = seen.lock().unwrap().clone();
    (seen, took, result.map(|_| ()).map_err(|e| format!("{e:?}")))
}

#[tokio::test]
async fn progress_is_pushed_once_a_second_and_at_each_stage_change() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let (base, posts) = receiver(Duration::ZERO).await;
    let started = Instant::now();
    let (seen, took) = run(&e, Some(format!("{base}/internal/progress/job/tok?part=0&attempt=1")), 2).await;
    let ended = started + took;
    // Nothing is sent once the job has ended: wait to see that.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let posts = posts.lock().unwrap().clone();
    eprintln!("{} updates, {} posts in {:.2} s", seen.len(), posts.len(), took.as_secs_f64());
    assert!(seen.len() > posts.len(), "updates are collapsed, not all posted");
    assert!(posts.iter().all(|(_, q, _)| q.as_deref() == Some("part=0&attempt=1")));
    // None in the job's first second; none after its end (a POST already under way
    // when it ended may arrive a moment later).
    let first = posts.first().unwrap().0;
    assert!(first - started >= Duration::from_millis(950), "first post {:?} after the start", first - started);
    for (at, _, p) in &posts {
        assert!(*at <= ended + Duration::from_millis(200), "{p:?} posted {:?} after the job ended", *at - ended);
    }
    // Every stage posted is one the job went through, in its order.
    let stages = |ps: &mut dyn Iterator<Item = &Progress>| {
        ps.fold(Vec::<String>::new(), |mut v, p| {
            if v.last() != Some(&p.stage) {
                v.push(p.stage.clone());
            }
            v
        })
    };
    let all = stages(&mut seen.iter().map(|p| &p.1));
    let mut rest = all.iter();
    for stage in stages(&mut posts.iter().map(|p| &p.2)) {
        assert!(rest.any(|s| *s == stage), "{stage} posted out of order: job went {all:?}");
    }
    // A stage change is posted at once (after the first second), not a second later.
    for w in posts.windows(2).filter(|w| w[0].2.stage != w[1].2.stage) {
        let (at, p) = (w[1].0, &w[1].2);
        // When the job last entered this stage before the post.
        let changed = seen.windows(2).rfind(|s| s[1].1.stage == p.stage && s[0].1.stage != p.stage && s[1].0 <= at).unwrap()[1].0;
        if changed > first {
            assert!(at - changed <= Duration::from_millis(500), "{} posted {:?} after it began", p.stage, at - changed);
        }
    }
    // Within a stage, a second between posts.
    for w in posts.windows(2) {
        if w[0].2.stage == w[1].2.stage {
            let gap = w[1].0 - w[0].0;
            assert!(gap >= Duration::from_millis(900), "posts {gap:?} apart: {:?} then {:?}", w[0].2, w[1].2);
        }
    }
    let renders = posts.iter().filter(|p| p.2.stage == "render").count();
    assert!(renders >= 2, "a render of {:.1} s is reported during it, not only at its start", took.as_secs_f64());
    assert!(posts.len() as f64 <= took.as_secs_f64() + 6.0, "{} posts in {took:?}", posts.len());
    // Each post follows the update it carries within a second.
    for (at, _, p) in &posts {
        let reported = seen.iter().rfind(|(t, s)| s == p && t <= at).unwrap().0;
        assert!(*at - reported <= Duration::from_millis(1100), "{p:?} posted {:?} after it was reported", *at - reported);
    }
}

#[tokio::test]
async fn a_job_that_ends_within_a_second_posts_no_progress() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let (base, posts) = receiver(Duration::ZERO).await;
    // Its input does not exist: it fails at the download, at once.
    let (seen, took, result) = run_job(&e, Some(format!("{base}/internal/progress/job/tok?part=0&attempt=1")), 1, "missing").await;
    assert!(result.is_err(), "a missing input fails the job");
    assert!(took < Duration::from_secs(1), "the failing job took {took:?}");
    assert!(!seen.is_empty(), "the callback saw its updates");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(posts.lock().unwrap().len(), 0, "a job shorter than a second costs the edge no progress request");
}

#[tokio::test]
async fn a_progress_endpoint_down_or_hanging_costs_the_job_nothing() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    let (_, baseline) = run(&e, None, 1).await;
    // Down: a port nothing listens on.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (_, with_down) = run(&e, Some(format!("http://{down}/internal/progress/job/tok?part=0&attempt=1")), 1).await;
    // Hanging: answers after a minute.
    let (base, posts) = receiver(Duration::from_secs(60)).await;
    let (seen, with_hang) = run(&e, Some(format!("{base}/internal/progress/job/tok?part=0&attempt=1")), 1).await;
    eprintln!(
        "baseline {:.2} s, endpoint down {:.2} s, endpoint hanging {:.2} s",
        baseline.as_secs_f64(),
        with_down.as_secs_f64(),
        with_hang.as_secs_f64()
    );
    for t in [with_down, with_hang] {
        assert!(t < baseline + baseline / 2 + Duration::from_secs(1), "{t:?} against {baseline:?} without a progress URL");
    }
    // One request in flight: a hanging endpoint gets one post per 5 s timeout at most.
    let n = posts.lock().unwrap().len();
    assert!(n >= 1 && n as f64 <= 1.0 + with_hang.as_secs_f64() / 5.0, "{n} posts to a hanging endpoint");
    assert!(seen.len() > 10, "the callback still sees every update");
}

#[tokio::test]
async fn a_refused_progress_url_is_not_called() {
    let _serial = SERIAL.lock().await;
    let e = env().await;
    // Not http(s): refused by the URL policy; the job runs as without one.
    let (seen, _) = run(&e, Some("file:///etc/passwd".into()), 1).await;
    assert_eq!(seen.last().unwrap().1.percentage, 100.0);
}
