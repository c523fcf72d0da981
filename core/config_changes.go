package core

import "context"

// ConfigChanges is a store that several processes share (the nodes of
// one deployment on PostgreSQL): it reports the configuration changes
// committed by any of them, so that each drops what it keeps of the
// configuration and the next call on every node uses the change.
type ConfigChanges interface {
	// WatchConfig calls changed after each committed change of the
	// configuration, with the kind changed ("assistants", "trunks",
	// "phone_numbers"), and with "" when anything may have changed (it
	// started watching, or missed changes while it could not watch),
	// until ctx ends. It returns nil when ctx ends.
	WatchConfig(ctx context.Context, changed func(kind string)) error
}

// FollowChanges drops the Configuration's caches (the transfer policy's
// countries of the deployment's own numbers) at every change src reports,
// until ctx ends: run it on each node of a deployment whose nodes share
// one store. Between a change's commit on another node and its
// notification's arrival here (a network round trip) a check may still
// use what was cached before.
func (c *Configuration) FollowChanges(ctx context.Context, src ConfigChanges) error {
	return src.WatchConfig(ctx, c.ChangedElsewhere)
}

// ChangedElsewhere drops what the Configuration keeps of the
// configuration of the given kind ("" for any), which another process
// sharing its store has changed.
func (c *Configuration) ChangedElsewhere(kind string) {
	switch kind {
	case "", "phone_numbers":
		c.policy.numbersChanged()
	}
	if c.logger != nil {
		c.logger.Debug("configuration changed on a node sharing the store", "kind", kind)
	}
}
