package keeper

// eventRecorder is a publisher for bare trees: it keeps every group's
// events and commits the group.
type eventRecorder struct{ events []treeEvent }

func (r *eventRecorder) publish(events []treeEvent, commit func() error) error {
	r.events = append(r.events, events...)
	return commit()
}
