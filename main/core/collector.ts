import { AgentClient } from '../../devices/client/agent-client.js';
import { AppError } from '../../shared/errors.js';
import { DEFAULT_HEALTH_RULES, evaluateHealth, type HealthRules } from '../../shared/health.js';
import { TelemetrySample } from '../../shared/telemetry.js';
import type { EnrolledAgent, FleetStore } from '../fleetlog/types.js';

export interface CollectorOptions {
  store: FleetStore;
  /** How often each reachable agent is polled. */
  pollIntervalMs?: number;
  /** Backoff ceiling for unreachable agents. */
  maxBackoffMs?: number;
  /** Requests in flight at once across the fleet. */
  concurrency?: number;
  requestTimeoutMs?: number;
  /** Samples are buffered and written in one transaction at most this often. */
  flushIntervalMs?: number;
  rules?: Partial<HealthRules>;
  clock?: () => number;
  /** Called after each flush with the ids whose rows changed (for live UI updates). */
  onDevicesChanged?: (ids: string[]) => void;
  log?: (msg: string) => void;
  /**
   * pull: poll each agent's buffer with a cursor. stream: also hold the agent's push stream open, so
   * samples arrive as they are taken; polls then only fill gaps (at a sixth of the rate) and take
   * over whenever the stream drops.
   */
  mode?: 'pull' | 'stream';
  clientFactory?: (a: { url: string; token: string; timeoutMs: number }) => AgentLink;
}

export type AgentLink = Pick<AgentClient, 'telemetry' | 'stream'>;

interface AgentState {
  agent: EnrolledAgent;
  client: AgentLink;
  timer: NodeJS.Timeout | null;
  stream: { close(): void } | null;
  failures: number;
  inFlight: boolean;
}

interface Pending {
  samples: unknown[];
  /** Latest valid sample per device in the pending batch, for the health rules. */
  latest: Map<string, TelemetrySample>;
  /** Inferences and errors summed over every sample of the batch: one short window is too noisy to judge. */
  counts: Map<string, { inferences: number; errors: number }>;
  contacts: Map<string, number>;
}

/**
 * Pulls telemetry from every enrolled agent with a per-agent cursor (bootId + seq), writes it to the
 * fleet log in batches, applies the health rules and records state changes. Each agent has its own
 * timer: a slow or dead agent backs off exponentially without delaying anyone else.
 */
export class Collector {
  private readonly agents = new Map<string, AgentState>();
  private readonly opts: Required<Omit<CollectorOptions, 'onDevicesChanged' | 'rules' | 'clientFactory'>> &
    Pick<CollectorOptions, 'onDevicesChanged' | 'clientFactory'> & { rules: HealthRules };
  private pending: Pending = { samples: [], latest: new Map(), counts: new Map(), contacts: new Map() };
  private flushTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private stopped = false;

  constructor(opts: CollectorOptions) {
    const pollIntervalMs = opts.pollIntervalMs ?? 5_000;
    this.opts = {
      store: opts.store,
      pollIntervalMs,
      maxBackoffMs: opts.maxBackoffMs ?? 300_000,
      concurrency: opts.concurrency ?? 64,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5_000,
      mode: opts.mode ?? 'pull',
      flushIntervalMs: opts.flushIntervalMs ?? 250,
      clock: opts.clock ?? Date.now,
      log: opts.log ?? (() => undefined),
      rules: {
        ...DEFAULT_HEALTH_RULES,
        unreachableAfterMs: Math.max(DEFAULT_HEALTH_RULES.unreachableAfterMs, pollIntervalMs * 4),
        ...opts.rules,
      },
      onDevicesChanged: opts.onDevicesChanged,
      clientFactory: opts.clientFactory,
    };
  }

  get rules(): HealthRules {
    return this.opts.rules;
  }

  async start(): Promise<void> {
    for (const a of await this.opts.store.listEnrolledAgents()) this.add(a);
    this.flushTimer = setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.sweepTimer = setInterval(() => void this.sweep(), Math.min(5_000, this.opts.pollIntervalMs));
  }

  /** Starts polling an agent (on enrolment, or at start for every enrolled agent). */
  add(agent: EnrolledAgent): void {
    this.remove(agent.id);
    const factory =
      this.opts.clientFactory ??
      ((a: { url: string; token: string; timeoutMs: number }) => new AgentClient(a));
    const state: AgentState = {
      agent: { ...agent },
      client: factory({ url: agent.url, token: agent.token, timeoutMs: this.opts.requestTimeoutMs }),
      timer: null,
      stream: null,
      failures: 0,
      inFlight: false,
    };
    this.agents.set(agent.id, state);
    this.schedule(state, Math.random() * Math.min(this.opts.pollIntervalMs, 1000));
  }

  remove(id: string): void {
    const s = this.agents.get(id);
    if (s?.timer) clearTimeout(s.timer);
    s?.stream?.close();
    this.agents.delete(id);
  }

  /** Records one sample from a pull or the stream; returns its seq when it has one. */
  private accept(s: AgentState, raw: unknown, now: number): number | null {
    this.pending.samples.push(raw);
    this.pending.contacts.set(s.agent.id, now);
    const parsed = TelemetrySample.safeParse(raw);
    if (parsed.success && parsed.data.deviceId === s.agent.id) {
      const c = this.pending.counts.get(s.agent.id) ?? { inferences: 0, errors: 0 };
      c.inferences += parsed.data.inferences;
      c.errors += parsed.data.errors;
      this.pending.counts.set(s.agent.id, c);
      const prev = this.pending.latest.get(s.agent.id);
      if (!prev || prev.ts <= parsed.data.ts) this.pending.latest.set(s.agent.id, parsed.data);
    }
    // Advance past every sample, valid or not: the fleet log rejects (and logs) bad ones, and a
    // cursor stuck on a bad sample would re-fetch it forever.
    const seq = (raw as { seq?: unknown } | null)?.seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : null;
  }

  private openStream(s: AgentState): void {
    if (s.stream || this.stopped) return;
    s.stream = s.client.stream({
      onHello: (identity) => {
        // The agent rebooted between our poll and the stream: let a poll reset the cursor first.
        if (identity.bootId !== s.agent.bootId) s.stream?.close();
      },
      onSample: (sample) => {
        const seq = this.accept(s, sample, this.opts.clock());
        // Only a contiguous sample moves the cursor; after a gap the next poll fetches what is missing.
        if (seq !== null && seq === s.agent.lastSeq + 1) s.agent.lastSeq = seq;
      },
      onClose: (err) => {
        s.stream = null;
        if (err && !this.stopped && this.agents.get(s.agent.id) === s) {
          this.opts.log(`stream ${s.agent.id} closed: ${err.message}`);
          if (s.timer) clearTimeout(s.timer);
          this.schedule(s, this.opts.pollIntervalMs);
        }
      },
    });
  }

  /** Poll one agent now (tests, "refresh" in the UI). */
  async pollNow(id: string): Promise<void> {
    const s = this.agents.get(id);
    if (!s) throw new AppError('NOT_FOUND', `Device ${id} is not enrolled.`);
    if (s.timer) clearTimeout(s.timer);
    await this.poll(s);
    await this.flush();
  }

  private schedule(s: AgentState, delayMs: number): void {
    if (this.stopped) return;
    s.timer = setTimeout(() => void this.poll(s), delayMs);
    s.timer.unref?.();
  }

  private backoffMs(failures: number): number {
    const base = this.opts.pollIntervalMs * 2 ** Math.min(failures, 16);
    const jitter = 0.8 + Math.random() * 0.4;
    return Math.min(this.opts.maxBackoffMs, base) * jitter;
  }

  private async acquire(): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiters.shift()?.();
  }

  private async poll(s: AgentState): Promise<void> {
    if (s.inFlight || this.stopped) return;
    s.inFlight = true;
    await this.acquire();
    try {
      // Drain: keep pulling while the agent says it has more (catch-up after an outage).
      for (let page = 0; page < 20; page++) {
        const res = await s.client.telemetry(s.agent.lastSeq, 1000);
        const now = this.opts.clock();
        if (s.agent.bootId !== res.bootId) {
          if (s.agent.bootId !== null) {
            await this.opts.store.addEvent({
              deviceId: s.agent.id,
              ts: now,
              kind: 'agent.restarted',
              severity: 'info',
              message: `Agent restarted (boot ${res.bootId.slice(0, 8)}); reading its buffer from the start.`,
            });
          }
          s.agent.bootId = res.bootId;
          s.agent.lastSeq = 0;
          continue;
        }
        if (s.failures > 0) {
          await this.opts.store.addEvent({
            deviceId: s.agent.id,
            ts: now,
            kind: 'agent.reachable',
            severity: 'info',
            message: `Reachable again after ${s.failures} failed poll${s.failures > 1 ? 's' : ''}.`,
          });
        }
        s.failures = 0;
        this.pending.contacts.set(s.agent.id, now);
        let maxSeq = s.agent.lastSeq;
        for (const raw of res.samples) {
          const seq = this.accept(s, raw, now);
          if (seq !== null) maxSeq = Math.max(maxSeq, seq);
        }
        s.agent.lastSeq = Math.min(maxSeq, res.latestSeq);
        if (res.latestSeq <= s.agent.lastSeq || res.samples.length === 0) break;
      }
      if (this.opts.mode === 'stream') this.openStream(s);
      this.schedule(s, s.stream ? this.opts.pollIntervalMs * 6 : this.opts.pollIntervalMs);
    } catch (err) {
      s.failures++;
      const e = err instanceof AppError ? err : new AppError('DEVICE_UNREACHABLE', String(err));
      if (s.failures === 1 || e.code === 'UNAUTHORIZED') {
        await this.opts.store
          .addEvent({
            deviceId: s.agent.id,
            ts: this.opts.clock(),
            kind: e.code === 'UNAUTHORIZED' ? 'agent.unauthorized' : 'agent.unreachable',
            severity: e.code === 'UNAUTHORIZED' ? 'error' : 'warning',
            message: e.message + (e.hint ? ` ${e.hint}` : ''),
          })
          .catch(() => undefined);
      }
      this.opts.log(`poll ${s.agent.id} failed (${s.failures}): ${e.message}`);
      this.schedule(s, this.backoffMs(s.failures));
    } finally {
      this.release();
      s.inFlight = false;
    }
  }

  /** Writes buffered samples in one transaction, then applies the health rules to the devices touched. */
  flush(): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.flushOnce())
      .catch((err: unknown) => {
        this.opts.log(`flush failed: ${String(err)}`);
      });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.pending;
    if (batch.samples.length === 0 && batch.contacts.size === 0) return;
    this.pending = { samples: [], latest: new Map(), counts: new Map(), contacts: new Map() };
    const store = this.opts.store;
    const now = this.opts.clock();
    if (batch.samples.length) {
      const res = await store.ingest(batch.samples, now);
      if (res.rejected.length)
        this.opts.log(`rejected ${res.rejected.length} samples: ${res.rejected[0]?.reason}`);
    }
    const changed: string[] = [];
    for (const [id, ts] of batch.contacts) {
      await store.markContact(id, ts);
      const state = this.agents.get(id);
      if (state)
        await store.setCursor({ deviceId: id, bootId: state.agent.bootId, lastSeq: state.agent.lastSeq });
      const latest = batch.latest.get(id);
      const dev = await store.getDevice(id);
      if (!dev) continue;
      const verdict = evaluateHealth(
        {
          nowTs: now,
          lastContactTs: ts,
          tempC: latest ? latest.tempC : dev.row.tempC,
          throttled: latest ? latest.throttled : dev.row.throttled,
          latencyP95Ms: latest ? latest.latencyP95Ms : dev.row.latencyP95Ms,
          inferences: batch.counts.get(id)?.inferences ?? 0,
          errors: batch.counts.get(id)?.errors ?? 0,
          limits: dev.row.limits,
        },
        this.opts.rules,
      );
      await store.setStatus(id, verdict.status, verdict.reasons, now);
      changed.push(id);
    }
    if (changed.length) this.opts.onDevicesChanged?.(changed);
  }

  /** Marks devices unreachable when they have been silent too long. */
  async sweep(): Promise<void> {
    const now = this.opts.clock();
    const changed: string[] = [];
    for (const row of await this.opts.store.listDevices()) {
      if (row.lastContactTs === null || row.status === 'unreachable') continue;
      const verdict = evaluateHealth(
        {
          nowTs: now,
          lastContactTs: row.lastContactTs,
          tempC: null,
          throttled: null,
          latencyP95Ms: null,
          inferences: 0,
          errors: 0,
          limits: row.limits,
        },
        this.opts.rules,
      );
      if (
        verdict.status === 'unreachable' &&
        (await this.opts.store.setStatus(row.id, verdict.status, verdict.reasons, now))
      ) {
        changed.push(row.id);
      }
    }
    if (changed.length) this.opts.onDevicesChanged?.(changed);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.agents.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.stream?.close();
    }
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.flush();
  }
}
