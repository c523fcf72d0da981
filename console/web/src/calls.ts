import { type Call, type Digit, type Line, type Transfer } from './model';

// Heard is one item of a call's conversation as the console shows it.
export type Heard = { kind: 'line'; at: string; line: Line } | { kind: 'digit'; at: string; digit: Digit };

// maxHeard bounds the conversation kept per call.
const maxHeard = 50;

function millis(ts: string | undefined): number {
  const n = ts ? Date.parse(ts) : NaN;
  return Number.isNaN(n) ? 0 : n;
}

// CallBook keeps the newest state seen of every call and transfer. Events
// may come twice or out of order around a (re)connect: the snapshot and
// the events queued while it was read overlap. Calls are kept by
// updated_at and transfers by their step count (steps are only ever
// appended), so an older copy never replaces a newer one.
export class CallBook {
  private calls = new Map<string, Call>();
  private transfers = new Map<string, Transfer>();
  private heard = new Map<string, Map<string, Heard>>();

  // reset replaces everything with a snapshot.
  reset(calls: Call[]): void {
    this.calls.clear();
    this.transfers.clear();
    for (const c of calls) this.putCall(c);
    // What was heard stays: the snapshot carries none of it.
  }

  putCall(c: Call): void {
    const { transfers, ...own } = c;
    const known = this.calls.get(c.id);
    if (!known || millis(own.updated_at) >= millis(known.updated_at)) {
      this.calls.set(c.id, own);
    }
    for (const t of transfers ?? []) this.putTransfer(t);
  }

  putTransfer(t: Transfer): void {
    const known = this.transfers.get(t.id);
    if (!known || (t.steps?.length ?? 0) >= (known.steps?.length ?? 0)) {
      this.transfers.set(t.id, { ...t, steps: t.steps ?? [] });
    }
  }

  // putHeard adds a transcript line or a key press (once, by id).
  putHeard(h: Heard): void {
    const callID = h.kind === 'line' ? h.line.call_id : h.digit.call_id;
    const id = h.kind === 'line' ? h.line.id : h.digit.id;
    let m = this.heard.get(callID);
    if (!m) {
      m = new Map();
      this.heard.set(callID, m);
    }
    m.set(id, h);
    if (m.size > maxHeard) m.delete(m.keys().next().value as string);
  }

  // heardOf returns the call's conversation, oldest first.
  heardOf(callID: string): Heard[] {
    return [...(this.heard.get(callID)?.values() ?? [])].sort((a, b) => millis(a.at) - millis(b.at));
  }

  call(id: string): Call | undefined {
    return this.calls.get(id);
  }

  // transfersOf returns the call's transfers, oldest first.
  transfersOf(callID: string): Transfer[] {
    return [...this.transfers.values()]
      .filter((t) => t.call_id === callID)
      .sort((a, b) => millis(a.created_at) - millis(b.created_at));
  }

  // board returns the calls to show as live: those up now, then those
  // that ended within keepMillis (so their last transfer's outcome stays
  // in view a while), newest first.
  board(now: number, keepMillis: number): Call[] {
    return [...this.calls.values()]
      .filter((c) => {
        if (c.status === 'ringing' || c.status === 'in-progress' || c.status === 'dialing') return true;
        const ended = millis(c.ended_at ?? c.updated_at);
        return now - ended < keepMillis;
      })
      .sort((a, b) => millis(b.created_at) - millis(a.created_at));
  }

  // recentTransfers returns the newest transfers first.
  recentTransfers(limit: number): Transfer[] {
    return [...this.transfers.values()]
      .sort((a, b) => millis(b.created_at) - millis(a.created_at))
      .slice(0, limit);
  }
}

export { millis };
