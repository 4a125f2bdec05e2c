import { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import { Model, ModelData, setValidateFunc, createTypeMetaGuard } from "@kubernetes-models/base";
import { ValidateFunc } from "@kubernetes-models/validate";
import { validate } from "../../_schemas/ModelrolloutDevV1alpha1ModelRollout.js";

/**
 * ModelRollout takes a new version of a GPU inference model from first canary to full traffic. The operator keeps the last promoted pod template as the stable revision; a changed template becomes the candidate and is stepped through the traffic weights, judged by analysis, and promoted or rolled back.
 */
export interface IModelRollout {
  "apiVersion": "modelrollout.dev/v1alpha1";
  "kind": "ModelRollout";
  "metadata"?: IObjectMeta;
  "spec": {
    /**
     * Replicas that carry 100 % of the traffic. Each side is scaled to its share of this count.
     */
    "replicas"?: number;
    /**
     * Identity of the model the template serves; recorded in status and put on pods as labels.
     */
    "model": {
      /**
       * Model name, e.g. wan-t2v-14b.
       */
      "name": string;
      /**
       * Model version, e.g. v2.1; must change when the weights change.
       */
      "version": string;
    };
    /**
     * GPUs each replica needs. The operator sets this limit on the serving container and plans steps against free GPUs.
     */
    "gpu"?: {
      /**
       * Extended resource name of the accelerator.
       */
      "resourceName"?: string;
      /**
       * GPUs per replica (at least 1; a text-to-video replica cannot run without one).
       */
      "perReplica"?: number;
      /**
       * Name of the container that gets the GPUs; the first container when empty.
       */
      "container"?: string;
    };
    /**
     * Pod template of the model server (a core/v1 PodTemplateSpec). Changing it (for example a new model version from Git) starts a rollout; a change during a rollout restarts it with the new candidate.
     */
    "template": {
      "metadata"?: {
        "labels"?: {
          [key: string]: string;
        };
        "annotations"?: {
          [key: string]: string;
        };
      };
      /**
       * A core/v1 PodSpec.
       */
      "spec": {
      };
    };
    /**
     * The model service. The operator creates `<name>-stable` and `<name>-candidate` Services whose selectors follow the stable and candidate revisions; the route sends traffic to them.
     */
    "service": {
      /**
       * Base name of the two Services (at most 53 characters so the suffixes fit).
       */
      "name": string;
      /**
       * Port the Services expose.
       */
      "port"?: number;
      /**
       * Container port the model server listens on.
       */
      "targetPort"?: number;
    };
    /**
     * Where traffic weights are applied. Exactly one router. The route itself stays the user's; only the managed rule is touched.
     */
    "trafficRouting": {
      "gatewayAPI"?: {
        /**
         * Name of an existing HTTPRoute in the rollout's namespace.
         */
        "httpRoute": string;
        /**
         * Index in spec.rules of the rule the rollout manages (its backendRefs and mirror filter).
         */
        "ruleIndex"?: number;
      };
      "istio"?: {
        /**
         * Name of an existing VirtualService in the rollout's namespace.
         */
        "virtualService": string;
        /**
         * Name of the http route to manage; the first http route when empty.
         */
        "routeName"?: string;
      };
      /**
       * A TraefikService (traefik.io/v1alpha1) the user's HTTPRoute or IngressRoute routes to; the operator rewrites its weighted services, and makes it a mirroring service while shadowing (Traefik's Gateway provider has no RequestMirror).
       */
      "traefik"?: {
        /**
         * Name of an existing TraefikService in the rollout's namespace.
         */
        "traefikService": string;
      };
    };
    /**
     * How the candidate is stepped to full traffic.
     */
    "strategy"?: {
      /**
       * Candidate traffic weights in percent, strictly increasing, ending at 100.
       */
      "steps"?: Array<number>;
      /**
       * Bake time of each step once its weight is applied (Go duration, e.g. 30s, 5m, 1h).
       */
      "stepDuration"?: string;
      /**
       * How long the candidate may wait for GPUs or readiness before the rollout aborts and all traffic returns to stable. Only active waiting counts: time paused by a person, at a manual gate or by analysis is not counted.
       */
      "progressDeadline"?: string;
      /**
       * Dynamic (default) shrinks stable to its traffic share as the candidate grows, freeing GPUs; an abort or revert then moves traffic back only as fast as stable's replicas become ready again (status.returnToStable says how far it is and how long it should take). Full keeps stable at spec.replicas for the whole rollout (Argo Rollouts' default): an abort is instant, but the rollout needs up to twice the GPUs. Either way a Service never gets more weight than its ready replicas carry, except that a rolled-back (failing) candidate is drained at once.
       */
      "stableScale"?: "Dynamic" | "Full";
      /**
       * Step weights before which the rollout pauses until a person resumes it (annotation modelrollout.dev/resume or the kubectl plugin).
       */
      "manualGates"?: Array<number>;
      /**
       * Optional shadow phase before step 1: a share of live traffic is mirrored to the candidate (users only get stable answers) for a set time.
       */
      "shadow"?: {
        /**
         * Percent of live requests mirrored to the candidate, in (0, 100].
         */
        "mirrorPercent"?: number;
        /**
         * How long the shadow phase lasts.
         */
        "duration"?: string;
      };
    };
    /**
     * An A/B experiment (docs/experiment.md): the candidate is the treatment arm and a slice of stable of the same size the control arm. Apps assign each user by the salt and bucket ranges the operator publishes (status.analysis.experiment.assignment and the ConfigMap <rollout>-experiment) and send X-ModelRollout-Arm: treatment, control or none; the route sends treatment to the candidate and the rest to stable. Every analysis interval, while the candidate carries at most 50 %, the arms' counters since the experiment started are judged with always-valid (mSPRT) statistics: a sample-ratio mismatch holds for a person, a guardrail or goal Loss rolls back, and the last step at or under 50 % waits for a Win (or NonInferior). Needs spec.analysis.metrics and a gatewayAPI or istio route. Queries are PromQL with the analysis variables, {{arm}} (treatment or control) and {{interval}} (the time since the experiment started).
     */
    "experiment"?: {
      /**
       * The pre-declared metric the decision is about.
       */
      "goal": {
        /**
         * Name in status and events (the template's name when a template is used).
         */
        "name"?: string;
        /**
         * A built-in metric over the runtime's own series (error-rate).
         */
        "template"?: string;
        /**
         * Which way is better for users.
         */
        "better"?: "higher" | "lower";
        /**
         * Goal only. The minimum detectable effect, absolute in the metric's unit (0.03 = 3 points of a rate); it tunes the sequential test.
         */
        "mde"?: number;
        /**
         * Guardrails only. The regression tolerated, absolute (default 0, any significant regression).
         */
        "tolerance"?: number;
        /**
         * A rate per unit. events and units count over {{interval}} for {{arm}}.
         */
        "proportion"?: {
          "events"?: string;
          "units"?: string;
        };
        /**
         * A mean per unit, from count, sum and sum of squares over {{interval}} for {{arm}} (Welch t).
         */
        "mean"?: {
          "count"?: string;
          "sum"?: string;
          "sumSquares"?: string;
        };
        /**
         * A ratio of sums (sumY ÷ sumX) with per-unit sums of squares and cross products (delta method).
         */
        "ratio"?: {
          "units"?: string;
          "sumX"?: string;
          "sumY"?: string;
          "sumXX"?: string;
          "sumYY"?: string;
          "sumXY"?: string;
        };
      };
      /**
       * Metrics that must not regress beyond their tolerance; a significant regression rolls back at once.
       */
      "guardrails"?: Array<{
        /**
         * Name in status and events (the template's name when a template is used).
         */
        "name"?: string;
        /**
         * A built-in metric over the runtime's own series (error-rate).
         */
        "template"?: string;
        /**
         * Which way is better for users.
         */
        "better"?: "higher" | "lower";
        /**
         * Goal only. The minimum detectable effect, absolute in the metric's unit (0.03 = 3 points of a rate); it tunes the sequential test.
         */
        "mde"?: number;
        /**
         * Guardrails only. The regression tolerated, absolute (default 0, any significant regression).
         */
        "tolerance"?: number;
        /**
         * A rate per unit. events and units count over {{interval}} for {{arm}}.
         */
        "proportion"?: {
          "events"?: string;
          "units"?: string;
        };
        /**
         * A mean per unit, from count, sum and sum of squares over {{interval}} for {{arm}} (Welch t).
         */
        "mean"?: {
          "count"?: string;
          "sum"?: string;
          "sumSquares"?: string;
        };
        /**
         * A ratio of sums (sumY ÷ sumX) with per-unit sums of squares and cross products (delta method).
         */
        "ratio"?: {
          "units"?: string;
          "sumX"?: string;
          "sumY"?: string;
          "sumXX"?: string;
          "sumYY"?: string;
          "sumXY"?: string;
        };
      }>;
      /**
       * How users get their arm. userKey (default): the app hashes a user id with the published salt and sends X-ModelRollout-Arm (sticky per user). cookie (gatewayAPI or istio): the route assigns new clients by weight and sets a cookie (modelrollout-arm-<salt prefix>, Max-Age maxDuration) that keeps them in their arm.
       */
      "assignment"?: "userKey" | "cookie";
      /**
       * The goal's test. alwaysValid (mSPRT: a verdict at any analysis interval, valid however often it looks) or groupSequential (Lan-DeMets alpha spending: a verdict only at the end of each step up to the gate and a final look at the gate when the planned sample is reached or maxDuration has passed; more power for the same traffic). Guardrails and the sample-ratio check are always-valid either way.
       */
      "test"?: "alwaysValid" | "groupSequential";
      /**
       * With groupSequential, how alpha is spent over the looks (obrienFleming spends little early; pocock evenly).
       */
      "spending"?: "obrienFleming" | "pocock";
      /**
       * Promote past the gate on a significant improvement (win), or when the goal is shown no worse than margin (nonInferiority).
       */
      "decision"?: "win" | "nonInferiority";
      /**
       * With nonInferiority, how much worse the goal may be (absolute).
       */
      "margin"?: number;
      /**
       * The error rate the verdicts keep under continuous monitoring.
       */
      "alpha"?: number;
      /**
       * No verdict but Invalid or a guardrail Loss before this (weekly cycles wash out; 7d, 1d12h or 30m).
       */
      "minDuration"?: string;
      /**
       * Still undecided at the gate this long after the experiment started, the rollout pauses for a person.
       */
      "maxDuration"?: string;
      /**
       * PromQL counting each arm's units for the sample-ratio check (default the runtime's requests of the arm). Users are the better unit when the app counts them.
       */
      "units"?: string;
      /**
       * A sample-ratio mismatch below this χ² p-value marks the experiment Invalid.
       */
      "srmPValue"?: number;
      /**
       * Segments the canary population must represent (region, prompt length, requested duration, user tier): each a label on the experiment's series and its values. A query selects one with {{segment}} inside its braces (label="value" per segment, a matcher every series passes for the whole). Guardrails that select {{segment}} are also judged in every segment (alpha divided by the number of segment values); coverage waits for a sample in each.
       */
      "segments"?: Array<{
        "label": string;
        "values": Array<string>;
      }>;
      /**
       * A step above aboveWeight % starts only once every segment has minUnits units (the units query, which must select {{segment}}) in each arm; still short after maxDuration, the rollout pauses for a person.
       */
      "coverage"?: {
        "minUnits": number;
        "aboveWeight": number;
      };
    };
    /**
     * SLO analysis. A fast breaker checks every breakerInterval whether the candidate is broken and rolls back at once; each step is judged at the end of its bake time and must pass every metric (with enough data) to advance. Without metrics every step passes on its bake time alone.
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
    /**
     * Receivers of this rollout's notifications, in addition to the operator's global ones (MODELROLLOUT_NOTIFY_\*). The Secret, in the rollout's namespace, holds the keys webhookUrl (generic JSON receiver), slackUrl (Slack incoming webhook) and signingSecret (HMAC-SHA256 key of the X-ModelRollout-Signature header); any may be absent. A missing Secret or key blocks nothing: a Warning event names it and the global receivers are still told. See docs/notifications.md.
     */
    "notifications"?: {
      "secretRef": {
        "name": string;
      };
      /**
       * Which events this rollout's receivers get; all when absent.
       */
      "events"?: Array<"started" | "shadow-started" | "step-passed" | "paused" | "promoted" | "rolled-back" | "aborted" | "experiment-verdict" | "gate-held">;
    };
    /**
     * Gate webhooks, as Flagger's: pre-rollout is asked before the candidate gets its first traffic (or mirror); confirm-promotion before the candidate's weight goes to the last step (100 %) and it is promoted. The operator POSTs {name, namespace, phase, type, metadata}; a 2xx answer opens the gate, anything else (or a timeout) holds the rollout where it is and the gate is asked again every 10 s, indefinitely (abort still works). See docs/notifications.md.
     */
    "webhooks"?: Array<{
      "name": string;
      "type": "pre-rollout" | "confirm-promotion";
      "url": string;
      /**
       * Longest the operator waits for an answer; no answer in time holds the gate.
       */
      "timeoutSeconds"?: number;
      /**
       * Sent as the body's metadata.
       */
      "metadata"?: {
        [key: string]: string;
      };
    }>;
  };
  /**
   * Written by the operator only.
   */
  "status"?: {
  };
}

/**
 * ModelRollout takes a new version of a GPU inference model from first canary to full traffic. The operator keeps the last promoted pod template as the stable revision; a changed template becomes the candidate and is stepped through the traffic weights, judged by analysis, and promoted or rolled back.
 */
export class ModelRollout extends Model<IModelRollout> implements IModelRollout {
  "apiVersion": IModelRollout["apiVersion"];
  "kind": IModelRollout["kind"];
  "metadata"?: IModelRollout["metadata"];
  "spec": IModelRollout["spec"];
  "status"?: IModelRollout["status"];

static apiVersion: IModelRollout["apiVersion"] = "modelrollout.dev/v1alpha1";
static kind: IModelRollout["kind"] = "ModelRollout";
static is = createTypeMetaGuard<IModelRollout>(ModelRollout);

constructor(data?: ModelData<IModelRollout>) {
  super();

  this.setDefinedProps({
    apiVersion: ModelRollout.apiVersion,
    kind: ModelRollout.kind,
    ...data
  } as IModelRollout);
}
}


setValidateFunc(ModelRollout, validate as ValidateFunc<IModelRollout>);
