// The package's API. The request and error types come from dist/requests.d.ts, generated
// at build time from job-spec's schemas (tools/gen-types.js); nothing here restates them.
import type { ErrorBody, Requests } from './dist/requests';

export * from './dist/requests';

/** A canonical route, e.g. `"/video/img2vid"`. */
export type OperationPath = keyof Requests;

/** An operation as `operations()` lists it. */
export interface OperationInfo {
  /** The canonical route, e.g. `"/video/img2vid"`. */
  path: OperationPath;
  /** The job object's `operation`, e.g. `"video/img2vid"`. */
  name: string;
  /** The other routes the edge accepts for it (the seed's `/runpod/…`, `/vps/…`, …). */
  aliases: string[];
}

/**
 * `null` when the edge would accept `body` for `operation`, else the edge's 400 body
 * (`code: "validation-failed"`, every problem in `details`). `operation` is a route:
 * canonical (`"/video/img2vid"`), an alias (`"/runpod/video/img2vid"`) or a job's
 * `operation` name (`"video/img2vid"`); an unknown one throws a `TypeError`.
 */
export function validate<P extends OperationPath>(operation: P, body: Requests[P]): ErrorBody | null;
/** Any other route (an alias, a name, a string known only at run time) takes any body. */
export function validate<S extends string>(operation: S & (S extends OperationPath ? never : unknown), body: unknown): ErrorBody | null;

/** As `validate`, for the body as JSON text (unparsable text gives `invalid-json`). */
export function validateJson(operation: string, text: string): ErrorBody | null;

/** Every operation, in the API's order. */
export function operations(): OperationInfo[];

/** The canonical route of a route, alias or job `operation` name; throws `TypeError` if unknown. */
export function operationPath(operation: string): OperationPath;

/** The OpenAPI 3.1 document the edge serves at `/openapi.json` (without `servers`). */
export function openapi(): Record<string, unknown>;
