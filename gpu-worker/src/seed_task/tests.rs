//! The seed payload mapping: every example of the seed's document, every error.

use super::*;

fn public(bucket: Option<&str>) -> PublicInputs {
    PublicInputs { base: "https://videos.example.com".into(), bucket: bucket.map(str::to_owned) }
}

fn seed(task: &str, params: Value) -> Value {
    json!({ "task": task, "parameters": params })
}

fn ok(task: &str, params: Value, public: Option<&PublicInputs>) -> SeedJob {
    match parse_input(seed(task, params), public) {
        Ok(Incoming::Seed(s)) => s,
        other => panic!("{other:?}"),
    }
}

fn err(task: &str, params: Value, public: Option<&PublicInputs>) -> WorkerError {
    let e = translate(&seed(task, params), public).unwrap_err();
    assert!(!e.retryable);
    e
}

fn input_urls(j: &WorkerJob) -> Vec<(&str, &str)> {
    j.inputs.iter().map(|i| (i.name.as_str(), i.url.as_str())).collect()
}

const PUT: &str = "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4?X-Amz-Signature=abc";

#[test]
fn encoding_with_public_urls_and_subtitles() {
    let s = ok(
        "ENCODING",
        json!({"id": "job-123", "language": "en", "subtitles": true,
            "input_video_uri": "https://example.com/video.mp4", "input_audio_uri": "https://example.com/audio.wav",
            "subtitles_uri": "https://example.com/subtitles_en.ass",
            "output_video_uri": "gs://my-bucket/exports/job-123/output.mp4", "output_put_url": PUT}),
        None,
    );
    assert_eq!(s.task, SeedTask::Encoding);
    assert_eq!(s.job.job_id, "job-123");
    assert_eq!(s.job.task, Task::Encode(EncodeTask { audio: true, subtitles: true }));
    assert_eq!(
        input_urls(&s.job),
        [
            ("video", "https://example.com/video.mp4"),
            ("audio", "https://example.com/audio.wav"),
            ("subtitles", "https://example.com/subtitles_en.ass")
        ]
    );
    assert_eq!(
        s.job.outputs,
        [OutputTarget {
            name: OUTPUT.into(),
            key: "exports/job-123/output.mp4".into(),
            put_url: PUT.into(),
            content_type: "video/mp4".into()
        }]
    );
    assert_eq!(s.echo["output_video_uri"], "gs://my-bucket/exports/job-123/output.mp4");
    assert_eq!(s.echo["output_uri"], "gs://my-bucket/exports/job-123/output.mp4");
    assert_eq!(s.echo["url"], "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4");
    // `subtitles: false` wins over a URI; no flag with a URI burns.
    let t = |flag: Value| {
        ok(
            "ENCODING",
            json!({"input_video_uri": "https://e.example/v.mp4", "subtitles": flag,
            "subtitles_uri": "https://e.example/s.ass", "output_put_url": PUT}),
            None,
        )
        .job
        .task
    };
    assert_eq!(t(json!(false)), Task::Encode(EncodeTask { audio: false, subtitles: false }));
    assert_eq!(t(Value::Null), Task::Encode(EncodeTask { audio: false, subtitles: true }));
}

#[test]
fn encoding_gs_output_without_a_put_url_needs_credentials() {
    let e = err(
        "ENCODING",
        json!({"input_video_uri": "https://example.com/video.mp4", "output_video_uri": "gs://my-bucket/exports/out.mp4"}),
        None,
    );
    assert_eq!(e.code, "no-storage-credentials");
    for needle in ["`output_video_uri` is gs://my-bucket/exports/out.mp4", "`output_put_url`", "R2_PUBLIC_BASE_URL"] {
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }
}

#[test]
fn encoding_legacy_maps_through_the_public_base_and_the_put_url() {
    let legacy = json!({"id": "job-123", "language": "en", "subtitles": true, "name": "exported_video.mp4",
        "input_video_name": "video.mp4", "bucket": "my-bucket", "bucket_parent_folder": "exports"});
    // As the seed writes it: no public base, no PUT URL, no subtitles file.
    let e = err("ENCODING", legacy.clone(), None);
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("s3://my-bucket/exports/video.mp4") && e.message.contains("R2_PUBLIC_BASE_URL"), "{}", e.message);
    assert!(e.message.contains("s3://my-bucket/exports/exported_video.mp4") && e.message.contains("`output_put_url`"), "{}", e.message);
    assert!(e.message.contains("`subtitles_uri`"), "{}", e.message);

    let mut p = legacy;
    p["output_put_url"] = json!(PUT);
    p["subtitles_uri"] = json!("s3://my-bucket/exports/subtitles_en.ass");
    let s = ok("ENCODING", p, Some(&public(None)));
    assert_eq!(
        input_urls(&s.job),
        [("video", "https://videos.example.com/exports/video.mp4"), ("subtitles", "https://videos.example.com/exports/subtitles_en.ass")]
    );
    assert_eq!(s.job.outputs[0].key, "exports/exported_video.mp4");
    assert_eq!(s.echo["output_video_uri"], "s3://my-bucket/exports/exported_video.mp4");
    // Missing legacy parts are named.
    let e = err("ENCODING", json!({"name": "o.mp4", "output_put_url": PUT}), Some(&public(None)));
    assert_eq!(e.code, "missing-parameter");
    assert!(e.message.contains("`bucket` is missing") && e.message.contains("`input_video_name` is missing"), "{}", e.message);
}

#[test]
fn downsampling_reads_resolution_as_text_or_number() {
    for (res, h) in [(json!("360p"), 360), (json!(360), 360), (json!("240"), 240)] {
        let s =
            ok("DOWNSAMPLING", json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": res}), None);
        assert_eq!(s.job.task, Task::Downsample(DownsampleTask { height: h }));
        assert_eq!(input_urls(&s.job), [("video", "https://e.example/v.mp4")]);
        // No URI asked: the key is the PUT URL's path, the URIs echo its address.
        assert_eq!(s.job.outputs[0].key, "videos/exports/out.mp4");
        assert_eq!(s.echo["output_video_uri"], "https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4");
    }
    let e = err("DOWNSAMPLING", json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": "4k"}), None);
    assert_eq!((e.code.as_str(), e.message.contains("`resolution`")), ("invalid-parameter", true));
    let e = err("DOWNSAMPLING", json!({"original_video_uri": "https://e.example/v.mp4", "output_put_url": PUT, "resolution": 361}), None);
    assert_eq!(e.code, "invalid-parameter");
    let e = err("DOWNSAMPLING", json!({"output_put_url": PUT}), None);
    assert_eq!(e.code, "missing-parameter");
    assert!(e.message.contains("`original_video_uri` is missing") && e.message.contains("`resolution` is missing"), "{}", e.message);
}

#[test]
fn downsampling_s3_to_s3_as_the_seed_writes_it() {
    let p = json!({"original_video_uri": "s3://videos/pipelines/job-123/inputs/video/source.mp4",
        "output_video_uri": "s3://videos/pipelines/job-123/stage/downsample/downsampled.mp4", "resolution": "360p"});
    // Public base set: only the output is refused.
    let e = err("DOWNSAMPLING", p.clone(), Some(&public(Some("videos"))));
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("`output_video_uri` is s3://videos/") && !e.message.contains("`original_video_uri`"), "{}", e.message);
    let mut p = p;
    p["output_put_url"] = json!(PUT);
    let s = ok("DOWNSAMPLING", p, Some(&public(Some("videos"))));
    assert_eq!(input_urls(&s.job), [("video", "https://videos.example.com/pipelines/job-123/inputs/video/source.mp4")]);
    assert_eq!(s.job.outputs[0].key, "pipelines/job-123/stage/downsample/downsampled.mp4");
}

#[test]
fn s3_inputs_need_a_public_base_for_their_bucket() {
    let p = json!({"source_uri": "s3://videos/in/a b+c.m4a", "output_put_url": PUT});
    let e = err("STAGE_OBJECT", p.clone(), None);
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("`source_uri` is s3://videos/in/a b+c.m4a") && e.message.contains("R2_PUBLIC_BASE_URL is not set"));
    assert!(e.message.contains("`output_put_url`"), "{}", e.message);
    let e = err("STAGE_OBJECT", p.clone(), Some(&public(Some("other"))));
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("only bucket `other`"), "{}", e.message);
    // Keys are percent-encoded into the public URL.
    let s = ok("STAGE_OBJECT", p, Some(&public(Some("videos"))));
    assert_eq!(input_urls(&s.job), [("source", "https://videos.example.com/in/a%20b%2Bc.m4a")]);
    for (uri, code) in [
        ("s3://videos/../secret", "invalid-parameter"),
        ("s3://videos", "invalid-parameter"),
        ("gs://b/k.mp4", "no-storage-credentials"),
        ("file:///etc/passwd", "invalid-parameter"),
    ] {
        let e = err("STAGE_OBJECT", json!({"source_uri": uri, "output_put_url": PUT}), Some(&public(None)));
        assert_eq!(e.code, code, "{uri}: {}", e.message);
    }
}

#[test]
fn stage_object_writes_dest_uri_through_the_put_url() {
    let p = json!({"source_uri": "https://example.com/master.m4a", "dest_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a"});
    let e = err("STAGE_OBJECT", p.clone(), None);
    assert_eq!(e.code, "no-storage-credentials");
    assert!(e.message.contains("`dest_uri` is s3://videos/pipelines/") && e.message.contains("`output_put_url`"), "{}", e.message);
    let mut p = p;
    p["output_put_url"] = json!("https://put.example/x?sig=1");
    let s = ok("STAGE_OBJECT", p, None);
    assert_eq!(s.job.task, Task::Stage);
    assert_eq!(input_urls(&s.job), [("source", "https://example.com/master.m4a")]);
    assert_eq!(
        s.job.outputs[0],
        OutputTarget {
            name: OUTPUT.into(),
            key: "pipelines/job-123/inputs/audio/master.m4a".into(),
            put_url: "https://put.example/x?sig=1".into(),
            content_type: "audio/mp4".into()
        }
    );
    assert_eq!(s.echo["dest_uri"], "s3://videos/pipelines/job-123/inputs/audio/master.m4a");
    assert_eq!(s.echo["source_uri"], "https://example.com/master.m4a");
    assert_eq!(s.job.job_id, "seed-stage_object");
    // Without a named object, the source's extension gives the type.
    let s = ok("STAGE_OBJECT", json!({"source_uri": "https://e.example/p.png?x=1", "output_put_url": "https://put.example/obj"}), None);
    assert_eq!(s.job.outputs[0].content_type, "image/png");
}

#[test]
fn audio_trim_follows_the_output_extension_wav_by_default() {
    let p = json!({"source_uri": "s3://videos/pipelines/job-123/inputs/audio/master.m4a", "start_sec": 12.5, "duration_sec": 6.2,
        "output_video_uri": "s3://videos/pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav"});
    let e = err("AUDIO_TRIM", p.clone(), None);
    assert_eq!(e.code, "no-storage-credentials");
    // Both the input and the output are named.
    assert!(e.message.contains("`source_uri`") && e.message.contains("`output_video_uri`"), "{}", e.message);
    let mut p = p;
    p["output_put_url"] = json!("https://put.example/seg?sig=1");
    let s = ok("AUDIO_TRIM", p, Some(&public(None)));
    assert_eq!(s.job.task, Task::AudioTrim(AudioTrimTask { start_sec: 12.5, duration_sec: 6.2, format: AudioFormat::Wav }));
    assert_eq!(s.job.outputs[0].key, "pipelines/job-123/stage/segmentation/audio_segments/segment_0.wav");
    assert_eq!(s.job.outputs[0].content_type, "audio/wav");
    // Extension from the PUT path; strings for numbers; no extension is WAV.
    let t = |put: &str| {
        ok(
            "AUDIO_TRIM",
            json!({"source_uri": "https://e.example/a.wav", "start_sec": "1", "duration_sec": "2.5", "output_put_url": put}),
            None,
        )
        .job
        .task
    };
    assert_eq!(
        t("https://put.example/a/seg.mp3?s=1"),
        Task::AudioTrim(AudioTrimTask { start_sec: 1.0, duration_sec: 2.5, format: AudioFormat::Mp3 })
    );
    assert_eq!(
        t("https://put.example/seg"),
        Task::AudioTrim(AudioTrimTask { start_sec: 1.0, duration_sec: 2.5, format: AudioFormat::Wav })
    );
    let e = err(
        "AUDIO_TRIM",
        json!({"source_uri": "https://e.example/a.wav", "start_sec": -1, "duration_sec": 0, "output_put_url": PUT}),
        None,
    );
    assert_eq!(e.code, "invalid-parameter");
    assert!(e.message.contains("`start_sec` -1") && e.message.contains("`duration_sec` 0"), "{}", e.message);
    let e = err("AUDIO_TRIM", json!({"source_uri": "https://e.example/a.wav", "start_sec": "soon", "output_put_url": PUT}), None);
    assert_eq!(e.code, "missing-parameter");
    assert!(e.message.contains("`duration_sec` is missing") && e.message.contains("`start_sec` must be a number"), "{}", e.message);
}

#[test]
fn output_errors_name_the_fields() {
    let base = || json!({"source_uri": "https://e.example/a.wav", "duration_sec": 1});
    let e = err("AUDIO_TRIM", base(), None);
    assert_eq!(e.code, "missing-parameter");
    assert!(e.message.contains("`output_put_url`") && e.message.contains("`output_video_uri`"), "{}", e.message);
    let mut p = base();
    p["output_video_uri"] = json!("https://cdn.example/out.wav?sig=secret");
    let e = err("AUDIO_TRIM", p, None);
    assert_eq!(e.code, "invalid-parameter");
    assert!(e.message.contains("`output_put_url`") && !e.message.contains("secret"), "{}", e.message);
    let mut p = base();
    p["output_put_url"] = json!("ftp://x.example/a.wav");
    assert_eq!(err("AUDIO_TRIM", p, None).code, "invalid-parameter");
    let mut p = base();
    p["output_put_url"] = json!(42);
    let e = err("AUDIO_TRIM", p, None);
    assert!(e.message.contains("`output_put_url` must be a string"), "{}", e.message);
}

#[test]
fn unknown_tasks_and_shapes_are_invalid() {
    let e = parse_input(json!({"task": "TRANSCODE", "parameters": {}}), None).unwrap_err();
    assert_eq!(e.code, "invalid-task");
    assert!(e.message.contains("ENCODING, DOWNSAMPLING, STAGE_OBJECT, AUDIO_TRIM"), "{}", e.message);
    assert_eq!(parse_input(json!({"task": "ENCODING"}), None).unwrap_err().code, "invalid-task");
    assert_eq!(parse_input(json!({"task": "ENCODING", "parameters": [1]}), None).unwrap_err().code, "invalid-task");
    let e = parse_input(json!({"hello": 1}), None).unwrap_err();
    assert_eq!(e.code, "invalid-task");
    assert!(e.message.contains("not a worker job"), "{}", e.message);
    assert_eq!(SeedTask::parse("audio_trim"), Some(SeedTask::AudioTrim));
}

#[test]
fn worker_jobs_parse_first_and_serialize_as_before() {
    let job = WorkerJob {
        progress_url: None,
        job_id: "j".into(),
        attempt: 2,
        inputs: vec![InputUrl { name: "source".into(), url: "https://e.example/a".into() }],
        outputs: vec![OutputTarget { name: OUTPUT.into(), key: "k".into(), put_url: PUT.into(), content_type: "x/y".into() }],
        task: Task::Stage,
    };
    let parsed = parse_input(serde_json::to_value(&job).unwrap(), None).unwrap();
    assert_eq!(parsed, Incoming::Job(job));
    let out = WorkerOutput {
        outputs: vec![job_spec::worker::OutputMeta { name: OUTPUT.into(), key: "k".into(), bytes: 3, ..Default::default() }],
        ..Default::default()
    };
    assert_eq!(parsed.output_value(&out), serde_json::to_value(&out).unwrap());
}

#[test]
fn seed_outputs_add_what_the_seed_callers_read() {
    let s = ok(
        "DOWNSAMPLING",
        json!({"id": "d1", "original_video_uri": "https://e.example/v.mp4", "resolution": "360p",
        "output_video_uri": "s3://videos/d/360.mp4", "output_put_url": PUT}),
        None,
    );
    let meta = job_spec::worker::OutputMeta {
        name: OUTPUT.into(),
        key: "d/360.mp4".into(),
        bytes: 1234,
        content_type: "video/mp4".into(),
        duration: Some(2.0),
        width: Some(640),
        height: Some(360),
        ..Default::default()
    };
    let out = WorkerOutput { outputs: vec![meta], ..Default::default() };
    let v = Incoming::Seed(s).output_value(&out);
    let base = serde_json::to_value(&out).unwrap();
    for (k, val) in base.as_object().unwrap() {
        assert_eq!(&v[k], val, "{k} kept");
    }
    assert_eq!(
        (&v["task"], &v["id"], &v["key"], &v["url"], &v["output_video_uri"], &v["output_uri"]),
        (
            &json!("DOWNSAMPLING"),
            &json!("d1"),
            &json!("d/360.mp4"),
            &json!("https://acct.r2.cloudflarestorage.com/videos/exports/out.mp4"),
            &json!("s3://videos/d/360.mp4"),
            &json!("s3://videos/d/360.mp4")
        )
    );
    assert_eq!(
        (&v["bytes"], &v["size_bytes"], &v["duration"], &v["height"], &v["resolution"]),
        (&json!(1234), &json!(1234), &json!(2.0), &json!(360), &json!("360p"))
    );
}

#[test]
fn percent_coding() {
    assert_eq!(percent_encode_key("a/b c/ü~.x"), "a/b%20c/%C3%BC~.x");
    assert_eq!(percent_decode("a/b%20c/%C3%BC%zz"), "a/b c/ü%zz");
}
