// Package webhooks delivers VoiceDock's webhook events from the durable
// outbox (core.DeliveryStore) to the receivers' URLs, signed.
//
// The core writes each event's deliveries in the transaction of the
// change it announces; a Dispatcher reads the due ones and POSTs them,
// at most Config.Concurrency at a time, with the headers of the VoiceDock
// API: Content-Type, User-Agent, X-Webhook-Event, X-Webhook-Timestamp,
// X-Webhook-Id (the delivery's id, the same on every retry, so receivers
// drop duplicates) and, when a secret is set, X-Webhook-Signature:
// "sha256=" and the lower-case hex HMAC-SHA256 of "<timestamp>.<body>"
// keyed with the secret (Sign; receivers check it with Verify).
//
// Delivery is at least once. A 2xx delivers. A 5xx, 408, 429, a network
// error or a timeout is retried with exponential backoff and full
// jitter, never before the receiver's Retry-After; a delivery whose next
// attempt would fall after Config.MaxAge from its creation is given up
// (dead). Any other status is final and dead at once: another 4xx says
// the request is wrong and a retry would be the same request, and a 3xx
// is not followed (a webhook URL that moved must be reconfigured; the
// body is not sent on to a host nobody configured).
//
// A call's events reach each receiver in the order they happened: the
// store hands out only the oldest pending delivery of a call to a URL,
// so a later event waits while an earlier one is retried; other calls
// and other receivers are not held up.
//
// Before sending, the dispatcher claims a round's deliveries, in one
// write, by moving their next attempt past the attempt's timeout, so none
// is picked up twice; if the process dies mid-attempt the claim runs out
// and the delivery is sent again, with the same X-Webhook-Id. On SQLite
// one dispatcher runs per database; on PostgreSQL every node runs one,
// and the store's claim (FOR UPDATE SKIP LOCKED, only what is still due)
// gives each delivery to one of them at a time.
//
// The dispatcher works in rounds: record the outcomes of the attempts
// that ended since the last round (one write for all of them), read the
// due deliveries, claim them (one write), start them. An attempt's slot
// is free, and the next event of its call due, only once its outcome is
// stored. Under load a round waits until a quarter of the slots can be
// freed (its outcomes at most 20ms); below it, a round that started
// few deliveries is followed by the next 10ms after it began at the
// earliest, so that the writes and the query of one round serve several
// deliveries rather than one each.
package webhooks
