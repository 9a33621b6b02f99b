/**
 * Prometheus metrics, kept per engine instance (no global registry): requests by flow and status, execution
 * durations by flow, mode and outcome, and gauges read at scrape time (queue depth, flows loaded).
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly executions = new Map<string, Histogram>();
  private readonly gauges = new Map<string, { help: string; read: () => Promise<number | Record<string, number>> }>();

  // label text per flow and status (per flow, mode and outcome), built once: these run on every request
  private readonly requestKeys = new Map<string, string>();
  private readonly histograms = new Map<string, Histogram>();

  request(flow: string, status: number): void {
    const id = `${status}${flow}`;
    let key = this.requestKeys.get(id);
    if (key === undefined) this.requestKeys.set(id, (key = `flow="${escape(flow)}",status="${status}"`));
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  execution(flow: string, mode: string, outcome: string, seconds: number): void {
    const id = `${mode} ${outcome} ${flow}`;
    let h = this.histograms.get(id);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.histograms.set(id, h);
      this.executions.set(`flow="${escape(flow)}",mode="${mode}",outcome="${outcome}"`, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) h.counts[i]++;
    h.sum += seconds;
    h.count++;
  }

  /** a value read when /metrics is scraped: one number, or numbers by a label value */
  gauge(name: string, help: string, read: () => Promise<number | Record<string, number>>): void {
    this.gauges.set(name, { help, read });
  }

  async render(): Promise<string> {
    const lines = ['# HELP hooks_requests_total Requests that reached a flow, by flow and answered status.', '# TYPE hooks_requests_total counter'];
    for (const [labels, value] of this.requests) lines.push(`hooks_requests_total{${labels}} ${value}`);
    lines.push('# HELP hooks_execution_duration_seconds Flow executions by flow, mode and outcome.', '# TYPE hooks_execution_duration_seconds histogram');
    for (const [labels, h] of this.executions) {
      BUCKETS.forEach((bound, i) => lines.push(`hooks_execution_duration_seconds_bucket{${labels},le="${bound}"} ${h.counts[i]}`));
      lines.push(`hooks_execution_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`hooks_execution_duration_seconds_sum{${labels}} ${h.sum}`, `hooks_execution_duration_seconds_count{${labels}} ${h.count}`);
    }
    for (const [name, gauge] of this.gauges) {
      lines.push(`# HELP ${name} ${gauge.help}`, `# TYPE ${name} gauge`);
      const value = await gauge.read();
      if (typeof value === 'number') lines.push(`${name} ${value}`);
      else for (const [label, v] of Object.entries(value)) lines.push(`${name}{${label}} ${v}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
