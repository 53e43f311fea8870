import { Counter, Gauge, Registry } from 'prom-client';
import type { DeviceIdentity, TelemetrySample } from '../../shared/telemetry.js';

/**
 * Prometheus view of the agent. Each agent owns its Registry (the simulator runs many agents in one
 * process, and prom-client's global registry would mix them). Every series carries device_id so a
 * Prometheus scraping a fleet can tell devices apart, and that label also lets us *remove* a series
 * when the value is null: an unlabelled prom-client gauge falls back to 0, which would be a lie.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly labels: { device_id: string };
  private readonly temp: Gauge<'device_id'>;
  private readonly cpu: Gauge<'device_id'>;
  private readonly mem: Gauge<'device_id'>;
  private readonly disk: Gauge<'device_id'>;
  private readonly uptime: Gauge<'device_id'>;
  private readonly throttled: Gauge<'device_id'>;
  private readonly power: Gauge<'device_id'>;
  private readonly latency: Gauge<'device_id' | 'quantile'>;
  private readonly throughput: Gauge<'device_id'>;
  private readonly inferences: Counter<'device_id'>;
  private readonly errors: Counter<'device_id'>;
  private readonly seq: Gauge<'device_id'>;
  private readonly lastSampleTs: Gauge<'device_id'>;
  private readonly info: Gauge<string>;

  constructor(private readonly identity: DeviceIdentity) {
    this.labels = { device_id: identity.deviceId };
    const r = [this.registry];
    const g = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['device_id'] as const, registers: r });
    this.temp = g('edge_device_temperature_celsius', 'Hottest valid temperature sensor on the device.');
    this.cpu = g('edge_cpu_utilization_ratio', 'CPU utilisation, 0..1.');
    this.mem = g('edge_memory_utilization_ratio', 'Memory in use (total - available) / total, 0..1.');
    this.disk = g('edge_disk_free_bytes', 'Free bytes on the agent data filesystem.');
    this.uptime = g('edge_uptime_seconds', 'Seconds since the device booted.');
    this.throttled = g('edge_throttled', '1 when the device is thermally or power throttled.');
    this.power = g('edge_power_watts', 'Board power draw in watts.');
    this.latency = new Gauge({
      name: 'edge_inference_latency_seconds',
      help: 'Inference latency quantiles over the rolling window.',
      labelNames: ['device_id', 'quantile'] as const,
      registers: r,
    });
    this.throughput = g('edge_inference_throughput', 'Inferences per second over the last sample interval.');
    this.inferences = new Counter({
      name: 'edge_inferences_total',
      help: 'Inferences served since the agent started.',
      labelNames: ['device_id'] as const,
      registers: r,
    });
    this.errors = new Counter({
      name: 'edge_inference_errors_total',
      help: 'Failed inferences since the agent started.',
      labelNames: ['device_id'] as const,
      registers: r,
    });
    this.seq = g('edge_telemetry_seq', 'Sequence number of the latest telemetry sample (per boot).');
    this.lastSampleTs = g('edge_last_sample_timestamp_seconds', 'Unix time of the latest telemetry sample.');
    this.info = new Gauge({
      name: 'edge_agent_info',
      help: 'Constant 1, labelled with what the agent is and serves.',
      labelNames: ['device_id', 'model_version', 'accelerator', 'hardware_model', 'agent_version', 'boot_id'],
      registers: r,
    });
    this.inferences.inc(this.labels, 0);
    this.errors.inc(this.labels, 0);
    this.setInfo(null);
  }

  private setInfo(modelVersion: string | null): void {
    this.info.reset();
    this.info.set(
      {
        device_id: this.identity.deviceId,
        model_version: modelVersion ?? '',
        accelerator: this.identity.accelerator,
        hardware_model: this.identity.hardwareModel,
        agent_version: this.identity.agentVersion,
        boot_id: this.identity.bootId,
      },
      1,
    );
  }

  private put(gauge: Gauge<'device_id'>, value: number | null): void {
    if (value === null) gauge.remove(this.labels);
    else gauge.set(this.labels, value);
  }

  update(s: TelemetrySample): void {
    this.put(this.temp, s.tempC);
    this.put(this.cpu, s.cpuPct === null ? null : s.cpuPct / 100);
    this.put(this.mem, s.memPct === null ? null : s.memPct / 100);
    this.put(this.disk, s.diskFreeBytes);
    this.put(this.uptime, s.uptimeS);
    this.put(this.throttled, s.throttled === null ? null : s.throttled ? 1 : 0);
    this.put(this.power, s.powerW);
    this.put(this.throughput, s.throughputIps);
    for (const [q, ms] of [
      ['0.5', s.latencyP50Ms],
      ['0.95', s.latencyP95Ms],
      ['0.99', s.latencyP99Ms],
    ] as const) {
      const labels = { ...this.labels, quantile: q };
      if (ms === null) this.latency.remove(labels);
      else this.latency.set(labels, ms / 1000);
    }
    this.inferences.inc(this.labels, s.inferences);
    this.errors.inc(this.labels, s.errors);
    this.seq.set(this.labels, s.seq);
    this.lastSampleTs.set(this.labels, s.ts / 1000);
    this.setInfo(s.modelVersion);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
