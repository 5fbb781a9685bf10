//! Fan-out, pure: an img2vid batch with more clips than a threshold is split into
//! several RunPod jobs ("parts"), at most as many as the tenant may run at once, each
//! a contiguous run of clips, so merging the parts' outputs in part order gives the
//! clips in input order. Every other plan is a single part.

use job_spec::worker::{Img2VidTask, WorkerOutput};
use job_spec::{Plan, Task};

/// Splits `plan` into parts of at most `threshold` clips (more when `max_parts`
/// bounds the count), sized as evenly as possible.
pub fn split(plan: &Plan, threshold: usize, max_parts: usize) -> Vec<Plan> {
    let Task::Img2vid(t) = &plan.task else { return vec![plan.clone()] };
    let n = t.clips.len();
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
        let clips = t.clips[start..start + len].to_vec();
        start += len;
        let inputs = plan.inputs.iter().filter(|i| clips.iter().any(|c| c.input == i.name)).cloned().collect();
        let outputs = plan.outputs.iter().filter(|o| clips.iter().any(|c| c.output == o.name)).cloned().collect();
        out.push(Plan { inputs, outputs, task: Task::Img2vid(Img2VidTask { clips, ..t.clone() }) });
    }
    out
}

/// One output from the parts' outputs, in part order: outputs concatenated, each
/// stage's time the slowest part's (they ran side by side), extras merged, and
/// `parts` recorded when there was more than one.
pub fn merge(parts: &[WorkerOutput]) -> WorkerOutput {
    let mut out = WorkerOutput::default();
    for p in parts {
        out.outputs.extend(p.outputs.iter().cloned());
        for (k, v) in &p.timings_ms {
            let e = out.timings_ms.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        for (k, v) in &p.extras {
            out.extras.entry(k.clone()).or_insert_with(|| v.clone());
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
