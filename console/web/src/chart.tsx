import type { StatsGroup } from './model';

// TransferChart draws completed, failed and other (in flight or canceled)
// transfers per group as stacked bars. It is a hand-written SVG rather
// than a chart library: one bar chart is less code than wiring a library,
// and it adds nothing to the embedded bundle.

const W = 640;
const H = 210;
const PAD = { top: 12, right: 8, bottom: 34, left: 34 };

function niceMax(n: number): number {
  if (n <= 4) return 4;
  const pow = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * pow >= n) return m * pow;
  }
  return 10 * pow;
}

export interface Bar {
  key: string;
  label: string;
  group: StatsGroup;
}

export function TransferChart({ bars }: { bars: Bar[] }) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b.group.transfers_attempted)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.min(34, slot * 0.64);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const labelEvery = Math.max(1, Math.ceil(bars.length / 14));
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Transfers by outcome">
      {ticks.map((t) => (
        <g key={t}>
          <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
          <text class="axis" x={PAD.left - 6} y={y(t) + 3.5} text-anchor="end">
            {Number.isInteger(t) ? t : t.toFixed(1)}
          </text>
        </g>
      ))}
      {bars.map((b, i) => {
        const g = b.group;
        const other = Math.max(0, g.transfers_attempted - g.transfers_completed - g.transfers_failed);
        const x = PAD.left + i * slot + (slot - barW) / 2;
        let top = y(0);
        const seg = (v: number, cls: string) => {
          if (v <= 0) return null;
          const h = (v / max) * plotH;
          top -= h;
          return <rect class={cls} x={x} y={top} width={barW} height={Math.max(h, 0.5)} rx={2} />;
        };
        return (
          <g key={b.key} data-bar={b.key}>
            <title>
              {`${b.label}: ${g.transfers_attempted} transfers, ${g.transfers_completed} connected, ${g.transfers_failed} failed (${g.calls} calls)`}
            </title>
            {seg(g.transfers_completed, 'ok')}
            {seg(g.transfers_failed, 'bad')}
            {seg(other, 'other')}
            {i % labelEvery === 0 && (
              <text class="axis" x={x + barW / 2} y={H - PAD.bottom + 16} text-anchor="middle">
                {b.label.length > 12 ? `${b.label.slice(0, 11)}…` : b.label}
              </text>
            )}
          </g>
        );
      })}
      <line class="baseline" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
    </svg>
  );
}
