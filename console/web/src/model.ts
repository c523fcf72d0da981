// The shapes the server sends: calls and transfers as list_calls and the
// event stream carry them, trunks as list_trunks does, statistics as
// transfer_stats does.

export interface TransferStep {
  status: string;
  sip_status?: number;
  reason?: string;
  at: string;
}

export interface Transfer {
  id: string;
  call_id: string;
  destination: string;
  destination_type: string;
  status: string;
  sip_status?: number;
  reason?: string;
  requested_by?: string;
  steps: TransferStep[];
  created_at: string;
  updated_at: string;
  ended_at?: string;
}

export interface Call {
  id: string;
  direction: string;
  status: string;
  caller_phone?: string;
  agent_phone?: string;
  number_id?: string;
  assistant_id?: string;
  started_at?: string;
  ended_at?: string;
  duration_seconds?: number;
  end_reason?: string;
  error?: string;
  created_at: string;
  updated_at: string;
  transfers?: Transfer[];
}

export interface TrunkHealth {
  reachable: boolean;
  status?: number;
  rtt_ms?: number;
  allows_refer?: boolean;
  user_agent?: string;
  checked_at?: string;
  error?: string;
}

export interface Trunk {
  id: string;
  name: string;
  host: string;
  port?: number;
  transport?: string;
  health?: TrunkHealth;
}

export interface FailureCount {
  sip_status?: number;
  reason?: string;
  count: number;
}

export interface Stats {
  calls: number;
  transfers_attempted: number;
  transfers_completed: number;
  transfers_failed: number;
  transfer_rate: number;
  success_rate: number;
  connect_time_p50_ms?: number;
  connect_time_p95_ms?: number;
  failures_by_status?: FailureCount[];
}

export interface StatsGroup extends Stats {
  key: string;
}

export interface TransferStats {
  since?: string;
  until?: string;
  group_by?: string;
  totals: Stats;
  groups: StatsGroup[];
}

export const liveCallStatuses = new Set(['ringing', 'in-progress', 'dialing']);
export const finalTransferStatuses = new Set(['completed', 'failed', 'canceled']);

export function isLive(c: Call): boolean {
  return liveCallStatuses.has(c.status);
}

export function isFinal(t: Transfer): boolean {
  return finalTransferStatuses.has(t.status);
}

// Line is one line of a call's conversation: what the caller said (role
// user) or what the server said (assistant).
export interface Line {
  id: string;
  call_id: string;
  role: string;
  content: string;
  started_at: string;
  ended_at: string;
}

// Digit is a key the caller pressed.
export interface Digit {
  id: string;
  call_id: string;
  digit: string;
  source: string;
  at: string;
}
