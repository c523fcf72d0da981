import { millis } from './calls';

// A 24-hour clock: shorter, and what operations teams read.
const timeFormat: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };

export function clock(ts: string | undefined): string {
  const ms = millis(ts);
  if (!ms) return '—';
  return new Date(ms).toLocaleTimeString([], timeFormat);
}

export function dateTime(ts: string | undefined): string {
  const ms = millis(ts);
  if (!ms) return '—';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const time = d.toLocaleTimeString([], timeFormat);
  return sameDay ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

export function ms(n: number | undefined): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} s`;
}

export function percent(ratio: number | undefined): string {
  if (ratio === undefined || ratio === null || Number.isNaN(ratio)) return '—';
  return `${(ratio * 100).toFixed(ratio >= 0.995 || ratio === 0 ? 0 : 1)}%`;
}

export function shortID(id: string | undefined): string {
  if (!id) return '—';
  return id.length > 8 ? `…${id.slice(-6)}` : id;
}

const callLabels: Record<string, string> = {
  ringing: 'Ringing',
  dialing: 'Dialing',
  'in-progress': 'In progress',
  transferred: 'Transferred',
  ended: 'Ended',
  failed: 'Failed',
  rejected: 'Rejected',
};

export function callLabel(status: string): string {
  return callLabels[status] ?? status;
}

const transferLabels: Record<string, string> = {
  requested: 'Requested',
  accepted: 'Accepted',
  trying: 'Trying',
  ringing: 'Ringing',
  completed: 'Connected',
  failed: 'Failed',
  canceled: 'Canceled',
};

export function transferLabel(status: string): string {
  return transferLabels[status] ?? status;
}
