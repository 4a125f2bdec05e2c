// The route of a StyleRollout (ADR 0005): one HTTPRoute rule the user points at a style's traffic (e.g. a header
// match on the style), whose backendRefs all go to the same Service; each backendRef pins an adapter version
// with a RequestHeaderModifier that sets X-Adapter-Version (the runtime serves a request naming the style
// without a version with that version: inference-image/README.md, "Routed versions"). Weighted backendRefs
// are Gateway API core; filters on a backendRef are Extended support (Traefik ≥ v3.7, Envoy Gateway, Istio:
// https://gateway-api.sigs.k8s.io/reference/spec/#httpbackendref).
//
// Whose rule it is: the StyleRollout named in the route's `modelrollout.dev/style-rule-<i>` annotation (written
// with its first write, removed on delete). An unclaimed rule is taken only when it already looks like this
// style's rule: every backendRef to the Service on the spec's port, pinning this style or no style.
import type * as k8s from '@kubernetes/client-node';
import { parseStyleRuleClaim, ruleFingerprint, styleRuleClaim, styleRuleClaimAnnotation } from '../api/names.js';
import { isNotFound } from '../kube/errors.js';
import type { AdapterArm, AdapterRouteObservation } from '../rollout/style-types.js';
import { HTTPROUTE, type HttpRoute } from './gateway-api.js';
import { replaceWithRetry, TrafficRouterError, type RouteObject } from './router.js';

/** The request header that pins a style's version (`ink-wash@v2`, or several styles: `neon@v3, ink-wash@v2`). */
export const ADAPTER_VERSION_HEADER = 'X-Adapter-Version';
/** The rule-level header that splits a style's requests by weight (`ink-wash@v2=20, ink-wash@v1=80`). */
export const ADAPTER_SPLIT_HEADER = 'X-Adapter-Split';
/** The rule-level header that salts the sticky draw (docs/experiment-assignment.md). */
export const ADAPTER_SALT_HEADER = 'X-Adapter-Assignment-Salt';

export interface AdapterRouteTarget {
  namespace: string;
  /** The Service whose pods serve every version of the style. */
  service: string;
  port: number;
  style: string;
  /** The StyleRollout's metadata.name: the value of the rule's claim annotation. */
  owner: string;
}

interface HeaderModifier {
  set?: { name: string; value: string }[];
  [key: string]: unknown;
}

interface Filter {
  type: string;
  requestHeaderModifier?: HeaderModifier;
  [key: string]: unknown;
}

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: Filter[];
  [key: string]: unknown;
}

export interface AdapterRouteDeps {
  custom: k8s.CustomObjectsApi;
  /** Where observe() reads from (the HTTPRoute informer's cache); GET when absent. */
  cached?: (namespace: string, name: string) => RouteObject | undefined;
  onWritten?: (obj: RouteObject) => void;
  maxConflictRetries?: number;
}

export class AdapterRouteRouter {
  constructor(
    private readonly routeName: string,
    private readonly ruleIndex: number,
    private readonly target: AdapterRouteTarget,
    private readonly deps: AdapterRouteDeps,
  ) {}

  async observe(): Promise<AdapterRouteObservation> {
    const { namespace } = this.target;
    const route = this.deps.cached ? (this.deps.cached(namespace, this.routeName) as HttpRoute | undefined) : await this.get();
    if (!route) return { found: false, reason: 'RouteNotFound', error: `HTTPRoute ${namespace}/${this.routeName} not found` };
    return observeAdapterRule(route, this.ruleIndex, this.target);
  }

  /**
   * Rewrites the managed rule's backendRefs to `arms` and claims the rule, touching nothing else of the route;
   * `release` drops the claim instead (the StyleRollout is being deleted).
   * @throws TrafficRouterError RouteRuleNotOwned when the rule became someone else's since it was observed.
   */
  async setArms(arms: AdapterArm[], opts: { release?: boolean; sticky?: { salt: string } } = {}): Promise<void> {
    const { namespace } = this.target;
    const written = await replaceWithRetry<HttpRoute>({
      what: `HTTPRoute ${namespace}/${this.routeName}`,
      attempts: this.deps.maxConflictRetries ?? 5,
      cached: () => this.deps.cached?.(namespace, this.routeName) as HttpRoute | undefined,
      read: () => this.get(),
      modify: (route) => {
        const seen = observeAdapterRule(route, this.ruleIndex, this.target);
        if (!seen.found) throw new TrafficRouterError(seen.reason === 'RuleNotFound' ? 'RuleNotFound' : 'RouteRuleNotOwned', seen.error);
        return withAdapterArms(route, this.ruleIndex, arms, this.target, { claim: !opts.release, ...(opts.sticky ? { sticky: opts.sticky } : {}) });
      },
      write: async (body) => (await this.deps.custom.replaceNamespacedCustomObject({ ...HTTPROUTE, namespace, name: this.routeName, body })) as HttpRoute,
    });
    this.deps.onWritten?.(written);
  }

  /**
   * Removes this StyleRollout's claim on the rule's index, and nothing else, when the rule can no longer be written
   * (edited or moved out from under it): a claim must not outlive the StyleRollout and block the rule for others.
   */
  async dropClaim(): Promise<void> {
    const { namespace } = this.target;
    const key = styleRuleClaimAnnotation(this.ruleIndex);
    const current = (this.deps.cached?.(namespace, this.routeName) as HttpRoute | undefined) ?? (await this.get());
    const value = current?.metadata.annotations?.[key];
    if (value === undefined || parseStyleRuleClaim(value).owner !== this.target.owner) return;
    const written = await replaceWithRetry<HttpRoute>({
      what: `HTTPRoute ${namespace}/${this.routeName}`,
      attempts: this.deps.maxConflictRetries ?? 5,
      read: () => this.get(),
      modify: (route) => {
        const annotations = { ...(route.metadata.annotations ?? {}) };
        if (annotations[key] !== undefined && parseStyleRuleClaim(annotations[key]).owner === this.target.owner) delete annotations[key];
        return { ...route, metadata: { ...route.metadata, annotations } };
      },
      write: async (body) => (await this.deps.custom.replaceNamespacedCustomObject({ ...HTTPROUTE, namespace, name: this.routeName, body })) as HttpRoute,
    });
    this.deps.onWritten?.(written);
  }

  private async get(): Promise<HttpRoute | undefined> {
    try {
      return (await this.deps.custom.getNamespacedCustomObject({ ...HTTPROUTE, namespace: this.target.namespace, name: this.routeName })) as HttpRoute;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function isTargetService(ref: BackendRef, target: AdapterRouteTarget): boolean {
  return (
    ref.name === target.service && (ref.kind ?? 'Service') === 'Service' && (ref.group ?? '') === '' && (ref.namespace ?? target.namespace) === target.namespace
  );
}

/** One entry of a pin header, as the runtime reads it (`src/adapters/style.ts`): `v01` is version 1. */
const PIN_ENTRY = /^([a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?)@v(\d{1,9})$/;

interface Pins {
  /** The version pinned for the target style ('' when none), in its canonical form (`v1`). */
  ours: string;
  /** Other styles' pins on the same header, canonical (`neon@v3`), in their order. */
  others: string[];
}

/** The headers the runtime reads a route's choice from; a filter must `set` them (`add` joins values). */
const ROUTING_HEADERS = [ADAPTER_VERSION_HEADER, ADAPTER_SPLIT_HEADER, ADAPTER_SALT_HEADER].map((h) => h.toLowerCase());

function headerOf(filters: Filter[] | undefined, name: string): string | undefined {
  for (const f of filters ?? []) {
    if (f.type !== 'RequestHeaderModifier') continue;
    const set = f.requestHeaderModifier?.set?.find((h) => h.name.toLowerCase() === name.toLowerCase());
    if (set) return set.value;
  }
  return undefined;
}

/** A routing header a filter `add`s rather than `set`s (the request then carries values joined or repeated). */
function addedRoutingHeader(filters: Filter[] | undefined): string | undefined {
  for (const f of filters ?? []) {
    const added = (f.requestHeaderModifier?.['add'] as { name: string }[] | undefined)?.find((h) => ROUTING_HEADERS.includes(h.name.toLowerCase()));
    if (added) return added.name;
  }
  return undefined;
}

/** The pins of a pin header's value, or the error that names a header the runtime would refuse. */
function readPins(value: string | undefined, style: string): Pins | { error: string } {
  const pins: Pins = { ours: '', others: [] };
  if (value === undefined || value.trim() === '') return pins;
  for (const raw of value.split(',')) {
    const m = PIN_ENTRY.exec(raw.trim());
    if (!m) return { error: `${ADAPTER_VERSION_HEADER} "${value}" is not <name>@v<N>, … (the runtime answers 400 to it)` };
    const version = `v${Number(m[2])}`;
    // The runtime takes a style's first entry.
    if (m[1] === style) pins.ours ||= version;
    else pins.others.push(`${m[1]}@${version}`);
  }
  return pins;
}

/** The pin header a backendRef's requests carry: its own `set`, else the rule's (the backendRef's replaces it). */
function effectivePinHeader(rule: { filters?: unknown }, ref: BackendRef): string | undefined {
  return headerOf(ref.filters, ADAPTER_VERSION_HEADER) ?? headerOf(rule.filters as Filter[] | undefined, ADAPTER_VERSION_HEADER);
}

interface Split {
  /** This style's entries, canonical, in the header's order. */
  ours: AdapterArm[];
  /** Other styles' entries as written (`neon@v1=100`), and their style names. */
  others: string[];
  otherStyles: string[];
  /** The salt each style draws with: `style=salt` entries, or one bare salt for all (`*`). */
  salts: Map<string, string>;
}

/** `ink-wash=abc, neon=def` (one salt per style), or a bare salt every style draws with. */
function readSalts(value: string | undefined): Map<string, string> {
  const salts = new Map<string, string>();
  if (value === undefined || value.trim() === '') return salts;
  if (!value.includes('=')) return salts.set('*', value.trim());
  for (const raw of value.split(',')) {
    const [style = '', salt = ''] = raw.split('=').map((x) => x.trim());
    if (style && salt) salts.set(style, salt);
  }
  return salts;
}

/** An X-Adapter-Split value (and the salts), or the error that names a header the runtime would refuse. */
function readSplitValue(value: string | undefined, saltValue: string | undefined, style: string): Split | { error: string } {
  const split: Split = { ours: [], others: [], otherStyles: [], salts: readSalts(saltValue) };
  if (value === undefined || value.trim() === '') return split;
  for (const raw of value.split(',')) {
    const [entry = '', weight, extra] = raw.trim().split('=');
    const m = PIN_ENTRY.exec(entry.trim());
    const w = Number(weight);
    if (!m || weight === undefined || extra !== undefined || !Number.isInteger(w) || w < 0)
      return { error: `${ADAPTER_SPLIT_HEADER} "${value}" is not <name>@v<N>=<weight>, … (the runtime answers 400 to it)` };
    if (m[1] === style) split.ours.push({ version: `v${Number(m[2])}`, weight: w });
    else {
      split.others.push(raw.trim());
      if (!split.otherStyles.includes(m[1]!)) split.otherStyles.push(m[1]!);
    }
  }
  return split;
}

/** The rule-level X-Adapter-Split and its salts. */
function readSplit(filters: Filter[] | undefined, style: string): Split | { error: string } {
  return readSplitValue(headerOf(filters, ADAPTER_SPLIT_HEADER), headerOf(filters, ADAPTER_SALT_HEADER), style);
}

/** The split (and salts) a backendRef's requests carry: its own headers, else the rule's (the backendRef's replace them). */
function effectiveSplit(rule: { filters?: unknown }, ref: BackendRef, style: string): Split | { error: string } {
  const ruleFilters = rule.filters as Filter[] | undefined;
  return readSplitValue(
    headerOf(ref.filters, ADAPTER_SPLIT_HEADER) ?? headerOf(ruleFilters, ADAPTER_SPLIT_HEADER),
    headerOf(ref.filters, ADAPTER_SALT_HEADER) ?? headerOf(ruleFilters, ADAPTER_SALT_HEADER),
    style,
  );
}

function notOwned(route: HttpRoute, ruleIndex: number, why: string): AdapterRouteObservation {
  return { found: false, reason: 'RouteRuleNotOwned', error: `HTTPRoute ${route.metadata.name} rule ${ruleIndex} ${why}; the rule is left as it is` };
}

/**
 * The arms of the managed rule, or why it is not this StyleRollout's to write: claimed by another StyleRollout,
 * or claimed by this one on another rule (rules were inserted or reordered since); no backendRefs (a redirect);
 * a backendRef to another Service or another port; a header the runtime refuses, or one `add`ed instead of
 * `set`; pins of another style only, or other styles' pins that differ between backendRefs (another rollout
 * splits them).
 */
export function observeAdapterRule(route: HttpRoute, ruleIndex: number, target: AdapterRouteTarget): AdapterRouteObservation {
  const rule = route.spec.rules?.[ruleIndex];
  if (!rule) return { found: false, reason: 'RuleNotFound', error: `HTTPRoute ${route.metadata.name} has no rule at index ${ruleIndex}` };
  const claimKey = styleRuleClaimAnnotation(ruleIndex);
  const value = route.metadata.annotations?.[claimKey];
  const claim = value === undefined ? undefined : parseStyleRuleClaim(value);
  if (claim && claim.owner !== target.owner)
    return notOwned(route, ruleIndex, `is managed by StyleRollout ${claim.owner} (annotation ${claimKey}): one StyleRollout per rule`);
  const editedInPlace = claim?.fingerprint !== undefined && claim.fingerprint !== ruleFingerprint(rule);
  // A claimed fingerprint that another rule of the route now has: rules were inserted or reordered; the one here is
  // not ours. None has it: the team edited our rule in place (matches, name), still ours — the next write re-claims.
  if (editedInPlace && (route.spec.rules ?? []).some((r, i) => i !== ruleIndex && ruleFingerprint(r) === claim.fingerprint))
    return notOwned(
      route,
      ruleIndex,
      `is not the rule this StyleRollout claimed at index ${ruleIndex} (its name or matches differ from when it was claimed: were rules inserted or reordered?); point spec.trafficRouting.gatewayAPI.ruleIndex at the style's rule, or remove annotation ${claimKey} if this is it`,
    );
  const refs = (rule.backendRefs ?? []) as BackendRef[];
  if (refs.length === 0)
    return notOwned(route, ruleIndex, `has no backendRefs (it redirects or answers by itself), so it carries no traffic to Service ${target.service}`);
  const foreign = refs.filter((r) => !isTargetService(r, target));
  if (foreign.length > 0)
    return notOwned(
      route,
      ruleIndex,
      `sends traffic to ${foreign.map((r) => `${r.kind ?? 'Service'} ${r.name}`).join(', ')}, not to Service ${target.service}; point the rule at ${target.service} to hand it over`,
    );
  const otherPort = refs.find((r) => r.port !== undefined && r.port !== target.port);
  if (otherPort)
    return notOwned(
      route,
      ruleIndex,
      `sends to port ${otherPort.port} of Service ${target.service}, not to spec.service.port ${target.port}; set spec.service.port: ${otherPort.port}`,
    );
  const added = [rule.filters as Filter[] | undefined, ...refs.map((r) => r.filters)].map(addedRoutingHeader).find((h) => h !== undefined);
  if (added) return notOwned(route, ruleIndex, `adds ${added} with a RequestHeaderModifier "add" (the request then carries joined values); use "set"`);
  return readArms(route, ruleIndex, target, claim === undefined || editedInPlace);
}

/** The arms of a rule whose backendRefs all go to the target: what each one's requests get, or why it is not ours. */
function readArms(route: HttpRoute, ruleIndex: number, target: AdapterRouteTarget, unclaimed: boolean): AdapterRouteObservation {
  const rule = route.spec.rules![ruleIndex]!;
  const refs = rule.backendRefs as BackendRef[];
  const pins: Pins[] = [];
  for (const [i, ref] of refs.entries()) {
    const read = readPins(effectivePinHeader(rule, ref), target.style);
    if ('error' in read) return notOwned(route, ruleIndex, `backendRef ${i}: ${read.error}`);
    pins.push(read);
  }
  const splits: Split[] = [];
  for (const ref of refs) {
    const read = effectiveSplit(rule, ref, target.style);
    if ('error' in read) return notOwned(route, ruleIndex, read.error);
    splits.push(read);
  }
  const splitOthers = [...new Set(splits.flatMap((x) => x.others))];
  const pinsAny = pins.some((p) => p.ours !== '' || p.others.length > 0) || splitOthers.length > 0;
  if (pinsAny && !pins.some((p) => p.ours !== '') && splits.every((x) => x.ours.length === 0))
    return notOwned(
      route,
      ruleIndex,
      `pins ${[...new Set([...pins.flatMap((p) => p.others), ...splitOthers])].join(', ')}, not ${target.style}: another style's rule`,
    );
  const othersText = (p: Pins) => p.others.join(', ');
  if (pins.some((p) => othersText(p) !== othersText(pins[0]!)))
    return notOwned(route, ruleIndex, `pins other styles differently on its backendRefs (${pins.map(othersText).join(' | ')}): another rollout splits them`);
  // What each backendRef's requests get, as the runtime decides (route-choice.ts): its pin, else its split (its
  // own or the rule's), else no version. An unset weight means 1 (Gateway API default).
  const arms = refs.flatMap((r, i) => {
    const weight = r.weight ?? 1;
    const split = splits[i]!;
    const splitTotal = split.ours.reduce((n, a) => n + a.weight, 0);
    if (pins[i]!.ours !== '' || splitTotal === 0) return [{ version: pins[i]!.ours, weight }];
    return split.ours.map((a) => ({ version: a.version, weight: (weight * a.weight) / splitTotal }));
  });
  const sticky = pins.every((p) => p.ours === '') && splits.every((x) => x.ours.some((a) => a.weight > 0));
  const salt = splits[0]!.salts.get(target.style) ?? splits[0]!.salts.get('*');
  return {
    found: true,
    arms,
    ...(unclaimed ? { unclaimed: true as const } : {}),
    ...(sticky ? { sticky: salt ? { salt } : {} } : {}),
  };
}

/**
 * The route with the managed rule's arms written: weighted — one backendRef per arm, each pinning its version,
 * keeping the settings and filters of the backendRef that pinned it (else of the first one); sticky — one
 * backendRef without this style's pin and the arms on the rule's X-Adapter-Split, candidate (armsAt's last)
 * first, with this style's salt. Only the weights and this style's entries of the routing headers are the
 * StyleRollout's: other styles' pins, splits and salts stay. `claim` sets the rule's claim annotation (owner and
 * the rule's fingerprint); `claim: false` removes it.
 * @throws TrafficRouterError RuleNotFound when `ruleIndex` is out of range.
 */
export function withAdapterArms(
  route: HttpRoute,
  ruleIndex: number,
  arms: AdapterArm[],
  target: AdapterRouteTarget,
  opts: { claim?: boolean; sticky?: { salt: string } } = {},
): HttpRoute {
  const rules = [...(route.spec.rules ?? [])];
  const rule = rules[ruleIndex];
  if (!rule)
    throw new TrafficRouterError(
      'RuleNotFound',
      `HTTPRoute ${route.metadata.name} has ${rules.length} rule(s); spec.trafficRouting.gatewayAPI.ruleIndex ${ruleIndex} is out of range`,
    );
  const refs = (rule.backendRefs ?? []) as BackendRef[];
  const pinsOf = (ref: BackendRef): Pins => {
    const read = readPins(effectivePinHeader(rule, ref), target.style);
    return 'error' in read ? { ours: '', others: [] } : read;
  };
  const others = refs[0] ? pinsOf(refs[0]).others : [];
  const read = readSplit(rule.filters as Filter[] | undefined, target.style);
  const split: Split = 'error' in read ? { ours: [], others: [], otherStyles: [], salts: new Map() } : read;
  const cleanRefs = refs.map((r) => withoutStyleRouting(r, target.style));
  const backendRefs = opts.sticky ? [stickyRef(cleanRefs, others, target)] : weightedRefs(cleanRefs, arms, others, target, pinsOf);
  const splitValue = opts.sticky
    ? [...split.others, ...[...arms].reverse().map((a) => `${target.style}@${a.version}=${a.weight}`)].join(', ')
    : split.others.length > 0
      ? split.others.join(', ')
      : undefined;
  const saltValue = saltsAfter(split, target.style, opts.sticky?.salt);
  // A rule-level pin of this style would reach every backendRef that does not set its own: keep only others'.
  const rulePins = readPins(headerOf(rule.filters as Filter[] | undefined, ADAPTER_VERSION_HEADER), target.style);
  const rulePinValue = 'error' in rulePins || rulePins.others.length === 0 ? undefined : rulePins.others.join(', ');
  let ruleFilters = withHeader(rule.filters as Filter[] | undefined, ADAPTER_SPLIT_HEADER, splitValue);
  ruleFilters = withHeader(ruleFilters, ADAPTER_SALT_HEADER, saltValue);
  ruleFilters = withHeader(ruleFilters, ADAPTER_VERSION_HEADER, rulePinValue);
  const next: typeof rule = { ...rule, backendRefs };
  if (ruleFilters.length > 0) next.filters = ruleFilters;
  else delete next.filters;
  rules[ruleIndex] = next;
  const annotations = { ...(route.metadata.annotations ?? {}) };
  const claimKey = styleRuleClaimAnnotation(ruleIndex);
  if (opts.claim ?? true) annotations[claimKey] = styleRuleClaim(target.owner, rule);
  else delete annotations[claimKey];
  return { ...route, metadata: { ...route.metadata, annotations }, spec: { ...route.spec, rules } };
}

/**
 * A backendRef without this style's entries in its own X-Adapter-Split and salt (they would replace the rule's,
 * where a sticky rollout writes): other styles' stay.
 */
function withoutStyleRouting(ref: BackendRef, style: string): BackendRef {
  const split = readSplit(ref.filters, style);
  if ('error' in split || (split.ours.length === 0 && !split.salts.has(style) && !split.salts.has('*'))) return ref;
  let filters = withHeader(ref.filters, ADAPTER_SPLIT_HEADER, split.others.length > 0 ? split.others.join(', ') : undefined);
  filters = withHeader(filters, ADAPTER_SALT_HEADER, saltsAfter(split, style, undefined));
  const out: BackendRef = { ...ref, filters };
  if (filters.length === 0) delete out.filters;
  return out;
}

/** Sticky: one backendRef (the first's settings) without this style's pin, which would win over the split. */
function stickyRef(refs: BackendRef[], others: string[], target: AdapterRouteTarget): BackendRef {
  const base: BackendRef = refs[0] ? structuredClone(refs[0]) : { name: target.service };
  const filters = withHeader(base.filters, ADAPTER_VERSION_HEADER, others.length > 0 ? others.join(', ') : undefined);
  const ref: BackendRef = { ...base, name: target.service, port: base.port ?? target.port, weight: 1 };
  if (filters.length > 0) ref.filters = filters;
  else delete ref.filters;
  return ref;
}

/** Weighted: one backendRef per arm, each keeping the settings of the one that pinned its version (else the first's). */
function weightedRefs(refs: BackendRef[], arms: AdapterArm[], others: string[], target: AdapterRouteTarget, pinsOf: (ref: BackendRef) => Pins): BackendRef[] {
  return arms.map((a) => {
    const template = refs.find((r) => pinsOf(r).ours === a.version) ?? refs[0];
    const base: BackendRef = template ? structuredClone(template) : { name: target.service };
    return {
      ...base,
      name: target.service,
      port: base.port ?? target.port,
      weight: a.weight,
      filters: withHeader(base.filters, ADAPTER_VERSION_HEADER, [...others, `${target.style}@${a.version}`].join(', ')),
    };
  });
}

/** The salt header after a write: one entry per style (a bare salt becomes each other style's), this style's `salt` when sticky. */
function saltsAfter(split: Split, style: string, salt: string | undefined): string | undefined {
  const salts = new Map<string, string>();
  for (const other of split.otherStyles) {
    const theirs = split.salts.get(other) ?? split.salts.get('*');
    if (theirs) salts.set(other, theirs);
  }
  if (salt) salts.set(style, salt);
  return salts.size > 0 ? [...salts].map(([name, value]) => `${name}=${value}`).join(', ') : undefined;
}

/**
 * `filters` with header `name` set to `value` in their RequestHeaderModifier (one is added when none), or, with
 * `value` undefined, removed from it (and a RequestHeaderModifier left with nothing to do removed).
 */
function withHeader(filters: Filter[] | undefined, name: string, value: string | undefined): Filter[] {
  const out = [...(filters ?? [])];
  const i = out.findIndex((f) => f.type === 'RequestHeaderModifier');
  if (i < 0) return value === undefined ? out : [...out, { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name, value }] } }];
  const modifier = out[i]!.requestHeaderModifier ?? {};
  const set = (modifier.set ?? []).filter((h) => h.name.toLowerCase() !== name.toLowerCase());
  if (value !== undefined) set.push({ name, value });
  const { set: _set, ...rest } = modifier;
  const nextModifier: HeaderModifier = set.length > 0 ? { ...rest, set } : rest;
  const empty = Object.values(nextModifier).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
  if (empty) out.splice(i, 1);
  else out[i] = { ...out[i]!, requestHeaderModifier: nextModifier };
  return out;
}
