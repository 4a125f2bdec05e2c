import { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import { Model, ModelData, setValidateFunc, createTypeMetaGuard } from "@kubernetes-models/base";
import { ValidateFunc } from "@kubernetes-models/validate";
import { validate } from "../../_schemas/ModelrolloutDevV1alpha1StyleRollout.js";

/**
 * StyleRollout moves the requests for one style (a LoRA adapter of the runtime's adapter library) from one version to the next on the same pods: only the route changes — weighted backendRefs to the same Service, each pinning a version with the X-Adapter-Version request header — judged by analysis on the runtime's per-adapter metrics, promoted or rolled back. No Deployment, replica or pod is touched (ADR 0005).
 */
export interface IStyleRollout {
  "apiVersion": "modelrollout.dev/v1alpha1";
  "kind": "StyleRollout";
  "metadata"?: IObjectMeta;
  "spec": {
    /**
     * The adapter's name in the runtime's library (T2V_ADAPTER_DIR), e.g. ink-wash.
     */
    "style": string;
    /**
     * The version requests for the style should get, e.g. v2 (no leading zeros). The version the rule serves when the StyleRollout is created becomes its stable version (the spec's own when it serves none); a different one is rolled out step by step.
     */
    "version": string;
    /**
     * The base model the adapter was trained for (the runtime's model_name label; analysis selects by it).
     */
    "model": string;
    /**
     * The Service whose pods serve every version of the style (e.g. a ModelRollout's <service>-stable).
     */
    "service": {
      "name": string;
      "port"?: number;
    };
    /**
     * The HTTPRoute rule that carries the style's requests (e.g. one matching a header such as x-t2v-style). The operator owns only that rule's backendRefs, and takes over a rule only when every backendRef already goes to spec.service.
     */
    "trafficRouting": {
      "gatewayAPI": {
        /**
         * Name of an existing HTTPRoute in the rollout's namespace.
         */
        "httpRoute": string;
        /**
         * Index in spec.rules of the rule the rollout manages (its backendRefs).
         */
        "ruleIndex"?: number;
      };
    };
    /**
     * How the new version is stepped to all of the style's requests.
     */
    "strategy"?: {
      /**
       * Percent of the style's requests on the new version at each step, strictly increasing, ending at 100.
       */
      "steps"?: Array<number>;
      /**
       * Bake time of each step once its weight is applied (Go duration, e.g. 30s, 5m, 1h).
       */
      "stepDuration"?: string;
      /**
       * Before the first step, ask every ready pod behind spec.service to load the new version (POST /v1/adapters/<style>@<version>:load). A version a pod refuses (not in its library, or not fitting the model) is rolled back before any request gets it (reason AdapterLoadFailed).
       */
      "preload"?: boolean;
      /**
       * weighted - one weighted backendRef per version, each pinning it (Gateway API Extended: backendRef filters); each request is drawn. sticky - one backendRef and the rule's X-Adapter-Split with a salt per rollout (Gateway API core): a request carrying X-Adapter-Assignment-Key (a user id) keeps its version for the whole rollout; status.assignment gives the salt and the candidate's buckets (docs/experiment-assignment.md).
       */
      "assignment"?: "weighted" | "sticky";
    };
    /**
     * SLO analysis. A fast breaker checks every breakerInterval whether the candidate is broken and rolls back at once; each step is judged at the end of its bake time and must pass every metric (with enough data) to advance. Without metrics every step passes on its bake time alone. In a StyleRollout the fields are a ModelRollout's, judged per adapter version on the same pods: the templates read the runtime's t2v_adapter_\* series by model_name, adapter_name and adapter_version (error-rate and its guardrails, latency-p99, quality-\*; the cost and golden templates and goldenProbes are refused), and queries may also use {{adapter}} and {{adapterVersion}} (the version measured).
     */
    "analysis"?: {
      /**
       * How often a held step is judged again; also the shortest measurement window.
       */
      "interval"?: string;
      /**
       * Fewer candidate requests than this in a window holds the step (never a pass) for metrics judged as plain values. Count metrics (error-rate, overload-rate, counts) carry their own sample size and are judged at any count. 0 disables the check.
       */
      "minRequests"?: number;
      /**
       * Fewest stable requests in the window for a relative bound to have a baseline; minRequests when unset.
       */
      "minStableRequests"?: number;
      /**
       * One-sided confidence of the Clopper-Pearson bounds on count metrics. A check fails a rate only when its lower bound is above the bound, passes it only when its upper bound is at or below; so at a true rate equal to the bound a check fails at most 1 - confidence of the time.
       */
      "confidence"?: number;
      /**
       * How long a metric (or the request count) may return no series, NaN or no requests before onNoData applies. After 3 such checks the Progressing condition names the query and its label selector.
       */
      "noDataDeadline"?: string;
      /**
       * What happens at noDataDeadline.
       */
      "onNoData"?: "Pause" | "Rollback";
      /**
       * PromQL counting candidate requests in {{interval}}; the inference runtime's t2v_requests_total by default.
       */
      "requestQuery"?: string;
      /**
       * How often the breaker checks the candidate, independent of the step analysis.
       */
      "breakerInterval"?: string;
      /**
       * Window of the breaker queries ({{interval}} in them). Keep it at least twice the scrape interval.
       */
      "breakerWindow"?: string;
      /**
       * Consecutive inconclusive judgements before the rollout pauses for a person.
       */
      "maxInconclusive"?: number;
      /**
       * What to do when the metrics system keeps failing (the rollout never advances meanwhile).
       */
      "onMetricsError"?: {
        "consecutiveErrors"?: number;
        "action"?: "Pause" | "Rollback";
      };
      /**
       * Where to query. The operator's default (Helm value analysisDefaults.prometheusAddress) when omitted.
       */
      "prometheus"?: {
        /**
         * Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.
         */
        "address"?: string;
        /**
         * Timeout of one query.
         */
        "timeout"?: string;
        /**
         * Secret in the rollout's namespace with `token` (bearer) or `username`/`password` (basic auth), and optionally `ca.crt`.
         */
        "secretRef"?: {
          "name": string;
        };
        "insecureSkipVerify"?: boolean;
      };
      /**
       * What a step must satisfy. Queries are PromQL templates with {{namespace}}, {{name}} (the rollout), {{service}}, {{model}}, {{version}}, {{revision}} (the revision measured: the candidate's, or stable's for a relative bound's baseline), {{stableRevision}}, {{candidateRevision}}, {{role}} (stable or candidate) and {{interval}} (the window); each must return one number. Select pods by modelrollout_revision, not by model version. Built-in templates: error-rate (counts, default max 0.01; the overload-rate guardrail, max 0.05, and the rejection-rate and cancel-rate guardrails, failing when 4xx or cancelled requests are confidently over 3× stable's share, come with it), overload-rate, rejection-rate, cancel-rate and latency-p99 (seconds). Quality, from the runtime's own clips (mean per clip): quality-flicker (luma levels; default 0.5-2× stable's), quality-frozen (share of frozen frame pairs; default max 0.4), quality-blank (share of blank frames; default max 0.05), quality-ssim (consecutive-frame SSIM; default at least 0.9× stable's). Cost: cost-per-video-second (GPU-seconds per second of video delivered) and cost-per-clip (GPU-seconds per delivered clip), no default bounds: set them, or name them in a tradeOff. Golden prompts (need goldenProbes): golden-similarity (mean SSIM 0..1 of the candidate's clip against stable's for the same prompt and seed) and golden-psnr (dB); no default: set min.
       */
      "metrics"?: Array<{
        /**
         * Name used in status, events and conditions; the template name when empty.
         */
        "name"?: string;
        "template"?: "error-rate" | "overload-rate" | "rejection-rate" | "cancel-rate" | "latency-p99" | "quality-flicker" | "quality-frozen" | "quality-blank" | "quality-ssim" | "cost-per-video-second" | "cost-per-clip" | "golden-similarity" | "golden-psnr";
        "query"?: string;
        /**
         * Judge a rate on its counts (events out of trials in {{interval}}) with confidence bounds rather than on the ratio alone; only max/failMax apply.
         */
        "counts"?: {
          /**
           * PromQL counting the bad requests, e.g. sum(increase(...{outcome="server_error"}[{{interval}}])).
           */
          "events": string;
          /**
           * PromQL counting all judged requests in the same window.
           */
          "trials": string;
        };
        /**
         * Pass only when the candidate value is at least this.
         */
        "min"?: number;
        /**
         * Pass only when the candidate value is at most this.
         */
        "max"?: number;
        /**
         * Fail below this; between failMin and min the measurement is inconclusive (the step holds). Defaults to min.
         */
        "failMin"?: number;
        /**
         * Fail above this; between max and failMax the measurement is inconclusive (the step holds). Defaults to max.
         */
        "failMax"?: number;
        /**
         * Bounds on candidate ÷ stable, both measured by the same query (e.g. max 1.5 for p99 at most 50 % worse).
         */
        "relative"?: {
          /**
           * Pass only when the candidate/stable ratio is at least this.
           */
          "min"?: number;
          /**
           * Pass only when the candidate/stable ratio is at most this.
           */
          "max"?: number;
          /**
           * Fail below this; between failMin and min the measurement is inconclusive (the step holds). Defaults to min.
           */
          "failMin"?: number;
          /**
           * Fail above this; between max and failMax the measurement is inconclusive (the step holds). Defaults to max.
           */
          "failMax"?: number;
        };
        /**
         * Trip (roll back at once) when the candidate is beyond threshold for `for`, or beyond severe at any check. Defaults: error-rate's threshold is its max (else failMax, else 1 %) for 5m, its severe twice the larger of max and threshold (at least 10 %, at most 1); latency-p99 1.5 × max for 5m. For count rules both are fractions (0.01 = 1 %); severe must be beyond threshold; severe alone trips at once and never on a sustained breach.
         */
        "breaker"?: {
          "threshold"?: number;
          "severe"?: number;
          /**
           * The bad direction is down (e.g. a quality score).
           */
          "below"?: boolean;
          /**
           * How long a breach must last to trip.
           */
          "for"?: string;
          "disabled"?: boolean;
        };
      }>;
      /**
       * A candidate may cost more only for better videos. Each rule names a cost metric and a quality metric of `metrics` (both then measured on candidate and stable; they need no bounds of their own). Cost may rise over stable's by freeIncrease on its own, and by at most maxIncrease when the quality metric is at least minImprovement better than stable's (fractions: 0.4 = 40 %). Otherwise the rollout pauses for a person or rolls back (onViolation), with both changes in the message.
       */
      "tradeOffs"?: Array<{
        /**
         * Name of a metric in `metrics`, e.g. cost-per-video-second.
         */
        "cost": string;
        /**
         * Name of a metric in `metrics`, e.g. quality-ssim.
         */
        "quality": string;
        /**
         * Most the cost may rise over stable's (0.4 = 40 %), only with the quality gain.
         */
        "maxIncrease": number;
        /**
         * Least quality gain over stable's that pays for a cost increase (0.1 = 10 %).
         */
        "minImprovement": number;
        /**
         * Cost rise allowed without any quality gain (measurement noise); 0.05 or maxIncrease when lower.
         */
        "freeIncrease"?: number;
        /**
         * Which way the quality metric improves; known for the quality-\* templates (quality-ssim higher, the others lower).
         */
        "better"?: "higher" | "lower";
        "onViolation"?: "Pause" | "Rollback";
      }>;
      /**
       * Golden-prompt probes: while the candidate is shadowed or stepped, every interval the operator sends each prompt of the ConfigMap (with its fixed seed) to one ready stable pod and one ready candidate pod (directly, not through the route) and compares the two clips frame by frame. The mean SSIM (0..1) and PSNR (dB) of each pair go to the operator's /metrics as modelrollout_golden_ssim and modelrollout_golden_psnr_db, labelled with the candidate's revision; the golden-similarity and golden-psnr templates judge them (they need a min).
       */
      "goldenProbes"?: {
        /**
         * ConfigMap in the rollout's namespace whose key holds a YAML (or JSON) list of prompts: {prompt, seed} each, and optionally id, negative_prompt, seconds, fps, width, height, steps, guidance (the runtime's request fields). At most 20.
         */
        "configMap": string;
        "key"?: string;
        /**
         * How often the whole set is sent to both sides.
         */
        "interval"?: string;
        /**
         * Longest one generation may take before that probe counts as failed.
         */
        "timeout"?: string;
      };
      /**
       * Turns the cost templates' GPU-seconds into money in status.analysis.metrics[].money and their messages: GPU-seconds × perGpuHour ÷ 3600, per video-second or per clip, stable's beside it.
       */
      "price"?: {
        /**
         * Money per GPU-hour, e.g. 2.49.
         */
        "perGpuHour": number;
        "currency"?: string;
      };
    };
  };
  /**
   * Written by the operator only.
   */
  "status"?: {
  };
}

/**
 * StyleRollout moves the requests for one style (a LoRA adapter of the runtime's adapter library) from one version to the next on the same pods: only the route changes — weighted backendRefs to the same Service, each pinning a version with the X-Adapter-Version request header — judged by analysis on the runtime's per-adapter metrics, promoted or rolled back. No Deployment, replica or pod is touched (ADR 0005).
 */
export class StyleRollout extends Model<IStyleRollout> implements IStyleRollout {
  "apiVersion": IStyleRollout["apiVersion"];
  "kind": IStyleRollout["kind"];
  "metadata"?: IStyleRollout["metadata"];
  "spec": IStyleRollout["spec"];
  "status"?: IStyleRollout["status"];

static apiVersion: IStyleRollout["apiVersion"] = "modelrollout.dev/v1alpha1";
static kind: IStyleRollout["kind"] = "StyleRollout";
static is = createTypeMetaGuard<IStyleRollout>(StyleRollout);

constructor(data?: ModelData<IStyleRollout>) {
  super();

  this.setDefinedProps({
    apiVersion: StyleRollout.apiVersion,
    kind: StyleRollout.kind,
    ...data
  } as IStyleRollout);
}
}


setValidateFunc(StyleRollout, validate as ValidateFunc<IStyleRollout>);
