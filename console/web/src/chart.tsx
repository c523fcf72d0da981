import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { StatsGroup } from './model';

// TransferChart draws completed, failed and in-flight
// transfers per group as stacked bars. It is a hand-written SVG rather
// than a chart library: one bar chart is less code than wiring a library,
// and it adds nothing to the embedded bundle.

const H = 180;
const PAD = { top: 10, right: 6, bottom: 24, left: 30 };

// niceStep returns the step between the four gridlines above zero: a
// whole, round number (1, 2, 5, 15, 25, 60, ...) whose four steps reach n.
function niceStep(n: number): number {
  for (let pow = 1; ; pow *= 10) {
    for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8]) {
      const step = m * pow;
      if (Number.isInteger(step) && step * 4 >= n) return step;
    }
  }
}

export interface Bar {
  key: string;
  label: string;
  group: StatsGroup;
}

// TransferChart sizes itself to its box, so that text keeps its size
// whatever the width.
export function TransferChart({ bars }: { bars: Bar[] }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.floor(el.clientWidth)));
    ro.observe(el);
    setWidth(Math.floor(el.clientWidth));
    return () => ro.disconnect();
  }, []);
  return (
    <div class="chart-box" ref={box}>
      {width > 0 && <Bars bars={bars} W={width} />}
    </div>
  );
}

function Bars({ bars, W }: { bars: Bar[]; W: number }) {
  const step = niceStep(Math.max(1, ...bars.map((b) => b.group.transfers_attempted)));
  const max = step * 4;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.min(34, slot * 0.64);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, step, 2 * step, 3 * step, max];
  const labelEvery = Math.max(1, Math.ceil((bars.length * 64) / plotW));
  return (
    <svg class="chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Transfers by outcome">
      {ticks.map((t) => (
        <g key={t}>
          <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
          <text class="axis" x={PAD.left - 6} y={y(t) + 3.5} text-anchor="end">
            {t}
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
              <text class="axis" x={x + barW / 2} y={H - PAD.bottom + 15} text-anchor="middle">
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
