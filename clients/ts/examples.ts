// Requests a TypeScript user writes against the types openapi-typescript generates from
// /openapi.json (scripts/test-clients.sh puts them in ./api.d.ts and runs tsc --strict).
// Optional fields are left out, as a user leaves them out; the @ts-expect-error lines
// are what the types must refuse (tsc fails on an expectation that is not met, so types
// that accept anything fail this file too).
import type { components, paths } from "./api";

type RequestBody<P extends keyof paths> = paths[P] extends {
    post: { requestBody: { content: { "application/json": infer B } } };
}
    ? B
    : never;
type JobView = components["schemas"]["JobView"];

// img2vid without `id` or `easing` (nor any other optional field).
export const img2vid: RequestBody<"/video/img2vid"> = {
    images: [{ image_url: "r2://in/photo.jpg", duracao: 3 }],
};

// With the optional fields given, and null where serde takes null as absent.
export const img2vidFull: RequestBody<"/video/img2vid"> = {
    images: [{ id: 1, image_url: "r2://in/photo.jpg", duracao: 3, easing: "ease_in_out" }, { id: "b", image_url: "r2://in/b.jpg", duracao: 2, easing: null }],
    path: "shorts/ep1",
    frame_rate: 24,
    zoom_types: ["zoomin", "zoompanright"],
    orientation: "portrait",
    easing: "linear",
    webhook_url: "https://example.com/hook",
    metadata: { source: "tsc" },
};

// Fields whose defaults the worker applies (`enable_vad`, `beam_size`, `temperature`) may be left out.
export const transcribe: RequestBody<"/audio/transcribe"> = { audio_url: "r2://in/narration.wav" };

export const render: RequestBody<"/video/render"> = {
    scenes: [{ image_url: "r2://in/a.jpg", duration: 2 }],
};

export const caption: RequestBody<"/video/caption_style"> = {
    url_video: "r2://in/v.mp4",
    url_caption: "r2://in/words.json",
    type: "highlight",
    style: { fonte: "DejaVu Sans", words_per_line: 4 },
};

// @ts-expect-error `images` is required.
export const noImages: RequestBody<"/video/img2vid"> = { path: "x" };

export const unknownField: RequestBody<"/video/img2vid"> = {
    images: [{ image_url: "r2://in/photo.jpg", duracao: 3 }],
    // @ts-expect-error not a field of img2vid.
    imagez: [],
};

export const badEasing: RequestBody<"/video/img2vid"> = {
    // @ts-expect-error `bounce` is not an easing.
    images: [{ image_url: "r2://in/photo.jpg", duracao: 3, easing: "bounce" }],
};

// A job as GET /jobs/{jobId} answers it: what is always there is typed as always there.
export function outputs(job: JobView): string {
    const status: "QUEUED" | "SUBMITTED" | "PROCESSING" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT" = job.status;
    const result: unknown = job.result;
    return `${job.jobId} ${status} ${job.progress.percentage} ${JSON.stringify(result)} ${job.error?.code ?? ""}`;
}

// @ts-expect-error a path the API does not have.
export const noSuchPath: RequestBody<"/video/nope"> = {};
