import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Mcp, openStream, storeKey, storedKey, type StreamState } from './api';
import { CallBook, millis, type Heard } from './calls';
import { TransferChart, type Bar } from './chart';
import {
  callLabel,
  clock,
  dateTime,
  duration,
  ms,
  percent,
  shortID,
  transferLabel,
} from './format';
import { isFinal, isLive, type Call, type Transfer, type Trunk, type TransferStats } from './model';

// How long an ended call stays on the live board, so that the outcome of
// its transfer can be read.
const keepEndedMillis = 2 * 60 * 1000;
// Trunk health comes from the server's background probes, which announce
// nothing: the side panels are read again this often while the page is
// shown (the calls themselves are pushed, never polled).
const sideRefreshMillis = 60 * 1000;
const statsDays = 14;

type GroupBy = 'day' | 'assistant';

export function App() {
  const [key, setKey] = useState(storedKey());
  const [stream, setStream] = useState<{ state: StreamState; detail?: string }>({ state: 'connecting' });
  const [keyError, setKeyError] = useState('');
  // needKey keeps the sign-in form up from the first 401 until a key is
  // accepted, also while a typed key is being tried.
  const [needKey, setNeedKey] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const book = useRef(new CallBook());
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);
  const [now, setNow] = useState(Date.now());
  const mcp = useMemo(() => new Mcp(key), [key]);
  const [side, setSide] = useState<SideData>({ loading: true });
  const [groupBy, setGroupBy] = useState<GroupBy>('day');
  const [sideTick, setSideTick] = useState(0);
  const refreshSoon = useRef<number | undefined>(undefined);

  // The stream: a snapshot, then every change.
  useEffect(() => {
    const stop = openStream(key, {
      state: (state, detail) => {
        setStream({ state, detail });
        if (state === 'unauthorized') {
          setNeedKey(true);
          if (key) setKeyError('That key was not accepted.');
        }
        if (state === 'live') setNeedKey(false);
      },
      snapshot: (calls) => {
        book.current.reset(calls);
        bump();
      },
      call: (c) => {
        book.current.putCall(c);
        bump();
      },
      line: (l) => {
        book.current.putHeard({ kind: 'line', at: l.started_at, line: l });
        bump();
      },
      digit: (d) => {
        book.current.putHeard({ kind: 'digit', at: d.at, digit: d });
        bump();
      },
      transfer: (c, t) => {
        book.current.putCall(c);
        book.current.putTransfer(t);
        bump();
        if (isFinal(t)) {
          // A finished transfer moves the statistics: read them again
          // once the burst of events has passed.
          window.clearTimeout(refreshSoon.current);
          refreshSoon.current = window.setTimeout(() => setSideTick((n) => n + 1), 1500);
        }
      },
    });
    return () => {
      stop();
      mcp.close();
    };
  }, [key, attempt]);

  // A clock for call durations and for letting ended calls go.
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, []);

  useEffect(() => {
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') setSideTick((n) => n + 1);
    }, sideRefreshMillis);
    return () => window.clearInterval(id);
  }, []);

  const live = stream.state === 'live';
  useEffect(() => {
    if (!live) return;
    let stale = false;
    loadSide(mcp, groupBy).then((d) => {
      if (!stale) setSide(d);
    });
    return () => {
      stale = true;
    };
  }, [live, mcp, groupBy, sideTick]);

  const signIn = (k: string) => {
    setKeyError('');
    storeKey(k);
    setKey(k);
    setAttempt((n) => n + 1);
  };
  const signOut = () => {
    storeKey('');
    setKeyError('');
    setKey('');
  };

  if (needKey) {
    return <Login onSubmit={signIn} error={keyError} checking={stream.state === 'connecting'} />;
  }

  const names = side.assistants ?? {};
  const board = book.current.board(now, keepEndedMillis);
  const recent = book.current.recentTransfers(12);
  const liveCount = board.filter(isLive).length;
  return (
    <div class="page" data-version={version}>
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          voicedock <span class="muted">console</span>
        </div>
        <div class="topbar-right">
          <ConnectionPill state={stream.state} detail={stream.detail} />
          {key && (
            <button class="link" type="button" onClick={signOut}>
              Forget key
            </button>
          )}
        </div>
      </header>
      {(stream.state === 'forbidden' || stream.state === 'retrying') && (
        <div class={`banner ${stream.state}`} role="status" data-testid="banner">
          {stream.state === 'forbidden'
            ? `The server refused the console${stream.detail ? `: ${stream.detail}` : ''}. From another address than loopback, add this page's origin to VOICEDOCK_ALLOWED_ORIGINS and use an API key.`
            : 'The connection to the server was lost; reconnecting. What is shown may be out of date.'}
        </div>
      )}
      <main class="grid">
        <section class="card calls" aria-labelledby="live-title">
          <div class="card-head">
            <h2 id="live-title">Live calls</h2>
            <span class="count" data-testid="live-count">
              {liveCount} live{board.length > liveCount ? ` · ${board.length - liveCount} just ended` : ''}
            </span>
          </div>
          {board.length === 0 ? (
            <Empty text={stream.state === 'live' ? 'No calls right now. New calls appear here as they ring.' : 'Connecting…'} />
          ) : (
            <ul class="call-list">
              {board.map((c) => (
                <CallCard key={c.id} call={c} transfers={book.current.transfersOf(c.id)} heard={book.current.heardOf(c.id)} now={now} assistant={names[c.assistant_id ?? '']} />
              ))}
            </ul>
          )}
        </section>
        <section class="card trunks" aria-labelledby="trunks-title">
          <div class="card-head">
            <h2 id="trunks-title">Trunks</h2>
            <button class="link" type="button" onClick={() => setSideTick((n) => n + 1)}>
              Refresh
            </button>
          </div>
          <Trunks side={side} />
        </section>
        <section class="card stats" aria-labelledby="stats-title">
          <div class="card-head">
            <h2 id="stats-title">Transfers, last {statsDays} days</h2>
            {side.stats && <div class="segmented" role="group" aria-label="Group by">
              {(['day', 'assistant'] as GroupBy[]).map((g) => (
                <button type="button" class={g === groupBy ? 'on' : ''} aria-pressed={g === groupBy} onClick={() => setGroupBy(g)}>
                  By {g}
                </button>
              ))}
            </div>}
          </div>
          <StatsPanel side={side} groupBy={groupBy} names={names} />
        </section>
        <section class="card recent" aria-labelledby="recent-title">
          <div class="card-head">
            <h2 id="recent-title">Recent transfers</h2>
          </div>
          <RecentTransfers transfers={recent} book={book.current} />
        </section>
      </main>
    </div>
  );
}

function ConnectionPill({ state, detail }: { state: StreamState; detail?: string }) {
  const text: Record<StreamState, string> = {
    connecting: 'Connecting',
    live: 'Live',
    retrying: 'Reconnecting',
    unauthorized: 'Key needed',
    forbidden: 'Refused',
  };
  return (
    <span class={`pill conn-${state}`} data-testid="connection" data-state={state} title={detail ?? ''}>
      <span class="dot" />
      {text[state]}
    </span>
  );
}

function Login({ onSubmit, error, checking }: { onSubmit: (k: string) => void; error: string; checking: boolean }) {
  const [value, setValue] = useState('');
  return (
    <div class="login-wrap">
      <form
        class="card login"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onSubmit(value.trim());
        }}
      >
        <div class="brand">
          <span class="logo" aria-hidden="true" />
          voicedock <span class="muted">console</span>
        </div>
        <p>This server needs an API key (one of <code>VOICEDOCK_API_KEYS</code>). It is kept in this browser tab only and sent to this server alone.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          autofocus
        />
        {error && !checking && (
          <p class="error" role="alert" data-testid="key-error">
            {error}
          </p>
        )}
        <button class="primary" type="submit" disabled={checking}>
          {checking ? 'Checking…' : 'Open console'}
        </button>
      </form>
    </div>
  );
}

function Empty({ text }: { text: string }) {
  return <p class="empty">{text}</p>;
}

function CallCard({ call, transfers, heard, now, assistant }: { call: Call; transfers: Transfer[]; heard: Heard[]; now: number; assistant?: string }) {
  const up = isLive(call);
  const since = millis(call.started_at ?? call.created_at);
  const secs = up ? (now - since) / 1000 : (call.duration_seconds ?? 0);
  const current = transfers[transfers.length - 1];
  const earlier = transfers.length - 1;
  return (
    <li class={`call ${up ? '' : 'over'}`} data-call-id={call.id} data-status={call.status}>
      <div class="call-main">
        <span class={`badge s-${call.status}`}>{callLabel(call.status)}</span>
        <div class="parties">
          <span class="number">{call.caller_phone || 'unknown caller'}</span>
          <span class="arrow" aria-hidden="true">
            →
          </span>
          <span class="number">{call.agent_phone || '—'}</span>
        </div>
        <span class="timer" title={up ? 'Time on the call' : 'Call length'}>
          {duration(secs)}
        </span>
      </div>
      <div class="call-meta">
        <span>{call.direction}</span>
        <span>{assistant ?? (call.assistant_id ? `assistant ${shortID(call.assistant_id)}` : 'no assistant')}</span>
        <span>started {clock(call.started_at ?? call.created_at)}</span>
        {!up && call.end_reason && <span>ended: {call.end_reason.replace(/_/g, ' ')}</span>}
        {earlier > 0 && <span>{earlier} earlier transfer{earlier > 1 ? 's' : ''}</span>}
      </div>
      {heard.length > 0 && <Conversation heard={heard.slice(-6)} />}
      {current && <Stepper transfer={current} />}
    </li>
  );
}

// Conversation shows the last things said on a call, live: the caller's
// words (speech-to-text), the server's, and the keys pressed.
function Conversation({ heard }: { heard: Heard[] }) {
  return (
    <ol class="conversation" aria-label="Conversation">
      {heard.map((h) =>
        h.kind === 'line' ? (
          <li key={h.line.id} class={`said ${h.line.role}`} data-role={h.line.role}>
            <span class="who">{h.line.role === 'user' ? 'Caller' : 'Assistant'}</span>
            <span class="words">{h.line.content}</span>
          </li>
        ) : (
          <li key={h.digit.id} class="said key" data-role="digit">
            <span class="who">Key</span>
            <span class="words">
              {h.digit.digit} <small>({h.digit.source === 'sip-info' ? 'SIP INFO' : 'RFC 4733'})</small>
            </span>
          </li>
        ),
      )}
    </ol>
  );
}

const stepOrder = ['requested', 'accepted', 'trying', 'ringing'];

function Stepper({ transfer }: { transfer: Transfer }) {
  const t = transfer;
  const start = millis(t.steps[0]?.at ?? t.created_at);
  const reached = new Map(t.steps.map((s) => [s.status, s]));
  const rank = (s: string) => (stepOrder.includes(s) ? stepOrder.indexOf(s) : stepOrder.length);
  const cur = rank(t.status);
  const final = isFinal(t);
  const items = stepOrder.map((s, i) => {
    const step = reached.get(s);
    let state = 'pending';
    if (step && (final || i < cur)) state = 'done';
    else if (s === t.status) state = 'current';
    else if (!step && i < cur) state = 'skipped';
    return { status: s, label: transferLabel(s), state, step };
  });
  const last = final ? reached.get(t.status) : undefined;
  items.push({
    status: final ? t.status : 'completed',
    label: final ? transferLabel(t.status) : 'Connected',
    state: final ? (t.status === 'completed' ? 'ok' : 'bad') : 'pending',
    step: last,
  });
  return (
    <div class={`transfer ${final ? 'final' : 'active'}`} data-transfer-id={t.id} data-status={t.status}>
      <div class="transfer-head">
        <span class="muted">Transfer to</span> <span class="number">{t.destination}</span>
        {t.sip_status ? <span class="sip">SIP {t.sip_status}</span> : null}
        {t.reason && <span class="reason">{t.reason}</span>}
      </div>
      <ol class="steps">
        {items.map((it) => (
          <li class={`step ${it.state}`} data-step={it.status} data-state={it.state}>
            <span class="marker" aria-hidden="true" />
            <span class="step-label">{it.label}</span>
            <span class="step-time">
              {it.step ? (it.status === 'requested' ? clock(it.step.at) : `+${ms(millis(it.step.at) - start)}`) : ' '}
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}

interface SideData {
  loading: boolean;
  trunks?: Trunk[];
  trunksError?: string;
  assistants?: Record<string, string>;
  stats?: TransferStats;
  statsError?: string;
  statsMissing?: boolean;
}

async function loadSide(mcp: Mcp, groupBy: GroupBy): Promise<SideData> {
  const out: SideData = { loading: false };
  const [trunks, assistants] = await Promise.all([
    mcp.call<{ trunks: Trunk[] }>('list_trunks', { limit: 100 }),
    mcp.call<{ assistants: { id: string; name: string }[] }>('list_assistants', { limit: 100 }),
  ]);
  if (trunks.ok) out.trunks = trunks.data?.trunks ?? [];
  else out.trunksError = trunks.error;
  out.assistants = Object.fromEntries((assistants.data?.assistants ?? []).map((a) => [a.id, a.name]));
  let hasStats = false;
  try {
    hasStats = await mcp.has('transfer_stats');
  } catch (err) {
    out.statsError = err instanceof Error ? err.message : String(err);
    return out;
  }
  if (!hasStats) {
    out.statsMissing = true;
    return out;
  }
  const since = new Date();
  since.setUTCHours(0, 0, 0, 0);
  since.setUTCDate(since.getUTCDate() - (statsDays - 1));
  const stats = await mcp.call<TransferStats>('transfer_stats', { since: since.toISOString(), group_by: groupBy });
  if (stats.ok) out.stats = stats.data;
  else out.statsError = stats.error;
  return out;
}

function Trunks({ side }: { side: SideData }) {
  if (side.loading) return <Empty text="Loading…" />;
  if (side.trunksError) return <p class="error">Trunks could not be read: {side.trunksError}</p>;
  const trunks = side.trunks ?? [];
  if (trunks.length === 0) return <Empty text="No trunks configured." />;
  return (
    <ul class="trunk-list">
      {trunks.map((t) => {
        const h = t.health;
        let state = 'unknown';
        if (h) state = h.reachable ? 'up' : 'down';
        return (
          <li class="trunk" data-trunk-id={t.id} data-health={state}>
            <div class="trunk-main">
              <span class={`health h-${state}`} title={state === 'unknown' ? 'No health report' : state === 'up' ? 'Reachable' : 'Unreachable'} />
              <span class="trunk-name">{t.name}</span>
              <span class="muted mono">
                {t.host}:{t.port ?? 5060}/{t.transport ?? 'udp'}
              </span>
            </div>
            <div class="trunk-meta">
              {!h && <span>Health not reported by this server</span>}
              {h && h.reachable && (
                <>
                  <span>{h.status ? `${h.status} to OPTIONS` : 'reachable'}</span>
                  <span>{ms(h.rtt_ms)}</span>
                  <span class={h.allows_refer ? 'good' : 'warn'}>{h.allows_refer ? 'allows REFER' : 'REFER not advertised'}</span>
                </>
              )}
              {h && !h.reachable && <span class="bad-text">{h.error || (h.status ? `answered ${h.status}` : 'unreachable')}</span>}
              {h?.checked_at && <span>checked {dateTime(h.checked_at)}</span>}
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function StatsPanel({ side, groupBy, names }: { side: SideData; groupBy: GroupBy; names: Record<string, string> }) {
  if (side.loading) return <Empty text="Loading…" />;
  if (side.statsMissing) {
    return (
      <p class="empty" data-testid="stats-unavailable" data-reason="missing">
        Statistics unavailable: this server has no <code>transfer_stats</code> tool.
      </p>
    );
  }
  if (side.statsError || !side.stats) {
    return (
      <p class="error" data-testid="stats-unavailable" data-reason="error">
        Statistics unavailable: {side.statsError ?? 'no answer'}
      </p>
    );
  }
  const s = side.stats;
  const tot = s.totals;
  const bars: Bar[] = [];
  if (groupBy === 'day') {
    const byDay = new Map(s.groups.map((g) => [g.key.slice(0, 10), g]));
    const d = new Date();
    d.setUTCHours(0, 0, 0, 0);
    d.setUTCDate(d.getUTCDate() - (statsDays - 1));
    for (let i = 0; i < statsDays; i++) {
      const k = dayKey(d);
      const g = byDay.get(k) ?? { key: k, calls: 0, transfers_attempted: 0, transfers_completed: 0, transfers_failed: 0, transfer_rate: 0, success_rate: 0 };
      bars.push({ key: k, label: d.toLocaleDateString([], { day: 'numeric', month: 'short', timeZone: 'UTC' }), group: g });
      d.setUTCDate(d.getUTCDate() + 1);
    }
  } else {
    for (const g of s.groups) bars.push({ key: g.key, label: names[g.key] ?? (g.key ? shortID(g.key) : 'none'), group: g });
  }
  const failures = (tot.failures_by_status ?? []).slice().sort((a, b) => b.count - a.count).slice(0, 4);
  return (
    <div class="stats-body" data-testid="stats">
      <div class="kpis">
        <Kpi label="Calls" value={String(tot.calls)} />
        <Kpi label="Transfers" value={String(tot.transfers_attempted)} />
        <Kpi label="Transfer rate" value={percent(tot.transfer_rate)} />
        <Kpi label="Success" value={percent(tot.success_rate)} tone={tot.transfers_attempted ? (tot.success_rate >= 0.9 ? 'good' : tot.success_rate >= 0.7 ? 'warn' : 'bad') : ''} />
        <Kpi label="Connect p50 / p95" value={`${ms(tot.connect_time_p50_ms)} / ${ms(tot.connect_time_p95_ms)}`} />
      </div>
      {bars.length === 0 ? <Empty text="No transfers in this period." /> : <TransferChart bars={bars} />}
      <div class="legend">
        <span><i class="sw ok" />Connected</span>
        <span><i class="sw bad" />Failed</span>
        <span><i class="sw other" />In flight</span>
        {failures.length > 0 && (
          <span class="failures">
            Top failures:{' '}
            {failures.map((f) => `${f.sip_status ? `SIP ${f.sip_status}` : f.reason || 'other'} ×${f.count}`).join(', ')}
          </span>
        )}
      </div>
    </div>
  );
}

function Kpi({ label, value, tone }: { label: string; value: string; tone?: string }) {
  return (
    <div class={`kpi ${tone ?? ''}`}>
      <div class="kpi-value">{value}</div>
      <div class="kpi-label">{label}</div>
    </div>
  );
}

function RecentTransfers({ transfers, book }: { transfers: Transfer[]; book: CallBook }) {
  if (transfers.length === 0) return <Empty text="No transfers yet." />;
  return (
    <div class="table-wrap">
    <table class="table">
      <thead>
        <tr>
          <th class="c-when">When</th>
          <th class="c-caller">Caller</th>
          <th>Destination</th>
          <th class="c-outcome">Outcome</th>
          <th class="c-connect num">Connect</th>
        </tr>
      </thead>
      <tbody>
        {transfers.map((t) => {
          const call = book.call(t.call_id);
          const done = t.steps.find((s) => s.status === 'completed');
          const connect = done ? millis(done.at) - millis(t.steps[0]?.at ?? t.created_at) : undefined;
          return (
            <tr data-transfer-id={t.id} data-status={t.status}>
              <td class="nowrap">{dateTime(t.created_at)}</td>
              <td class="mono" title={call?.caller_phone}>{call?.caller_phone ?? '—'}</td>
              <td class="mono" title={t.destination}>
                {t.destination}
              </td>
              <td title={t.reason ?? ''}>
                <span class={`badge t-${t.status}`}>{transferLabel(t.status)}</span>
                {t.sip_status && t.status !== 'completed' ? <span class="sip">{t.sip_status}</span> : null}
              </td>
              <td class="num nowrap">{connect !== undefined ? ms(connect) : '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
    </div>
  );
}
