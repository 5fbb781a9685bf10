//! Fan-out, pure: an img2vid batch with more clips than a threshold, or a
//! `/pipeline/segment` job with more segments than it, is split into several RunPod jobs
//! ("parts"), at most as many as the tenant may run at once, each a contiguous run of
//! clips (segments), so merging the parts' outputs in part order gives them in input
//! order. Every other plan is a single part.

use job_spec::worker::{Img2VidTask, SegmentAudioTask, WorkerOutput};
use job_spec::{Plan, Task};

/// Splits `plan` into parts of at most `threshold` units (more when `max_parts`
/// bounds the count), sized as evenly as possible.
pub fn split(plan: &Plan, threshold: usize, max_parts: usize) -> Vec<Plan> {
    let n = match &plan.task {
        Task::Img2vid(t) => t.clips.len(),
        Task::SegmentAudio(t) => t.segments.len(),
        _ => return vec![plan.clone()],
    };
    if threshold == 0 || n <= threshold {
        return vec![plan.clone()];
    }
    let parts = n.div_ceil(threshold).min(max_parts.max(1));
    if parts <= 1 {
        return vec![plan.clone()];
    }
    let (base, extra) = (n / parts, n % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let len = base + usize::from(p < extra);
        out.push(part(plan, start..start + len, p == 0));
        start += len;
    }
    out
}

/// The part of `plan` holding units `range`; `first` is the part that does the work done
/// once per job (staging a pipeline's sources).
fn part(plan: &Plan, range: std::ops::Range<usize>, first: bool) -> Plan {
    // The task's slice, and the input and output names it uses.
    let (task, inputs, outputs): (Task, Vec<String>, Vec<String>) = match &plan.task {
        Task::Img2vid(t) => {
            let clips = t.clips[range].to_vec();
            let inputs = clips.iter().map(|c| c.input.clone()).collect();
            let outputs = clips.iter().map(|c| c.output.clone()).collect();
            (Task::Img2vid(Img2VidTask { clips, ..t.clone() }), inputs, outputs)
        }
        Task::SegmentAudio(t) => {
            let segments = t.segments[range].to_vec();
            let (stage_master, stage_presenter) = (first && t.stage_master, first && t.stage_presenter);
            let mut inputs = vec![SegmentAudioTask::MASTER.to_owned()];
            let mut outputs: Vec<String> = segments.iter().map(|c| c.output()).collect();
            if stage_presenter {
                inputs.push(SegmentAudioTask::PRESENTER.into());
                outputs.push(SegmentAudioTask::STAGED_PRESENTER.into());
            }
            if stage_master {
                outputs.push(SegmentAudioTask::STAGED_MASTER.into());
            }
            (Task::SegmentAudio(SegmentAudioTask { segments, stage_master, stage_presenter, ..t.clone() }), inputs, outputs)
        }
        _ => return plan.clone(),
    };
    Plan {
        inputs: plan.inputs.iter().filter(|i| inputs.contains(&i.name)).cloned().collect(),
        outputs: plan.outputs.iter().filter(|o| outputs.contains(&o.name)).cloned().collect(),
        task,
    }
}

/// One output from the parts' outputs, in part order: outputs concatenated, each
/// stage's time the slowest part's (they ran side by side), extras merged (lists, such
/// as a pipeline's per-segment facts, concatenated; other values from the first part
/// that has them), and `parts` recorded when there was more than one.
pub fn merge(parts: &[WorkerOutput]) -> WorkerOutput {
    let mut out = WorkerOutput::default();
    for p in parts {
        out.outputs.extend(p.outputs.iter().cloned());
        for (k, v) in &p.timings_ms {
            let e = out.timings_ms.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        for (k, v) in &p.extras {
            match (out.extras.get_mut(k), v) {
                (Some(serde_json::Value::Array(have)), serde_json::Value::Array(more)) => have.extend(more.iter().cloned()),
                (Some(_), _) => {}
                (None, _) => {
                    out.extras.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if parts.len() > 1 {
        out.extras.insert("parts".into(), parts.len().into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use job_spec::plan::{PlannedInput, PlannedOutput};
    use job_spec::worker::{ClipTask, OutputMeta};
    use job_spec::{MediaRef, ZoomType};

    fn img2vid(n: usize) -> Plan {
        let clips = (1..=n)
            .map(|i| ClipTask {
                id: format!("c{i}"),
                input: format!("image_{i}"),
                output: format!("video_{i}"),
                frames: 24,
                zoom: ZoomType::Zoomin,
                easing: Default::default(),
            })
            .collect();
        Plan {
            inputs: (1..=n)
                .map(|i| PlannedInput { name: format!("image_{i}"), source: MediaRef::Url(format!("https://x/{i}.jpg")) })
                .collect(),
            outputs: (1..=n)
                .map(|i| PlannedOutput { name: format!("video_{i}"), key: format!("t/video_{i}.mp4"), content_type: "video/mp4".into() })
                .collect(),
            task: Task::Img2vid(Img2VidTask { width: 1920, height: 1080, frame_rate: 24, clips }),
        }
    }

    fn clip_ids(p: &Plan) -> Vec<String> {
        match &p.task {
            Task::Img2vid(t) => t.clips.iter().map(|c| c.id.clone()).collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn small_batches_and_other_operations_stay_whole() {
        assert_eq!(split(&img2vid(4), 4, 8), vec![img2vid(4)]);
        assert_eq!(split(&img2vid(9), 0, 8), vec![img2vid(9)]);
        assert_eq!(split(&img2vid(9), 4, 1), vec![img2vid(9)]);
        let stage = Plan { inputs: vec![], outputs: vec![], task: Task::Stage };
        assert_eq!(split(&stage, 1, 8), vec![stage]);
    }

    #[test]
    fn parts_are_contiguous_even_and_bounded() {
        let parts = split(&img2vid(10), 4, 8);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.iter().map(|p| clip_ids(p).len()).collect::<Vec<_>>(), [4, 3, 3]);
        let all: Vec<String> = parts.iter().flat_map(clip_ids).collect();
        assert_eq!(all, (1..=10).map(|i| format!("c{i}")).collect::<Vec<_>>());
        for p in &parts {
            let ids = clip_ids(p);
            assert_eq!(p.inputs.len(), ids.len());
            assert_eq!(p.outputs.len(), ids.len());
            assert!(p.inputs.iter().zip(&ids).all(|(i, id)| i.name == id.replace('c', "image_")));
        }
        // The tenant's concurrency bounds the number of parts.
        let parts = split(&img2vid(100), 4, 3);
        assert_eq!(parts.iter().map(|p| clip_ids(p).len()).collect::<Vec<_>>(), [34, 33, 33]);
    }

    /// A `/pipeline/segment` plan of `n` segments whose master (and presenter) come from URLs.
    fn segments(n: u32) -> Plan {
        let req = format!(
            r#"{{"job_id":"p1","master_audio_http_url":"https://x.example/m.mp3","presenter_image_http_url":"https://x.example/p.png",
                "segments":[{}]}}"#,
            (0..n).map(|i| format!(r#"{{"start_sec":{i},"duration_sec":1}}"#)).collect::<Vec<_>>().join(",")
        );
        let req = job_spec::Operation::PipelineSegment.parse(req.as_bytes()).unwrap();
        let ctx = job_spec::RefContext { tenant_prefix: Some("t/".into()), ..Default::default() };
        job_spec::plan(&req, "j", &ctx).unwrap()
    }

    #[test]
    fn segment_jobs_split_like_img2vid_and_stage_once() {
        let plan = segments(5);
        assert_eq!(split(&plan, 5, 8), vec![plan.clone()]);
        let parts = split(&plan, 2, 8);
        let task = |p: &Plan| match &p.task {
            Task::SegmentAudio(t) => t.clone(),
            _ => unreachable!(),
        };
        let names = |p: &Plan| {
            (p.inputs.iter().map(|i| i.name.clone()).collect::<Vec<_>>(), p.outputs.iter().map(|o| o.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(
            parts.iter().map(|p| task(p).segments.iter().map(|s| s.index).collect::<Vec<_>>()).collect::<Vec<_>>(),
            [vec![0, 1], vec![2, 3], vec![4]]
        );
        // The first part stages the master and the presenter; every part reads the master.
        let staged = |p: &Plan| (task(p).stage_master, task(p).stage_presenter);
        assert_eq!(parts.iter().map(staged).collect::<Vec<_>>(), [(true, true), (false, false), (false, false)]);
        assert_eq!(
            names(&parts[0]),
            (
                vec!["master".into(), "presenter".into()],
                vec!["staged_master".into(), "staged_presenter".into(), "segment_0".into(), "segment_1".into()]
            )
        );
        assert_eq!(names(&parts[2]), (vec!["master".into()], vec!["segment_4".into()]));
        // Keys, the master's key and the job's size are the whole job's.
        assert_eq!(parts[2].outputs[0].key, "t/pipelines/p1/stage/segmentation/audio_segments/segment_4.wav");
        assert!(parts.iter().all(|p| task(p).expected == 5 && task(p).master_key == "t/pipelines/p1/inputs/audio/master.mp3"));
        // The tenant's concurrency bounds the parts.
        assert_eq!(split(&segments(9), 2, 2).iter().map(|p| task(p).segments.len()).collect::<Vec<_>>(), [5, 4]);
    }

    #[test]
    fn merge_concatenates_lists_in_part_order() {
        let out = |segs: serde_json::Value, rate: u32| WorkerOutput {
            extras: [("segments".to_owned(), segs), ("sample_rate".to_owned(), rate.into())].into_iter().collect(),
            ..Default::default()
        };
        let m = merge(&[out(serde_json::json!([{"index": 0}, {"index": 1}]), 44_100), out(serde_json::json!([{"index": 2}]), 1)]);
        assert_eq!(m.extras["segments"], serde_json::json!([{"index": 0}, {"index": 1}, {"index": 2}]));
        assert_eq!(m.extras["sample_rate"], 44_100);
        assert_eq!(m.extras["parts"], 2);
    }

    #[test]
    fn merge_keeps_part_order_and_the_slowest_stage() {
        let out = |names: &[&str], render: u64| WorkerOutput {
            outputs: names.iter().map(|n| OutputMeta { name: (*n).into(), ..Default::default() }).collect(),
            timings_ms: [("render".to_owned(), render)].into(),
            ..Default::default()
        };
        let m = merge(&[out(&["video_1", "video_2"], 900), out(&["video_3"], 1200)]);
        assert_eq!(m.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["video_1", "video_2", "video_3"]);
        assert_eq!(m.timings_ms["render"], 1200);
        assert_eq!(m.extras["parts"], 2);
        assert!(merge(&[out(&["a"], 1)]).extras.is_empty());
    }
}
