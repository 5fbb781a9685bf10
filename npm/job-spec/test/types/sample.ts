// Compiled by `tsc --strict` (scripts/test-npm.sh): the generated declarations compile,
// typed requests are accepted, and what the types forbid is refused (`@ts-expect-error`
// fails the build when the next line compiles).
import { validate, validateJson, operations, operationPath } from '../..';
import type { ErrorBody, Img2VidRequest, RenderRequest, Requests, CaptionStyleRequest } from '../..';

const img2vid: Img2VidRequest = {
  images: [{ image_url: 'https://cdn.example.com/a.jpg', duracao: 2.5 }],
  path: 'ep1/clips',
  frame_rate: 30,
  webhook_url: 'https://n8n.example.com/webhook/x',
};
const answer: ErrorBody | null = validate('/video/img2vid', img2vid);
if (answer !== null) {
  const fields: string[] = (answer.details ?? []).map((p) => `${p.field}: ${p.code}`);
  console.log(answer.code, answer.message, fields);
}

// Optional fields may be left out.
const render: RenderRequest = { scenes: [{ image_url: 'https://cdn.example.com/a.jpg', duration: 1 }] };
validate('/video/render', render);
const style: CaptionStyleRequest = {
  url_video: 'https://cdn.example.com/v.mp4',
  url_caption: 'https://cdn.example.com/w.json',
  type: 'highlight',
  style: { fonte: 'Inter', tamanho_fonte: 72 },
};
validate('/video/caption_style', style);

// The map of routes to request types.
const byRoute: Requests['/audio/transcribe'] = { audio_url: 'https://cdn.example.com/a.mp3', beam_size: 5 };
validate('/audio/transcribe', byRoute);
// Aliases and other strings take any body.
validate('/runpod/video/img2vid', { url_image: 'https://cdn.example.com/a.jpg', duration: 5 });
validateJson('/video/caption', '{}');
const paths: string[] = operations().map((o) => o.path);
const canonical: keyof Requests = operationPath('/vps/imagem/gerarImagens');
console.log(paths, canonical);

// @ts-expect-error: a required field is missing.
const missing: Img2VidRequest = { path: 'p' };
// @ts-expect-error: duracao is a number.
const wrongType: Img2VidRequest = { images: [{ image_url: 'https://cdn.example.com/a.jpg', duracao: 'two' }] };
// @ts-expect-error: a typed route checks its body.
validate('/video/render', { scenes: 'none' });
// @ts-expect-error: unknown fields are refused by the types (the edge ignores them).
const extra: RenderRequest = { scenes: [], nope: 1 };
console.log(missing, wrongType, extra);
